"""The detached runner: what it costs per job, and how late progress reaches a screen.

1. Progress latency, three real processes as a creator runs them: the ComfyUI
   stand-in (a sampler of 200 steps at 5 ms a step: 200 progress messages a
   second), the project's runner (started by the TUI, detached), and the TUI
   itself. For every progress message: the time the server sent it, to the
   first frame the TUI wrote after taking it in (through the runner's socket).
   Target p95 < 50 ms.
2. Cost per job: 500 instant jobs queued by a client and run by a runner in
   another process, followed to the end over the socket and the database;
   against the same 500 jobs through the engine in the queueing process, the
   way every batch ran before the runner existed. Target ≤ 1.2×.

Both sides use the same clock (CLOCK_MONOTONIC is shared by every process).

Run: python -m tests.benchmarks runner
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import tui.backends.comfyui
from tests.benchmarks.bench_tui import FrameProbe, ProbedStoryboard, pct, shown_at
from tests.conftest import storyboard_json
from tests.instant_backend import InstantBackend
from tui.config import UserSettings
from tui.domain.models import AssetKind
from tui.engine.client import ProjectClient
from tui.engine.engine import Engine
from tui.engine.events import EngineEvent, JobProgress, JobSucceeded
from tui.engine.project import BackendChoice, Project
from tui.store.importer import create_project
from tui.ui.themes import BUNDLED_THEMES_DIR

STEPS = 200
STEP_DELAY = 0.005
LATENCY_JOBS = 6
COST_JOBS = 500
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"

SERVER_HOST = """
import asyncio, sys, time
from pathlib import Path
from tests.comfyui_server.server import ComfyTestServer

sent = open(sys.argv[2], "w", buffering=1)
original = ComfyTestServer.progress

async def progress(self, value, total, preview):
    await original(self, value, total, None)  # no previews: progress only
    job = self._job
    if job is not None:
        sent.write(f"{job.prompt_id} {value} {time.monotonic()}\\n")

ComfyTestServer.progress = progress

