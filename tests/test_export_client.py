"""What the TUI calls for the rough cut and for files on disk, through `ProjectClient`, with
the project's runner in this event loop over its real socket (see `tests.inprocess_runner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import storyboard_json
from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tests.media_helpers import write_wav
from tui.domain.cut import CutState
from tui.domain.jobs import CutJob, JobState
from tui.engine.client import ProjectClient
from tui.engine.events import EngineEvent, SceneEdited
from tui.engine.project import Project
from tui.engine.protocol import MAX_LINE, Hello, RunnerState, decode, encode
from tui.engine.runfiles import RunFiles, reachable
from tui.store.audio import attach
from tui.store.importer import create_project


async def until(check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def new_project(tmp_path: Path, seconds: float = 0.5, count: int = 3) -> Path:
    """Title cards only (no renders needed), each `seconds` long, at 96×64, 8 fps."""
    data = storyboard_json(count)
    for scene in data["scenes"]:
        scene["audio_duration"] = seconds
    source = tmp_path / "story.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    return (await create_project(tmp_path / "film", source)).root


@contextlib.asynccontextmanager
async def client_for(root: Path) -> AsyncIterator[tuple[ProjectClient, list[EngineEvent]]]:
    launcher = InProcessLauncher(InstantBackend())
    async with await Project.open(root) as project:
        client = ProjectClient(project, launcher=launcher, poll_interval=0.05)
        events: list[EngineEvent] = []
        client.subscribe(events.append)
        await client.start()
        try:
            yield client, events
        finally:
            await client.close()
            await launcher.aclose()


async def test_export_follow_and_a_clean_cut(tmp_path: Path) -> None:
    """Issue 13 §3: `export` queues, the runner makes the film, `follow_export` hears its
    states and progress, `cut_status` says clean; the same export again is a no-op."""
    root = await new_project(tmp_path)
    async with client_for(root) as (client, _):
        assert (await client.cut_status()).state is CutState.MISSING
        request = await client.export()
        assert request.job is not None and not request.up_to_date
        seen: list[CutJob] = []
        async with asyncio.timeout(60):
            final = await client.follow_export(request.job.id, seen.append)
        assert final.state is JobState.SUCCEEDED and final.progress == 1.0
        assert seen[-1].state is JobState.SUCCEEDED
        view = await client.cut_status()
        assert view.state is CutState.CLEAN and view.file == "exports/test-film.mp4"
        assert view.line == "cut: clean (exports/test-film.mp4)"
        assert (root / "exports" / "test-film.mp4").stat().st_size > 0
        again = await client.export()
        assert again.job is None and again.up_to_date
        assert "the cut is up to date" in again.message


async def test_an_export_can_be_cancelled_and_leaves_no_file(tmp_path: Path) -> None:
    """Issue 13 §3: cancel from the client while the runner makes the film: it stops, and
    no film and no temp file are left."""
    root = await new_project(tmp_path, seconds=60.0, count=6)
    async with client_for(root) as (client, _):
        request = await client.export()
        assert request.job is not None
        job_id = request.job.id
        running: list[CutJob] = []

        def note(job: CutJob) -> None:
            if job.state is JobState.RUNNING and job.progress > 0:
                running.append(job)

        follow = asyncio.create_task(client.follow_export(job_id, note))
        await until(lambda: bool(running))
        assert await client.cancel_export(job_id)
        async with asyncio.timeout(30):
            final = await follow
        assert final.state is JobState.CANCELLED
        exports = root / "exports"
        await until(lambda: not any(exports.iterdir()), 10)
        assert (await client.cut_status()).state is CutState.MISSING


async def test_a_newer_export_replaces_a_waiting_one(tmp_path: Path) -> None:
    """Issue 13 §3: asking again with other options replaces the export not yet made."""
    root = await new_project(tmp_path, seconds=30.0, count=4)
    async with client_for(root) as (client, _):
        first = await client.export()
        second = await client.export(force=True, subtitles=True)
        assert first.job is not None and second.job is not None
        assert second.job.id != first.job.id
        async with asyncio.timeout(120):
            done = await client.follow_export(first.job.id)
            final = await client.follow_export(second.job.id)
        assert done.state is JobState.SUPERSEDED
        assert final.state is JobState.SUCCEEDED
        assert (root / "exports" / "test-film.srt").exists()


async def test_check_files_finds_deletions_and_changed_narration(tmp_path: Path) -> None:
    """Issue 10 item 9 and issue 13 §2, for the TUI's change poll: a deleted asset file is
    named, a narration file changed in place is measured again and its scene arrives
    as SceneEdited, and one that cannot be decoded is a line."""
    root = await new_project(tmp_path)
    narration = write_wav(tmp_path / "n.wav", 1.0)
    async with client_for(root) as (client, events):
        project = client.project
        scene = await project.store.scene_at(1)
        scene = await attach(project.store, project.folder, scene, str(narration))
        await client.refresh()
        plan = await client.request(include_missing=True, scene_ids=[scene.id])
        assert plan.jobs
        await until(lambda: not client.active_jobs)
        scene = await project.store.scene_at(1)
        assert scene.image is not None and scene.audio_file is not None
        assert (await client.check_files()).flipped  # the new still and clip appeared

        (root / scene.image.file).unlink()
        check = await client.check_files()
        assert check.flipped == {scene.image.file} and check.problems == ()
        assert project.status(scene).image.value == "missing"

        inside = root / scene.audio_file
        shutil.copyfile(write_wav(tmp_path / "longer.wav", 2.5), inside)
        events.clear()
        check = await client.check_files()
        edited = [e for e in events if isinstance(e, SceneEdited) and e.scene.id == scene.id]
        assert edited and edited[-1].scene.audio_duration == 2.5
        assert edited[-1].scene.audio_hash == hashlib.sha256(inside.read_bytes()).hexdigest()

        inside.write_bytes(b"RIFF nothing")
        check = await client.check_files()
        assert len(check.problems) == 1 and "cannot be decoded" in check.problems[0]
        assert (await project.store.scene(scene.id)).audio_duration == 2.5


async def test_the_runners_state_counts_the_export(tmp_path: Path) -> None:
    """Issue 13 §3: the runner's job counts (what it tells every window for the header)
    include the export, read here straight off its socket."""
    root = await new_project(tmp_path, seconds=60.0, count=4)
    async with client_for(root) as (client, _):
        request = await client.export()
        assert request.job is not None
        await until(lambda: client.connected)
        with reachable(RunFiles(root).socket) as where:
            reader, writer = await asyncio.open_unix_connection(where, limit=MAX_LINE)
        try:
            writer.write(encode(Hello(os.getpid(), "test")))
            counts: list[tuple[int, int]] = []
            async with asyncio.timeout(30):
                while (1, 0) not in counts:
                    message = decode(await reader.readline())
                    if isinstance(message, RunnerState):
                        counts.append((message.running, message.queued))
            await client.cancel_export(request.job.id)
            async with asyncio.timeout(30):
                while counts[-1] != (0, 0):
                    message = decode(await reader.readline())
                    if isinstance(message, RunnerState):
                        counts.append((message.running, message.queued))
        finally:
            writer.close()
