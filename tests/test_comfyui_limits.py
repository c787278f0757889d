"""Issue 10 items 5-7: nothing the server does can hang a job or fill our memory.

The ComfyUI backend is driven directly (no engine) against the stand-in server in
one of its hostile modes: a `/view` that stalls, trickles, never ends or announces
10 GiB; a `/history` or `/queue` that never answers; a socket that goes quiet; a
flood of progress messages and huge previews. Every test would hang or fail on a
client without the limits, so each runs under an overall timeout.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tui.backends.comfyui.backend as backend_module
from tests.comfyui_server import ComfyTestServer
from tests.comfyui_server.server import Flood
from tests.test_comfyui_backend import FAST, IMAGE_WORKFLOW, configure
from tui.backends.base import (
    BackendError,
    BackendEvent,
    BackendUnavailable,
    Failed,
    JobSpec,
    Output,
    Preview,
    Progress,
    StatusChanged,
)
from tui.backends.comfyui.backend import ComfyUIBackend
from tui.backends.comfyui.client import ComfyClient
from tui.config import ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.folder import ProjectFolder

IMAGE = AssetKind.IMAGE
PARAMS = {"image_prompt": "a lighthouse", "seed": 7, "width": 64, "height": 64}


@dataclass
class Harness:
    backend: ComfyUIBackend
    server: ComfyTestServer
    staging_dir: Path
    events: list[BackendEvent] = field(default_factory=list)

    def spec(self, *, position: int = 3, staging: bool = True) -> JobSpec:
        key = str(uuid.uuid4())
        return JobSpec(
            job_id=position,
            key=key,
            kind=IMAGE,
            params={**PARAMS, "seed": position},
            scene_position=position,
            project_key="limits",
            staging=self.staging_dir / f".tmp-{key}.png" if staging else None,
        )

    def of(self, kind: type[Any], key: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (key is None or getattr(e, "key", None) == key)
        ]

    def waiting_lines(self) -> list[str]:
        return [e.status.waiting for e in self.of(StatusChanged) if e.status.waiting]

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.01)

    async def ended(self, key: str, timeout: float = 10.0) -> Output | Failed:
        await self.until(lambda: bool(self.of(Output, key) or self.of(Failed, key)), timeout)
        [event] = self.of(Output, key) + self.of(Failed, key)
        return event  # type: ignore[no-any-return]


@asynccontextmanager
async def harness(
    root: Path,
    server: ComfyTestServer,
    *,
    timeout: float = 5.0,
    pump: bool = True,
    **options: Any,
) -> AsyncIterator[Harness]:
    """A started ComfyUIBackend for `server`; `pump=False` leaves its events unread."""
    root.mkdir(parents=True, exist_ok=True)
    configure(root, [server.url], image=IMAGE_WORKFLOW, timeout=timeout)
    folder = ProjectFolder(root)
    backend = ComfyUIBackend(
        folder, ProjectConfig.load(folder.config_path), reconnect_delays=FAST, **options
    )
    staging = root / "assets"
    staging.mkdir(exist_ok=True)
    run = Harness(backend, server, staging)

    async def collect() -> None:
        async for event in backend.events():
            run.events.append(event)

    task = asyncio.create_task(collect()) if pump else None
    await backend.start()
    try:
        yield run
    finally:
        if task is not None:
            task.cancel()
        await backend.close()


@pytest.fixture
async def comfy(tmp_path: Path) -> AsyncIterator[ComfyTestServer]:
    async with ComfyTestServer(tmp_path / "comfy") as server:
        yield server


def the_output_file(server: ComfyTestServer) -> bytes:
    [file] = (server.root / "output").rglob("*.png")
    return file.read_bytes()


# --------------------------------------------------------------------------- item 5: /view


async def test_an_output_is_streamed_into_the_staging_file(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 5: the download goes to JobSpec.staging, complete, not into memory."""
    async with harness(tmp_path / "film", comfy) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        output = await run.ended(spec.key)
    assert isinstance(output, Output)
    assert output.path == spec.staging and output.data == b""
    assert spec.staging is not None and spec.staging.read_bytes() == the_output_file(comfy)
    assert output.name.endswith(".png")