async def main():
    server = ComfyTestServer(Path(sys.argv[1]), step_delay=float(sys.argv[3]))
    server.add_model("checkpoints", sys.argv[4])
    await server.start(0)
    print(server.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

RUNNER_HOST = """
import asyncio, sys
from pathlib import Path
from tests.instant_backend import InstantBackend
from tui.engine.project import BackendChoice
from tui.engine.runner import run_detached

def instant(project):
    return InstantBackend(window=2, payload=b"x" * 1024)

asyncio.run(run_detached(Path(sys.argv[1]), BackendChoice(), idle_exit=2.0, make_backend=instant))
"""


async def new_project(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    source = root / "story.json"
    source.write_text(json.dumps(storyboard_json(count)), encoding="utf-8")
    folder = await create_project(root / "film", source)
    return folder.root


def long_sampler_workflow(project: Path) -> None:
    """The bundled image workflow with a 200-step sampler, bound in storyboard.toml."""
    bundled = Path(tui.backends.comfyui.__file__).parent / "default_workflows" / "image.json"
    graph = json.loads(bundled.read_text(encoding="utf-8"))
    graph = copy.deepcopy(graph)
    for node in graph.values():
        if node.get("class_type") == "KSampler":
            node["inputs"]["steps"] = STEPS
    (project / "workflows").mkdir(exist_ok=True)
    (project / "workflows" / "image.json").write_text(json.dumps(graph), encoding="utf-8")


def configure(project: Path, url: str) -> None:
    long_sampler_workflow(project)
    (project / "storyboard.toml").write_text(
        f'backend = "comfyui"\n[comfyui]\nservers = ["{url}"]\n'
        '[workflows.image]\npath = "workflows/image.json"\n'
        '[workflows.image.inputs]\nprompt = "6.text"\nnegative_prompt = "7.text"\n'
        'seed = "3.seed"\nwidth = "5.width"\nheight = "5.height"\n',
        encoding="utf-8",
    )


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# -- 1. latency ----------------------------------------------------------------------------


async def latency(root: Path) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    sent_log = root / "sent.txt"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER_HOST,
            str(root / "comfy"),
            str(sent_log),
            str(STEP_DELAY),
            CHECKPOINT,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        project = await new_project(root, LATENCY_JOBS)
        configure(project, url)
        return await _watch(project)
    finally:
        server.terminate()
        server.wait(timeout=10)
        with _quiet():
            subprocess.run(
                [sys.executable, "-m", "tui", "runner", str(root / "film"), "stop"],
                capture_output=True,
                timeout=30,
            )


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


async def _watch(project: Path) -> dict[str, Any]:
    probe = FrameProbe("Sentence number 1 of the story.")
    settings = UserSettings.model_construct(
        theme="storyboard-dark",
        image_renderer="off",
        save_delay=0.5,
        keymap={},
        comfyui_servers=[],
        runner_idle_exit=30.0,
    )
    app = ProbedStoryboard(
        probe, project, settings=settings, theme_dirs=[BUNDLED_THEMES_DIR], cursor_blink=False
    )
    received: list[tuple[str, int, float]] = []
    updates: list[tuple[float, int]] = []
    async with app.run_test(size=(120, 36), headless=True, message_hook=probe.message):
        await asyncio.wait_for(probe.marker_seen.wait(), 60)
        screen = app.screen
        from tui.ui.screens.main import MainScreen

        assert isinstance(screen, MainScreen)
        await until(lambda: screen.client is not None, 30, "the client")
        client = screen.client
        assert client is not None

        def take(event: EngineEvent) -> None:
            if isinstance(event, JobProgress):
                received.append((event.job.backend_job_id, event.value, time.monotonic()))

        client.subscribe(take)
        probe.on_update = lambda: updates.append((time.perf_counter(), len(received)))
        await client.request([AssetKind.IMAGE], include_missing=True)
        done: list[int] = []
        client.subscribe(lambda e: done.append(1) if isinstance(e, JobSucceeded) else None)
        await until(lambda: len(done) >= LATENCY_JOBS, 120, "the batch")
        await asyncio.sleep(0.3)
    sent = {
        (prompt, int(value)): float(at)
        for prompt, value, at in (
            line.split() for line in (project.parent / "sent.txt").read_text().splitlines()
        )
    }
    # Each progress the TUI took in, paired with its own send by (job, step), to the
    # first frame after the UI update that took it in (or to that update, if it drew
    # nothing: the step did not move a percent on screen). The backend's own "started
    # at 0" has no sampler message to pair with.
    offset = time.perf_counter() - time.monotonic()
    taken = [count for _at, count in updates]
    update_times = [at for at, _count in updates]
    latencies: list[float] = []
    socket_latencies: list[float] = []
    for index, (key, value, got) in enumerate(received):
        if (key, value) not in sent:
            continue
        socket_latencies.append(got - sent[(key, value)])
        update = bisect.bisect_right(taken, index)
        if update == len(updates):
            continue
        shown = shown_at(update_times, probe.frames, update)
        if shown is not None:
            latencies.append(shown - (sent[(key, value)] + offset))
    times = sorted(sent.values())
    span = times[-1] - times[0] if len(times) > 1 else 1.0
    return {
        "sent": len(sent),
        "received": len(received),
        "rate": len(sent) / span,
        "latencies": latencies,
        "socket": socket_latencies,
    }


# -- 2. cost per job -----------------------------------------------------------------------


async def in_process(root: Path) -> float:
    project_dir = await new_project(root, COST_JOBS)
    async with await Project.open(project_dir) as project:
        engine = Engine(project, InstantBackend(window=2, payload=b"x" * 1024))
        await engine.start()
        started = time.perf_counter()
        await engine.request([AssetKind.IMAGE], include_missing=True)
        await engine.wait_idle()
        elapsed = time.perf_counter() - started
        await engine.stop()
    return elapsed


async def through_runner(root: Path) -> float:
    project_dir = await new_project(root, COST_JOBS)

    async def launch(path: Path, choice: BackendChoice) -> None:
        host = subprocess.Popen(
            [sys.executable, "-c", RUNNER_HOST, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert host.stdout is not None
        line = host.stdout.readline()
        assert line.startswith(("ready", "busy")), line

    async with await Project.open(project_dir) as project:
        client = ProjectClient(project, launcher=launch, role="cli")
        await client.start()
        done: list[int] = []
        client.subscribe(lambda e: done.append(1) if isinstance(e, JobSucceeded) else None)
        await launch(project_dir, project.choice)  # started before the clock, as the engine is
        await until(lambda: client.connected, 30, "the connection")
        started = time.perf_counter()
        await client.request([AssetKind.IMAGE], include_missing=True)
        await until(lambda: len(done) >= COST_JOBS, 300, "500 jobs")
        elapsed = time.perf_counter() - started
        await client.close()
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        figures = asyncio.run(latency(root / "latency"))
        lat = figures["latencies"]
        sock = figures["socket"]
        print(
            f"progress → screen, {figures['sent']} messages at {figures['rate']:.0f}/s "
            f"(received {figures['received']}): p50 {pct(lat, 0.5) * 1000:.1f} ms, "
            f"p95 {pct(lat, 0.95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (target p95 < 50 ms)"
        )
        print(
            f"  of which server → client's listener (runner and socket): "
            f"p50 {pct(sock, 0.5) * 1000:.1f} ms, p95 {pct(sock, 0.95) * 1000:.1f} ms"
        )
        ours, base = [], []
        for turn in range(3):
            base.append(asyncio.run(in_process(root / f"base{turn}")))
            ours.append(asyncio.run(through_runner(root / f"runner{turn}")))
        b, o = median(base), median(ours)
        print(
            f"{COST_JOBS} instant jobs: through the runner {o / COST_JOBS * 1000:.2f} ms/job, "
            f"in-process engine {b / COST_JOBS * 1000:.2f} ms/job (median of 3): "
            f"ratio {o / b:.2f} (target ≤ 1.2)"
        )


if __name__ == "__main__":
    os.environ.setdefault("STORYBOARD_RUNNER_IDLE_EXIT", "2")
    main()
