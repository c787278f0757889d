"""The runner and its clients over the real Unix socket, in one event loop.

The process-level behaviour (detaching, killing, racing) is in
test_runner_processes.py; this is the protocol and the rules, fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tui.backends.base import BackendStatus, Progress
from tui.domain.jobs import JobState
from tui.domain.models import AssetKind
from tui.engine.client import ProjectClient
from tui.engine.events import (
    EngineEvent,
    JobCancelled,
    JobProgress,
    JobQueued,
    JobSucceeded,
    RunnerChanged,
)
from tui.engine.project import Project
from tui.engine.protocol import (
    VERSION,
    Bye,
    Changed,
    Hello,
    LivePreview,
    LiveProgress,
    LiveStarted,
    Poke,
    ProtocolError,
    RunnerState,
    Stop,
    decode,
    encode,
)
from tui.engine.runfiles import RunFiles, reachable

IMAGE = AssetKind.IMAGE


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


@pytest.fixture
async def project(project_dir: Path) -> AsyncIterator[Project]:
    async with await Project.open(project_dir) as opened:
        yield opened


@pytest.fixture
async def launcher() -> AsyncIterator[InProcessLauncher]:
    made = InProcessLauncher(InstantBackend(hold=True))
    yield made
    await made.aclose()


@contextlib.asynccontextmanager
async def client_of(
    root: Path, launcher: InProcessLauncher, **options: object
) -> AsyncIterator[tuple[ProjectClient, list[EngineEvent]]]:
    async with await Project.open(root) as project:
        client = ProjectClient(project, launcher=launcher, poll_interval=0.1, **options)  # type: ignore[arg-type]
        events: list[EngineEvent] = []
        client.subscribe(events.append)
        await client.start()
        try:
            yield client, events
        finally:
            await client.close()


def backend_of(launcher: InProcessLauncher) -> InstantBackend:
    backend = launcher.backend
    assert isinstance(backend, InstantBackend)
    return backend


async def test_a_request_starts_the_runner_and_every_client_sees_progress(
    project: Project, launcher: InProcessLauncher
) -> None:
    """Issue 9: the first request starts a runner; two clients both see live progress."""
    root = project.folder.root
    backend = backend_of(launcher)
    async with client_of(root, launcher) as (first, first_events):
        async with client_of(root, launcher) as (second, second_events):
            scene = await project.store.scene_at(1)
            job = await first.regenerate(scene.id, IMAGE)
            assert job is not None and launcher.launches == 1
            await until(lambda: len(backend.held) == 1)
            await until(lambda: first.connected and second.connected)
            backend.emit(Progress(job.backend_job_id, 2, 4, 0.5, "KSampler"))
            for events in (first_events, second_events):
                await until(lambda e=events: any(isinstance(x, JobProgress) for x in e))  # type: ignore[misc]
            assert any(isinstance(e, JobQueued) and e.job.id == job.id for e in second_events)
            backend.release_all()
            for events in (first_events, second_events):
                await until(lambda e=events: any(isinstance(x, JobSucceeded) for x in e))  # type: ignore[misc]
            assert second.runner.pid == os.getpid()


async def test_a_late_client_gets_the_current_progress_first(
    project: Project, launcher: InProcessLauncher
) -> None:
    """Issue 9: a client that connects mid-job hears where each running job stands first."""
    root = project.folder.root
    backend = backend_of(launcher)
    async with client_of(root, launcher) as (first, _):
        scene = await project.store.scene_at(2)
        job = await first.regenerate(scene.id, IMAGE)
        assert job is not None
        await until(lambda: len(backend.held) == 1)
        backend.emit(Progress(job.backend_job_id, 7, 10, 0.7, "KSampler"))
        await until(lambda: 0.7 in {j.progress for j in first.active_jobs})
        files = RunFiles(root)
        with reachable(files.socket) as where:
            reader, writer = await asyncio.open_unix_connection(where)
        writer.write(encode(Hello(os.getpid(), "cli")))
        hello = decode(await reader.readline())
        first_live = decode(await reader.readline())
        assert isinstance(hello, Hello) and hello.role == "runner"
        assert isinstance(first_live, LiveProgress)
        assert (first_live.job, first_live.fraction) == (job.id, 0.7)
        assert isinstance(decode(await reader.readline()), RunnerState)
        writer.close()
        backend.release_all()


async def test_a_client_cancel_stops_the_job_at_the_backend(
    project: Project, launcher: InProcessLauncher
) -> None:
    """Any client may cancel; the runner hears of it and stops the running job."""
    root = project.folder.root
    backend = backend_of(launcher)
    async with client_of(root, launcher) as (client, events):
        scene = await project.store.scene_at(3)
        job = await client.regenerate(scene.id, IMAGE)
        assert job is not None
        await until(lambda: len(backend.held) == 1)
        assert await client.cancel_scene(scene.id) == 1
        await until(lambda: job.backend_job_id in backend.cancelled)
        await until(lambda: any(isinstance(e, JobCancelled) for e in events))
        assert (await project.store.job(job.id)).state is JobState.CANCELLED


async def test_stop_cancels_every_job_and_the_runner_exits(
    project: Project, launcher: InProcessLauncher
) -> None:
    """Issue 9: stopping the runner cancels its jobs, and it lets go of the project."""
    root = project.folder.root
    async with client_of(root, launcher) as (client, _):
        plan = await client.request([IMAGE], include_missing=True)
        assert len(plan.jobs) == 5
        await until(lambda: client.connected)
        assert await client.stop_runner()
        assert RunFiles(root).live_pid() is None
        states = {job.state for job in await project.store.jobs()}
        assert states == {JobState.CANCELLED}
        assert client.runner.state == "not running"
        assert not client.active_jobs


async def test_a_runner_of_another_protocol_is_named_and_the_database_still_works(
    project: Project, tmp_path: Path
) -> None:
    """Issue 9: a client meeting another protocol version says so in one line; the
    database path keeps working."""
    from tui.engine.engine import Engine

    root = project.folder.root
    backend = InstantBackend()
    engine = Engine(project, backend)
    await engine.start()  # runs jobs, holding the lock, with no socket of its own
    files = RunFiles(root)

    async def foreign(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(encode(Hello(os.getpid(), "runner", version=VERSION + 1)))
        await writer.drain()

    with reachable(files.socket) as where:
        server = await asyncio.start_unix_server(foreign, where)
    try:
        async with client_of(root, InProcessLauncher(backend)) as (client, events):
            await until(lambda: "protocol" in client.runner.note)
            assert client.runner.state == "unreachable"
            assert f"protocol {VERSION + 1}" in client.runner.note
            assert len(client.runner.note.splitlines()) == 1
            await client.request([IMAGE], include_missing=True)
            engine.poke()  # no socket poke arrives; the engine also polls the database
            await until(lambda: sum(isinstance(e, JobSucceeded) for e in events) == 5, 10)
            assert any(isinstance(e, RunnerChanged) for e in events)
    finally:
        server.close()
        await engine.stop()


async def test_junk_on_the_socket_drops_that_client_only(
    project: Project, launcher: InProcessLauncher
) -> None:
    """A foreign program writing junk to the socket never takes the runner down."""
    root = project.folder.root
    backend = backend_of(launcher)
    async with client_of(root, launcher) as (client, events):
        scene = await project.store.scene_at(1)
        job = await client.regenerate(scene.id, IMAGE)
        assert job is not None
        await until(lambda: client.connected and len(backend.held) == 1)
        with reachable(RunFiles(root).socket) as where:
            reader, writer = await asyncio.open_unix_connection(where)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        assert await reader.read() == b""  # dropped
        backend.release_all()
        await until(lambda: any(isinstance(e, JobSucceeded) for e in events))


def test_the_protocol_refuses_what_is_not_ours() -> None:
    """Every malformed line is a ProtocolError with the reason, never a crash."""
    for line in (b"junk", b"[]", b'{"type": "launch"}', b'{"type": "progress", "job": 1}'):
        with pytest.raises(ProtocolError):
            decode(line)
    preview = decode(encode(LiveProgress(1, 2, IMAGE, 3, 4, 0.75, "node")))
    assert preview == LiveProgress(1, 2, IMAGE, 3, 4, 0.75, "node")


def test_every_message_comes_back_as_it_was_sent() -> None:
    """The encoder reads fields one level deep: bytes, tuples, enums and the nested backend
    status must still travel, each message on one line."""
    messages = [
        Hello(7, "tui", backend="comfyui", servers=("http://a:8188", "http://b:8188")),
        LiveProgress(1, 2, AssetKind.VIDEO, 3, 20, 0.15),
        LiveStarted(1, 2, IMAGE, "http://a:8188"),
        LivePreview(1, 2, AssetKind.VIDEO, b"\xff\xd8\x00\n binary", "image/png"),
        Changed(41),
        RunnerState(2, 5, BackendStatus("ComfyUI", 1, 2, 3, "1 down", "models"), 2),
        Poke(),
        Stop(),
        Bye("error: the database is damaged"),
    ]
    for message in messages:
        line = encode(message)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode(line) == message


async def test_an_idle_runner_exits_but_not_while_a_client_watches(
    project: Project,
) -> None:
    """Issue 9: no job and no client for `idle_exit` seconds, and the runner goes."""
    launcher = InProcessLauncher(InstantBackend(), idle_exit=0.2)
    root = project.folder.root
    try:
        async with client_of(root, launcher) as (client, events):
            await client.request([IMAGE], include_missing=True)
            await until(lambda: sum(isinstance(e, JobSucceeded) for e in events) == 5)
            await asyncio.sleep(0.6)
            assert RunFiles(root).live_pid() == os.getpid()  # a client is connected
        await until(lambda: RunFiles(root).live_pid() is None, 5)
        assert not RunFiles(root).socket.exists()
    finally:
        await launcher.aclose()


async def test_a_comfyui_batch_that_cannot_succeed_is_refused_before_it_is_queued(
    project_dir: Path, tmp_path: Path
) -> None:
    """Issue 12 item 2: no checkpoint on the only server: one message, nothing queued."""
    from tests.comfyui_server import ComfyTestServer
    from tui.engine.requests import Refused

    server = ComfyTestServer(tmp_path / "comfy")  # no models at all
    async with server:
        async with await Project.open(project_dir, servers=[server.url]) as project:
            client = ProjectClient(project, launcher=InProcessLauncher(InstantBackend()))
            await client.start()
            try:
                with pytest.raises(Refused, match="checkpoints") as refused:
                    await client.request([IMAGE], include_missing=True)
                assert len(str(refused.value).splitlines()) == 1
                assert "ComfyUI/models/checkpoints" in str(refused.value)
                assert await project.store.jobs() == []
                assert RunFiles(project_dir).live_pid() is None  # no runner for nothing
            finally:
                await client.close()


async def test_a_runner_stopped_by_a_damaged_database_is_not_started_again(
    project: Project, launcher: InProcessLauncher
) -> None:
    """Issue 10 item 12: the runner stops on damage and says why; clients show it and do not
    start a new runner every second (each would meet the same damage)."""
    import sqlite3

    from tui.engine.client import RunnerError

    root = project.folder.root
    backend = backend_of(launcher)
    async with client_of(root, launcher) as (client, _):
        await client.request([IMAGE], include_missing=True)
        await until(lambda: client.connected and len(backend.held) >= 1)
        db = root / "storyboard.db"
        with sqlite3.connect(db) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page = connection.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = 'jobs'"
            ).fetchone()[0]
        with open(db, "r+b") as handle:
            handle.seek((page - 1) * 4096)
            handle.write(b"\xff" * 4096)
        backend.release_all()
        await until(lambda: client.runner.state == "stopped", timeout=10)
        assert "damaged" in client.runner.note
        await asyncio.sleep(1.5)
        assert launcher.launches == 1
        with pytest.raises(RunnerError, match="damaged"):
            await client.ensure_runner()
