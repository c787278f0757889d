"""The ComfyUI backend driven by the real Engine on a real project, over loopback.

Every test talks HTTP and websocket to `tests.comfyui_server` (the stand-in checked
against a recorded ComfyUI 0.3.64); nothing in between is mocked. Where a test needs
the server to misbehave (a hostile file name, a 500), it wraps one of the server's
route handlers before the server starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import tui.backends.comfyui.client as client_module
from tests.comfyui_server import ComfyTestServer
from tests.conftest import storyboard_json
from tui.backends.comfyui.backend import ComfyUIBackend
from tui.domain.jobs import JobState
from tui.domain.models import AssetKind, AssetState
from tui.engine.engine import Engine
from tui.engine.events import (
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobStarted,
    JobSucceeded,
)
from tui.engine.project import Project
from tui.store.importer import create_project

IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO
FAST = (0.02, 0.05, 0.1)
"""Reconnect delays for tests: a restarted server is found again within 0.1 s."""

IMAGE_WORKFLOW: dict[str, Any] = {
    "1": {
        "class_type": "SlowSolidImage",
        "inputs": {
            "prompt": "placeholder",
            "seed": 1,
            "width": 64,
            "height": 64,
            "steps": 3,
            "delay_ms": 0,
            "preview": True,
            "fail_at_step": -1,
        },
    },
    "2": {
        "class_type": "SaveImage",
        "inputs": {"images": ["1", 0], "filename_prefix": "storyboard/shot"},
    },
}
IMAGE_BINDINGS = {"prompt": "1.prompt", "seed": "1.seed", "width": "1.width", "height": "1.height"}
VIDEO_WORKFLOW: dict[str, Any] = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {
        "class_type": "SlowFramesFromImage",
        "inputs": {
            "image": ["1", 0],
            "frames": 4,
            "steps": 2,
            "delay_ms": 0,
            "camera": "static",
            "strength": 0.5,
        },
    },
    "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 8.0}},
    "4": {
        "class_type": "SaveVideo",
        "inputs": {
            "video": ["3", 0],
            "filename_prefix": "storyboard/clip",
            "format": "auto",
            "codec": "auto",
        },
    },
}
VIDEO_BINDINGS = {"image": "1.image"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def configure(
    root: Path,
    servers: list[Any],
    *,
    image: dict[str, Any] | None = IMAGE_WORKFLOW,
    image_bindings: dict[str, str] | None = None,
    window_queued: int = 1,
    timeout: float = 5.0,
) -> None:
    """Write the project's workflows and a storyboard.toml pointing at `servers`."""
    (root / "video.json").write_text(json.dumps(VIDEO_WORKFLOW))
    lines = [
        "[comfyui]",
        f"servers = {_toml_value(servers)}",
        f"timeout = {timeout}",
        f"window_queued = {window_queued}",
    ]
    if image is not None:  # None: the bundled image workflow
        (root / "image.json").write_text(json.dumps(image))
        lines += [
            "[workflows.image]",
            'path = "image.json"',
            f"inputs = {_toml_value(image_bindings or IMAGE_BINDINGS)}",
        ]
    lines += [
        "[workflows.video]",
        'path = "video.json"',
        f"inputs = {_toml_value(VIDEO_BINDINGS)}",
    ]
    (root / "storyboard.toml").write_text("\n".join(lines) + "\n")