async def test_without_staging_the_output_comes_as_bytes(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 5: an engine that gives no staging path still gets the file."""
    async with harness(tmp_path / "film", comfy) as run:
        spec = run.spec(staging=False)
        await run.backend.submit(spec)
        output = await run.ended(spec.key)
    assert isinstance(output, Output) and output.path is None
    assert output.data == the_output_file(comfy)


async def test_an_endless_download_stops_at_the_cap(tmp_path: Path, comfy: ComfyTestServer) -> None:
    """Issue 10 item 5: a /view that never ends fails the job at max_download, file removed."""
    comfy.view_mode = "endless"
    async with harness(tmp_path / "film", comfy, max_download=256 * 1024) as run:
        spec = run.spec(position=3)
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
        assert isinstance(failed, Failed)
        assert failed.message == "ComfyUI sent more than 256 KiB for scene-0003.png"
        assert run.backend.status.queue == 0
    assert spec.staging is not None and not spec.staging.exists()
    assert not list(run.staging_dir.iterdir())


async def test_a_10_gib_content_length_is_refused_before_reading(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 5: an announced length over the cap (2 GiB by default) fails at once."""
    comfy.view_mode = "huge"
    async with harness(tmp_path / "film", comfy) as run:
        assert run.backend.max_download == 2 * 1024**3
        spec = run.spec(position=12)
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
    assert isinstance(failed, Failed)
    assert failed.message == (
        "ComfyUI offered 10 GiB for scene-0012.png, more than the 2 GiB limit"
    )
    assert spec.staging is not None and not spec.staging.exists()


async def test_a_trickling_download_hits_its_overall_deadline(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 5: a byte every 20 ms never trips the read timeout; the deadline does."""
    comfy.view_mode = "trickle"
    async with harness(tmp_path / "film", comfy, download_deadline=0.5) as run:
        spec = run.spec(position=3)
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
    assert isinstance(failed, Failed)
    assert failed.message == "ComfyUI took more than 0.5 s to send scene-0003.png"
    assert spec.staging is not None and not spec.staging.exists()


async def test_a_download_that_stalls_fails_after_the_read_timeout(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: /view sends 4 bytes and then nothing; the job fails, it does not hang."""
    comfy.view_mode = "stall"
    async with harness(tmp_path / "film", comfy, timeout=0.4) as run:
        spec = run.spec(position=3)
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
    assert isinstance(failed, Failed)
    assert failed.message == "ComfyUI stopped sending scene-0003.png (nothing for 0.4 s)"


# --------------------------------------------------------------------------- item 6: silence


async def test_a_history_that_never_answers_fails_the_job_and_says_so_while_waiting(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: /history/{id} never answers; status.waiting names the server, then
    the job fails once the silence limit has passed."""
    comfy.stall_history = True
    options = {"timeout": 0.2, "silence_limit": 1.5, "watch_interval": 0.05}
    async with harness(tmp_path / "film", comfy, **options) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
        assert isinstance(failed, Failed)
        assert failed.message == f"no answer from ComfyUI at {comfy.url} for 1.5 s (timed out)"
        lines = [line for line in run.waiting_lines() if "(no answer for " in line]
        assert lines[0] == f"waiting for ComfyUI at {comfy.url} (no answer for 1 s)"
        assert all(line.startswith(f"waiting for ComfyUI at {comfy.url} (") for line in lines)
        assert run.backend.status.waiting == ""
        asked = [p for m, p in comfy.requests if m == "GET" and p.startswith("/history/")]
        assert len(asked) >= 3  # asked again while waiting, not once and forgotten


async def test_a_history_that_answers_late_still_delivers(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: waiting ends when the server answers; the result is not thrown away."""
    comfy.stall_history = True
    options = {"timeout": 0.2, "silence_limit": 30.0, "watch_interval": 0.05}
    async with harness(tmp_path / "film", comfy, **options) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        await run.until(lambda: "no answer" in run.backend.status.waiting)
        comfy.stall_history = False
        output = await run.ended(spec.key)
        assert isinstance(output, Output)
        await run.until(lambda: run.backend.status.waiting == "")


async def test_a_muted_socket_still_finishes_its_jobs_from_queue_and_history(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: no message at all; after the silence limit /queue and /history tell."""
    comfy.mute_socket = True
    options = {"silence_limit": 1.2, "watch_interval": 0.05}
    async with harness(tmp_path / "film", comfy, **options) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        output = await run.ended(spec.key)
        assert isinstance(output, Output)
        assert f"waiting for ComfyUI at {comfy.url} (no message for 1 s)" in run.waiting_lines()
        assert ("GET", "/queue") in comfy.requests


async def test_a_silent_server_that_does_not_answer_fails_its_jobs(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: silent past the limit and /queue does not answer: fail with a reason."""
    comfy.mute_socket = True
    comfy.stall_queue = True
    options = {"timeout": 0.2, "silence_limit": 0.5, "watch_interval": 0.05}
    async with harness(tmp_path / "film", comfy, **options) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        failed = await run.ended(spec.key)
        assert isinstance(failed, Failed)
        assert failed.message.startswith(f"ComfyUI at {comfy.url} has sent nothing for ")
        assert failed.message.endswith(" s and does not answer (timed out)")
        assert run.backend.status.queue == 0


async def test_a_long_silent_job_that_is_still_running_is_kept(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 6: silence alone is no failure while /queue shows the job running."""
    comfy.mute_socket = True
    comfy.step_delay = 0.4  # 3 steps: about 1.2 s of running with no message
    options = {"silence_limit": 0.2, "watch_interval": 0.05}
    async with harness(tmp_path / "film", comfy, **options) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        output = await run.ended(spec.key)
        assert isinstance(output, Output)
        queue_checks = sum(1 for m, p in comfy.requests if (m, p) == ("GET", "/queue"))
        assert queue_checks >= 3  # asked several times while it ran, and kept it each time


async def test_waiting_names_a_server_that_is_down(tmp_path: Path, comfy: ComfyTestServer) -> None:
    """Issue 10 item 6: jobs held back for a down server say what they wait for."""
    await comfy.stop()
    async with harness(tmp_path / "film", comfy, watch_interval=0.05) as run:
        assert run.backend.status.waiting == ""  # nothing is waiting yet
        with pytest.raises(BackendUnavailable):
            await run.backend.submit(run.spec())
        await run.until(lambda: "for 1 s)" in run.backend.status.waiting, timeout=5)
        assert run.backend.status.waiting == (
            f"waiting for ComfyUI at {comfy.url} (connection refused for 1 s)"
        )
        await comfy.restart()
        await run.until(lambda: run.backend.status.waiting == "")


async def test_every_rest_call_has_an_overall_deadline(tmp_path: Path) -> None:
    """Issue 10 item 6: an answer that trickles in a byte at a time is cut off at `timeout`."""
    server = ComfyTestServer(tmp_path / "comfy")
    from aiohttp import web

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(200):  # 4 s of a byte every 20 ms, each read well within the timeout
            await asyncio.sleep(0.02)
            await response.write(b" ")
        await response.write(b"{}")
        return response

    setattr(server, "_get_queue", trickle)  # noqa: B010 - a test-only hook on the stand-in
    async with server:
        api = ComfyClient(ServerConfig(url=server.url), client_id="c", timeout=0.5)
        try:
            async with asyncio.timeout(3):
                with pytest.raises(Exception) as caught:
                    await api.queue()
        finally:
            await api.aclose()
    assert str(caught.value) == f"{server.url}: timed out"


# --------------------------------------------------------------------------- item 7: floods


async def test_a_flooding_server_is_slowed_by_tcp_not_buffered(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 7: with a bounded frame queue an unread socket stops the server's
    sends; nothing is lost, it all arrives once we read."""
    api = ComfyClient(ServerConfig(url=comfy.url), client_id="flooded", timeout=5)
    socket = await api.connect()
    try:
        assert await asyncio.wait_for(socket.recv(), 5)  # status
        assert await asyncio.wait_for(socket.recv(), 5)  # the feature_flags answer
        frame = bytes(1024 * 1024)
        count = 64
        for i in range(count):
            comfy._send_bytes(i.to_bytes(4, "big") + frame, "flooded")
        assert comfy._messages is not None
        queue = comfy._messages
        last, same = queue.qsize(), 0
        async with asyncio.timeout(10):
            while queue.qsize() and same < 20:  # wait until the server's sends stop moving
                await asyncio.sleep(0.02)
                same = same + 1 if queue.qsize() == last else 0
                last = queue.qsize()
        assert queue.qsize() > count // 2  # most frames still wait at the server
        got = [await asyncio.wait_for(socket.recv(), 5) for _ in range(count)]
        assert [int.from_bytes(g[:4], "big") for g in got] == list(range(count))
    finally:
        await socket.close()
        await api.aclose()


async def test_a_preview_over_16_mb_is_dropped_with_one_log_line(
    tmp_path: Path, comfy: ComfyTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10 item 7: previews over 16 MB are dropped; one log line; the link stays up."""
    comfy.flood = Flood(previews=2, preview_bytes=17 * 1024 * 1024)
    with caplog.at_level(logging.WARNING, logger="tui.backends.comfyui"):
        async with harness(tmp_path / "film", comfy) as run:
            spec = run.spec()
            await run.backend.submit(spec)
            assert isinstance(await run.ended(spec.key), Output)
    previews = run.of(Preview, spec.key)
    assert previews and all(len(p.data) < 1024 * 1024 for p in previews)
    dropped = [r for r in caplog.records if "dropped a 17 MiB preview" in r.getMessage()]
    assert len(dropped) == 1 and comfy.previews_sent >= 3 + 6
    assert sum(1 for _, path in comfy.requests if path == "/ws") == 1  # never reconnected


async def test_a_preview_flood_keeps_only_the_newest_preview_per_job(
    tmp_path: Path, comfy: ComfyTestServer
) -> None:
    """Issue 10 item 7: 60 previews of 1 MiB and 600 progress repeats while the engine is
    busy: one preview waits in the queue (the newest), and progress does not pile up."""
    comfy.flood = Flood(progress=200, previews=20, preview_bytes=1024 * 1024)
    async with harness(tmp_path / "film", comfy, pump=False) as run:
        spec = run.spec()
        await run.backend.submit(spec)
        await run.until(lambda: spec.key in comfy.history_ids())
        await run.until(lambda: run.backend.status.queue == 0)  # its Output is queued
        events = run.backend.events()
        while not run.of(Output, spec.key):
            run.events.append(await asyncio.wait_for(anext(events), 5))
    previews = run.of(Preview, spec.key)
    assert len(previews) == 1
    assert previews[0].data == comfy.last_preview[spec.key]
    assert comfy.previews_sent >= 60
    assert len(run.of(Progress, spec.key)) <= 4  # 3 steps: each rise once, repeats dropped


# --------------------------------------------------------------------------- issue 12: models


async def test_submit_refuses_a_kind_no_server_can_run_and_a_fix_is_seen_at_once(
    tmp_path: Path, comfy: ComfyTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 item 2: the check is kept per connection; a refusal is one message that the
    status names too, and a model put in place is found without a restart."""
    root = tmp_path / "film"
    root.mkdir()
    configure(root, [comfy.url], image=None)  # the bundled image workflow: a checkpoint
    folder = ProjectFolder(root)
    backend = ComfyUIBackend(folder, ProjectConfig.load(folder.config_path), reconnect_delays=FAST)
    await backend.start()
    try:
        message = (
            f"{comfy.url}: bundled image workflow: node 4 (CheckpointLoaderSimple) input "
            "'ckpt_name': 'v1-5-pruned-emaonly.safetensors' is missing: this server has no "
            "checkpoints; put one in ComfyUI/models/checkpoints"
        )
        assert message in backend.status.detail
        spec = JobSpec(1, str(uuid.uuid4()), IMAGE, PARAMS, 1, "p")
        with pytest.raises(BackendError) as refused:
            await backend.submit(spec)
        assert str(refused.value) == message
        checks = comfy.requests.count(("GET", "/object_info"))

        # put in place: the next refusal looks again (after RECHECK_AFTER) and goes ahead
        comfy.add_model("checkpoints", "v1-5-pruned-emaonly.safetensors")
        monkeypatch.setattr(backend_module, "RECHECK_AFTER", 0.0)
        await backend.submit(spec)
        assert comfy.requests.count(("GET", "/object_info")) == checks + 1
        assert backend.status.detail == ""
        assert ("POST", "/prompt") in comfy.requests

        # a restart (a new connection) checks afresh
        (comfy.root / "models" / "checkpoints" / "v1-5-pruned-emaonly.safetensors").unlink()
        await comfy.crash()
        await comfy.restart()
        async with asyncio.timeout(5):
            while message not in backend.status.detail:
                await asyncio.sleep(0.01)
    finally:
        await backend.close()