@dataclass
class Run:
    project: Project
    backend: ComfyUIBackend
    engine: Engine
    events: list[EngineEvent]

    def of(self, kind: type[EngineEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.005)

    async def idle(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self.engine.wait_idle()

    async def scene(self, position: int) -> Any:
        return await self.project.store.scene_at(position)


@asynccontextmanager
async def running(
    root: Path,
    servers: list[Any],
    *,
    lost_after: float | None = None,
    **options: Any,
) -> AsyncIterator[Run]:
    """An open project with a started Engine on a ComfyUIBackend for `servers`."""
    configure(root, servers, **options)
    async with await Project.open(root) as project:
        backend = ComfyUIBackend(
            project.folder, project.config, reconnect_delays=FAST, lost_after=lost_after
        )
        engine = Engine(project, backend)
        events: list[EngineEvent] = []
        engine.subscribe(events.append)
        await engine.start()
        try:
            yield Run(project, backend, engine, events)
        finally:
            await engine.stop()


def wrap(server: ComfyTestServer, name: str, make: Callable[[Handler], Handler]) -> None:
    """Replace one route handler (before `start`): a test-only hook on the stand-in."""
    setattr(server, name, make(getattr(server, name)))


def posts(server: ComfyTestServer, path: str = "/prompt") -> int:
    return sum(1 for method, p in server.requests if method == "POST" and p == path)


@pytest.fixture
async def comfy(tmp_path: Path) -> AsyncIterator[ComfyTestServer]:
    async with ComfyTestServer(tmp_path / "comfy") as server:
        yield server


async def project_with(tmp_path: Path, scenes: int) -> Path:
    source = tmp_path / f"source-{scenes}.json"
    source.write_text(json.dumps(storyboard_json(scenes)), encoding="utf-8")
    folder = await create_project(tmp_path / f"film-{scenes}", source)
    return folder.root


# --------------------------------------------------------------------------- the happy path


async def test_images_then_videos_render_through_comfyui(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    async with running(project_dir, [comfy.url]) as run:
        assert run.backend.status.online == 1 and run.backend.status.name == "ComfyUI"
        await run.engine.request(include_missing=True)
        await run.idle()
        assert not run.of(JobFailed)
        scenes = await run.project.scenes()
        for scene in scenes:
            status = run.project.status(scene)
            assert (status.image, status.video) == (AssetState.CLEAN, AssetState.CLEAN)
            assert scene.video is not None and scene.video.file.endswith(".mp4")
            assert run.project.asset_path(scene.video.file).read_bytes()[4:8] == b"ftyp"
        assert {event.job.server for event in run.of(JobStarted)} == {comfy.url}
        assert run.backend.status.queue == 0

    # each still went up once per video job, into this project's own folder
    uploads = [p for p in (comfy.root / "input").rglob("*.png") if p.parent.name != "input"]
    assert len({p.parent for p in uploads}) == 1
    assert uploads[0].parent.name.startswith("storyboard-")
    loaded = [
        entry["prompt"][2]["1"]["inputs"]["image"]
        for entry in comfy._history.values()
        if entry["prompt"][2]["1"]["class_type"] == "LoadImage"
    ]
    assert len(loaded) == 5 and all(
        name.startswith(uploads[0].parent.name + "/") for name in loaded
    )


@pytest.mark.parametrize("metadata", [True, False], ids=["type4", "type1"])
async def test_progress_is_in_order_and_previews_reach_the_engine(
    project_dir: Path, comfy: ComfyTestServer, monkeypatch: pytest.MonkeyPatch, metadata: bool
) -> None:
    if not metadata:  # a first message that is not the flag: the server sends type 1 frames
        monkeypatch.setattr(client_module, "FEATURE_FLAGS", '{"type": "hello", "data": {}}')
    comfy.step_delay = 0.002
    async with running(project_dir, [comfy.url]) as run:
        await run.engine.request([IMAGE], include_missing=True)
        await run.idle()
        by_job: dict[int, list[float]] = {}
        for event in run.of(JobProgress):
            by_job.setdefault(event.job.id, []).append(event.fraction)
        assert len(by_job) == 5
        for fractions in by_job.values():
            assert fractions == sorted(set(fractions)), fractions  # strictly increasing
            assert 0 < fractions[0] and fractions[-1] < 1
            assert len(fractions) >= 3
        previews = run.of(JobPreview)
        assert {p.job.id for p in previews} == set(by_job)
        assert all(p.mime == "image/jpeg" and p.data[:3] == b"\xff\xd8\xff" for p in previews)
        for job_id in by_job:  # 3 steps, 3 frames; one queued preview at a time, the newest
            mine = [p for p in previews if p.job.id == job_id]
            assert 1 <= len(mine) <= 3
            assert mine[-1].data == comfy.last_preview[mine[-1].job.backend_job_id]
        sockets = comfy._socket_meta.values()
        flags = [meta["feature_flags"].get("supports_preview_metadata") for meta in sockets]
        assert flags == [True if metadata else None]


async def test_a_newer_comfyui_release_renders_too_without_a_log_flood(
    project_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 item 2: assets.* broadcasts, `activity`, output ids and canonical prompt ids
    of newer releases change no result and log nothing."""
    async with ComfyTestServer(tmp_path / "newer", newer=True, step_delay=0.002) as server:
        with caplog.at_level(logging.DEBUG, logger="tui.backends"):
            async with running(project_dir, [server.url]) as run:
                await run.engine.request(include_missing=True)
                await run.idle()
                assert len(run.of(JobSucceeded)) == 10 and not run.of(JobFailed)
                assert run.of(JobPreview) and run.of(JobProgress)
    assert not [r for r in caplog.records if r.name.startswith("tui.backends")]


async def test_a_scene_edited_while_its_image_renders_stays_dirty(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    comfy.step_delay = 0.05
    async with running(project_dir, [comfy.url]) as run:
        scene = await run.scene(1)
        job = await run.engine.regenerate(scene.id, IMAGE)
        assert job is not None
        await run.until(lambda: bool(run.of(JobStarted)))
        await run.project.edit(scene.id, {"image_prompt": "edited while it ran"})
        await run.idle()
        done = await run.scene(1)
        assert run.of(JobSucceeded) and done.image is not None
        assert done.image.inputs["image_prompt"] == scene.image_prompt
        assert run.project.status(done).image is AssetState.DIRTY


async def test_no_origin_header_and_the_servers_headers_on_every_request(
    project_dir: Path, tmp_path: Path
) -> None:
    server = ComfyTestServer(tmp_path / "comfy")
    seen: list[tuple[str, dict[str, str]]] = []
    build = server._build_app

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append((request.path, dict(request.headers)))
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)  # as an authenticating proxy would
        return await handler(request)

    def build_app() -> web.Application:
        app = build()
        app.middlewares.insert(0, record)
        return app

    server._build_app = build_app  # type: ignore[method-assign]
    headers = {"Authorization": "Bearer s3cret"}
    async with server, running(project_dir, [{"url": server.url, "headers": headers}]) as run:
        scene = await run.scene(1)
        await run.engine.regenerate(scene.id, IMAGE)
        await run.idle()
        await run.engine.regenerate(scene.id, VIDEO)
        await run.idle()
        assert len(run.of(JobSucceeded)) == 2
    paths = {path.split("/history/")[0] or "/history" for path, _ in seen}
    assert {"/ws", "/object_info", "/prompt", "/history", "/view", "/upload/image"} <= paths
    assert all(h.get("Authorization") == "Bearer s3cret" for _, h in seen)
    assert not [path for path, h in seen if "Origin" in h]


# --------------------------------------------------------------------------- losing the server


async def test_a_crash_mid_job_resubmits_the_job_after_the_restart(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    comfy.step_delay = 0.05
    async with running(project_dir, [comfy.url]) as run:
        scene = await run.scene(2)
        await run.engine.regenerate(scene.id, IMAGE)
        await run.until(lambda: bool(run.of(JobProgress)))
        await comfy.crash()
        await run.until(lambda: run.backend.status.online == 0)
        assert "connection lost" in run.backend.status.detail
        comfy.step_delay = 0.0
        await comfy.restart()
        await run.idle()
        assert [e.job.attempts for e in run.of(JobSucceeded)] == [1]
        assert posts(comfy) == 2  # the first try, then the resubmission
        assert run.backend.status.online == 1


async def test_a_dropped_socket_is_reconciled_from_history(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    comfy.step_delay = 0.02
    async with running(project_dir, [comfy.url]) as run:
        run.backend.reconnect_delays = (0.3,)  # the job ends while we are away
        scene = await run.scene(3)
        await run.engine.regenerate(scene.id, IMAGE)
        await run.until(lambda: bool(run.of(JobProgress)))
        socket = run.backend.servers[0].socket
        assert socket is not None
        await socket.close()
        await run.until(lambda: len(comfy.history_ids()) == 1)
        assert not run.of(JobSucceeded)
        await run.idle()
        assert len(run.of(JobSucceeded)) == 1
        assert posts(comfy) == 1  # finished from /history, not run again
        assert ("GET", "/queue") in comfy.requests


async def test_a_job_lost_twice_fails(project_dir: Path, comfy: ComfyTestServer) -> None:
    comfy.step_delay = 0.05
    async with running(project_dir, [comfy.url]) as run:
        scene = await run.scene(1)
        await run.engine.regenerate(scene.id, IMAGE)
        for _ in range(2):
            seen = len(run.of(JobStarted))

            def started_again(seen: int = seen) -> bool:
                return len(run.of(JobStarted)) > seen

            await run.until(started_again)
            await comfy.crash()
            await comfy.restart()
        await run.idle()
        assert [e.message for e in run.of(JobFailed)] == ["lost by the server twice"]


async def test_server_down_at_submit_keeps_the_job_queued_until_it_is_back(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    await comfy.stop()
    async with running(project_dir, [comfy.url]) as run:
        assert run.backend.status.online == 0
        assert "refused" in run.backend.status.detail
        ready: list[bool] = []
        run.backend.on_ready = lambda: ready.append(True)
        scene = await run.scene(4)
        job = await run.engine.regenerate(scene.id, IMAGE)
        assert job is not None
        await asyncio.sleep(0.2)
        assert [j.state for j in run.engine.active_jobs] == [JobState.QUEUED]
        await comfy.restart()
        await run.idle(timeout=8)
        assert len(run.of(JobSucceeded)) == 1 and not run.of(JobFailed)
        assert ready == [True]  # an engine could have dispatched at once


async def test_jobs_of_a_server_that_stays_down_move_to_another(
    tmp_path: Path, project_dir: Path
) -> None:
    async with (
        ComfyTestServer(tmp_path / "a", step_delay=0.05) as first,
        ComfyTestServer(tmp_path / "b", step_delay=0.05) as second,
    ):
        async with running(project_dir, [first.url, second.url], lost_after=0.2) as run:
            await run.engine.request([IMAGE], include_missing=True)
            await run.until(lambda: posts(first) >= 1 and posts(second) >= 1)
            await first.crash()
            await run.idle()
            assert len(run.of(JobSucceeded)) == 5 and not run.of(JobFailed)
            assert run.backend.status.online == 1
            assert first.url in run.backend.status.detail
            retried = [e for e in run.of(JobSucceeded) if e.job.attempts == 1]
            assert retried and all(e.job.server == second.url for e in retried)


# --------------------------------------------------------------------------- several servers


async def test_two_servers_share_a_twenty_job_batch(tmp_path: Path) -> None:
    root = await project_with(tmp_path, 10)
    async with (
        ComfyTestServer(tmp_path / "a", step_delay=0.01) as first,
        ComfyTestServer(tmp_path / "b", step_delay=0.01) as second,
    ):
        async with running(root, [first.url, second.url]) as run:
            assert run.backend.capacity() == 4
            await run.engine.request(include_missing=True)
            await run.idle(timeout=20)
            done = run.of(JobSucceeded)
            assert len(done) == 20 and not run.of(JobFailed)
            servers = [e.job.server for e in done]
            assert servers.count(first.url) >= 5 and servers.count(second.url) >= 5
            assert posts(first) + posts(second) == 20
            assert run.backend.status.servers == 2 and run.backend.status.online == 2


# --------------------------------------------------------------------------- failures


async def test_execution_error_fails_the_job_with_node_type_and_message(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    comfy.fail_node_class = "SaveImage"
    async with running(project_dir, [comfy.url]) as run:
        await run.engine.regenerate((await run.scene(1)).id, IMAGE)
        await run.idle()
        [failed] = run.of(JobFailed)
        assert failed.message == "SaveImage: SaveImage: simulated failure (fail_node_class)"


async def test_400_and_500_answers_become_readable_failures(
    project_dir: Path, tmp_path: Path
) -> None:
    checkpoint = "v1-5-pruned-emaonly.safetensors"  # what the bundled image workflow loads
    server = ComfyTestServer(tmp_path / "comfy", models={"checkpoints": [checkpoint]})
    broken = {"now": False}

    def make(original: Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            if broken["now"]:
                return web.Response(status=500, text="500 Internal Server Error\n\nboom")
            return await original(request)

        return handler

    wrap(server, "_post_prompt", make)
    async with server, running(project_dir, [server.url], image=None) as run:
        assert run.backend.status.detail == ""
        # the model passed the check at connect, then someone removed it from the server
        (server.root / "models" / "checkpoints" / checkpoint).unlink()
        await run.engine.regenerate((await run.scene(1)).id, IMAGE)
        await run.idle()
        broken["now"] = True
        await run.engine.regenerate((await run.scene(2)).id, IMAGE)
        await run.idle()
        messages = [e.message for e in run.of(JobFailed)]
        assert messages == [
            "ComfyUI refused the bundled image workflow: Prompt outputs failed validation; "
            "node 4 (CheckpointLoaderSimple) input 'ckpt_name': Value not in list "
            f"(ckpt_name: '{checkpoint}' not in [])",
            "ComfyUI refused the bundled image workflow: HTTP 500: 500 Internal Server Error boom",
        ]


async def test_a_hostile_output_name_is_refused(project_dir: Path, tmp_path: Path) -> None:
    server = ComfyTestServer(tmp_path / "comfy")

    def make(original: Handler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            response = await original(request)
            assert isinstance(response, web.Response) and response.text
            body = json.loads(response.text)
            for entry in body.values():
                for output in entry["outputs"].values():
                    for item in output["images"]:
                        item["filename"] = "../../x.png"
            return web.json_response(body)

        return handler

    wrap(server, "_get_history_item", make)
    async with server, running(project_dir, [server.url]) as run:
        await run.engine.regenerate((await run.scene(1)).id, IMAGE)
        await run.idle()
        [failed] = run.of(JobFailed)
        assert "refusing output '../../x.png': not a plain file name" in failed.message
        assert (await run.scene(1)).image is None
    assert not list(tmp_path.rglob("x.png"))
    assert ("GET", "/view") not in server.requests


async def test_the_cached_prompt_trap_fails_with_a_clear_message(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    bindings = {"prompt": "1.prompt"}  # the seed is not bound: a new take changes nothing
    async with running(project_dir, [comfy.url], image_bindings=bindings) as run:
        scene = await run.scene(1)
        await run.engine.regenerate(scene.id, IMAGE)
        await run.idle()
        for file in (comfy.root / "output").rglob("*.png"):
            file.unlink()  # outputs cleaned up on the server; its cache still has them
        await run.engine.regenerate(scene.id, IMAGE, force=True)
        await run.idle()
        [failed] = run.of(JobFailed)
        assert "answered from its cache" in failed.message
        assert "change the seed or prompt" in failed.message
        assert posts(comfy) == 2


async def test_workflow_problems_found_at_connect_fail_those_jobs(
    project_dir: Path, tmp_path: Path
) -> None:
    info = json.loads(
        (Path(__file__).parent / "fixtures" / "comfyui" / "object_info.core.json").read_text()
    )
    del info["SlowFramesFromImage"]
    trimmed = tmp_path / "object_info.json"
    trimmed.write_text(json.dumps(info))
    async with (
        ComfyTestServer(tmp_path / "comfy", object_info_path=trimmed) as server,
        running(project_dir, [server.url]) as run,
    ):
        assert "no node type 'SlowFramesFromImage'" in run.backend.status.detail
        await run.engine.request(include_missing=True)
        await run.idle()
        assert len(run.of(JobSucceeded)) == 5  # the images
        failed = run.of(JobFailed)
        assert len(failed) == 5 and all(e.job.kind is VIDEO for e in failed)
        assert all("no node type 'SlowFramesFromImage'" in e.message for e in failed)
        assert posts(server) == 5


# --------------------------------------------------------------------------- cancelling


async def test_cancel_deletes_a_pending_job_and_interrupts_a_running_one(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    comfy.step_delay = 0.05
    async with running(project_dir, [comfy.url]) as run:
        first, second = await run.scene(1), await run.scene(2)
        await run.engine.regenerate(first.id, IMAGE)
        await run.engine.regenerate(second.id, IMAGE)
        await run.until(lambda: len(comfy.queue_ids()) == 2 and bool(run.of(JobProgress)))
        pending = comfy.queue_ids()[1]
        await run.engine.cancel_scene(second.id)
        assert ("POST", "/queue") in comfy.requests and ("POST", "/interrupt") not in comfy.requests
        assert pending not in comfy.queue_ids()
        await run.engine.cancel_scene(first.id)
        await run.idle()
        await run.until(lambda: not comfy.queue_ids())
        assert ("POST", "/interrupt") in comfy.requests
        assert len(run.of(JobCancelled)) == 2 and not run.of(JobSucceeded)
        [(key, entry)] = comfy._history.items()
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"
        assert pending != key
        await run.until(lambda: run.backend.status.queue == 0)
        assert run.backend.capacity() == 2


# --------------------------------------------------------------------------- start-up recovery


async def _leave_a_job_behind(root: Path, comfy: ComfyTestServer) -> str:
    """Submit one image job with the server paused, then stop the app without cancelling."""
    comfy.pause()
    async with running(root, [comfy.url]) as run:
        await run.engine.regenerate((await run.scene(1)).id, IMAGE)
        await run.until(lambda: len(comfy.queue_ids()) == 1)
        [job] = run.engine.active_jobs
        assert job.state is JobState.SUBMITTED
    return job.backend_job_id


async def test_recover_ingests_a_job_that_finished_while_we_were_away(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    key = await _leave_a_job_behind(project_dir, comfy)
    comfy.resume()
    async with asyncio.timeout(5):
        while key not in comfy.history_ids():
            await asyncio.sleep(0.01)
    async with running(project_dir, [comfy.url]) as run:
        assert run.engine.resumed == 1
        await run.idle()
        [done] = run.of(JobSucceeded)
        assert done.job.backend_job_id == key and done.job.attempts == 0
    assert posts(comfy) == 1


async def test_recover_watches_a_job_still_queued_from_the_last_run(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    key = await _leave_a_job_behind(project_dir, comfy)
    async with running(project_dir, [comfy.url]) as run:
        assert run.backend.status.queue == 1
        comfy.resume()  # its messages go to the old run's client id; we still notice the end
        await run.idle()
        [done] = run.of(JobSucceeded)
        assert done.job.backend_job_id == key
    assert posts(comfy) == 1


async def test_recover_resubmits_a_job_the_server_lost(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    key = await _leave_a_job_behind(project_dir, comfy)
    comfy.resume()
    await comfy.crash()
    await comfy.restart()
    async with running(project_dir, [comfy.url]) as run:
        await run.idle()
        [done] = run.of(JobSucceeded)
        assert done.job.backend_job_id == key and done.job.attempts == 1
    assert comfy.history_ids() == [key]


async def test_recover_waits_for_a_server_that_is_down_at_start(
    project_dir: Path, comfy: ComfyTestServer
) -> None:
    key = await _leave_a_job_behind(project_dir, comfy)
    comfy.resume()
    await comfy.crash()  # down while we start: nobody can say what became of the job
    async with running(project_dir, [comfy.url]) as run:
        assert run.backend.status.online == 0 and run.backend.status.queue == 1
        assert [j.state for j in run.engine.active_jobs] == [JobState.SUBMITTED]
        await comfy.restart()  # it forgot the job: lost, so resubmitted
        await run.idle()
        [done] = run.of(JobSucceeded)
        assert done.job.backend_job_id == key and done.job.attempts == 1
