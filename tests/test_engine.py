"""The engine's rules, on a real project folder and a real SQLite database."""

from __future__ import annotations

import errno
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.instant_backend import InstantBackend
from tui.backends.base import Lost, Recovery
from tui.domain.jobs import JobState
from tui.domain.models import AssetKind, AssetState
from tui.engine.engine import Engine, Refused
from tui.engine.events import (
    EngineEvent,
    JobFailed,
    JobProgress,
    JobQueued,
    JobSucceeded,
    JobSuperseded,
)
from tui.engine.project import Project
from tui.engine.runfiles import RunnerBusy

IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO


@pytest.fixture
async def project(project_dir: Path) -> AsyncIterator[Project]:
    async with await Project.open(project_dir) as opened:
        yield opened


async def started(project: Project, backend: InstantBackend) -> tuple[Engine, list[EngineEvent]]:
    engine = Engine(project, backend)
    events: list[EngineEvent] = []
    engine.subscribe(events.append)
    await engine.start()
    return engine, events


async def render_everything(project: Project) -> None:
    """Give every scene a clean image and video, as a finished batch would."""
    engine, _ = await started(project, InstantBackend())
    await engine.request(include_missing=True)
    await engine.wait_idle()
    await engine.stop()


async def states(project: Project, position: int) -> tuple[AssetState, AssetState]:
    status = project.status(await project.store.scene_at(position))
    return status.image, status.video


def asset_files(project: Project) -> set[str]:
    root = project.folder.root
    return {
        path.relative_to(root).as_posix()
        for path in project.folder.assets_dir.rglob("*")
        if path.is_file()
    }


async def test_a_batch_makes_every_scene_clean_and_names_files_per_job(project: Project) -> None:
    await render_everything(project)
    scenes = await project.scenes()
    assert all(project.status(s).image is AssetState.CLEAN for s in scenes)
    assert all(project.status(s).video is AssetState.CLEAN for s in scenes)
    referenced = {s.image.file for s in scenes if s.image} | {
        s.video.file for s in scenes if s.video
    }
    assert referenced == asset_files(project)
    assert all(Path(name).name.startswith("scene-000") for name in referenced)
    assert not await project.store.active_jobs()


async def test_new_image_replaces_the_old_file_and_makes_the_video_dirty(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(2)
    old_file = scene.image.file
    await project.edit(scene.id, {"image_prompt": "a red door"})
    engine, events = await started(project, InstantBackend())
    job = await engine.regenerate(scene.id, IMAGE)
    assert job is not None
    await engine.wait_idle()
    await engine.stop()
    after = await project.store.scene(scene.id)
    assert after.image.file != old_file
    assert not (project.folder.root / old_file).exists()
    assert (project.folder.root / after.image.file).exists()
    assert await states(project, 2) == (AssetState.CLEAN, AssetState.DIRTY)
    assert "image was regenerated" in " ".join(project.why(after)[VIDEO])
    succeeded = [e for e in events if isinstance(e, JobSucceeded)]
    assert succeeded[0].file == after.image.file


async def test_an_edit_made_while_the_job_runs_leaves_the_scene_dirty(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    scene = await project.store.scene_at(1)
    await engine.regenerate(scene.id, IMAGE)
    await backend.settle(lambda: bool(backend.held))
    await project.edit(scene.id, {"image_prompt": "edited during the job"})
    backend.release_all()
    await engine.wait_idle()
    await engine.stop()
    after = await project.store.scene(scene.id)
    assert after.image is not None
    assert after.image.inputs["image_prompt"] == "a scene 1, moody light"
    assert project.status(after).image is AssetState.DIRTY
    assert project.why(after)[IMAGE] == ["image prompt changed"]


async def test_a_new_request_supersedes_the_running_one(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, events = await started(project, backend)
    scene = await project.store.scene_at(1)
    first = await engine.regenerate(scene.id, IMAGE)
    await backend.settle(lambda: bool(backend.held))
    await project.edit(scene.id, {"image_prompt": "second thoughts"})
    second = await engine.regenerate(scene.id, IMAGE)
    assert first is not None and second is not None
    assert backend.cancelled == [first.backend_job_id]
    assert (await project.store.job(first.id)).state is JobState.SUPERSEDED
    assert any(isinstance(e, JobSuperseded) and e.job.id == first.id for e in events)
    await backend.settle(lambda: len(backend.submitted) == 2)
    backend.release_all()
    await engine.wait_idle()
    await engine.stop()
    after = await project.store.scene(scene.id)
    assert after.image.inputs["image_prompt"] == "second thoughts"
    assert after.image.job_id == second.id
    assert project.status(after).image is AssetState.CLEAN


async def test_the_same_request_twice_is_one_job(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    scene = await project.store.scene_at(1)
    first = await engine.regenerate(scene.id, IMAGE)
    again = await engine.regenerate(scene.id, IMAGE)
    assert first is not None and again is None
    assert len(engine.jobs_for(scene.id)) == 1
    await engine.stop(cancel=True)


async def test_a_video_waits_for_its_image_and_uses_the_new_still(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(3)
    await project.edit(scene.id, {"image_prompt": "the new still"})
    backend = InstantBackend(hold=True, window=4)
    engine, _ = await started(project, backend)
    plan = await engine.request(scene_ids=[scene.id])
    image_job, video_job = plan.jobs
    assert video_job.depends_on == image_job.id
    await backend.settle(lambda: len(backend.submitted) == 1)
    await backend.settle()
    assert [spec.kind for spec in backend.submitted] == [IMAGE], "video went before its image"
    backend.release_all()
    await backend.settle(lambda: len(backend.submitted) == 2)
    assert [spec.kind for spec in backend.submitted] == [IMAGE, VIDEO]
    new_still = await project.store.scene(scene.id)
    video_spec = backend.submitted[1]
    assert video_spec.params["image_hash"] == new_still.image.content_hash
    assert video_spec.image_path == project.folder.root / new_still.image.file
    backend.release_all()
    await engine.wait_idle()
    await engine.stop()
    assert await states(project, 3) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_a_waiting_video_follows_a_newer_image_request(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(1)
    await project.edit(scene.id, {"image_prompt": "first", "video_prompt": "moves"})
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    plan = await engine.request(scene_ids=[scene.id])
    await project.edit(scene.id, {"image_prompt": "second"})
    newer = await engine.regenerate(scene.id, IMAGE)
    video = engine.jobs_for(scene.id, VIDEO)[0]
    assert newer is not None and video.depends_on == newer.id != plan.jobs[0].id
    await backend.settle(lambda: len(backend.submitted) == 2)
    backend.release_all()
    await backend.settle(lambda: len(backend.submitted) == 3)
    assert backend.submitted[2].kind is VIDEO
    backend.release_all()
    await engine.wait_idle()
    await engine.stop()
    assert await states(project, 1) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_a_clean_asset_is_a_no_op_unless_forced(project: Project) -> None:
    """Issue 10 item 10: a new take's seed becomes the scene's only when the take succeeds."""
    await render_everything(project)
    backend = InstantBackend(hold=True)
    engine, events = await started(project, backend)
    scene = await project.store.scene_at(4)
    assert await engine.regenerate(scene.id, IMAGE) is None
    assert await engine.regenerate(scene.id, VIDEO) is None
    plan = await engine.request()
    assert plan.jobs == [] and backend.submitted == []
    assert all(d.reason.endswith("is up to date") for d in plan.skipped)
    forced = await engine.regenerate(scene.id, IMAGE, force=True)
    assert forced is not None and forced.params["seed"] != scene.seed
    await backend.settle(until=lambda: bool(backend.held))
    assert (await project.store.scene(scene.id)).seed == scene.seed  # not before it renders
    backend.release_all()
    await engine.wait_idle()
    await engine.stop()
    assert (await project.store.scene(scene.id)).seed == forced.params["seed"]
    assert await states(project, 4) == (AssetState.CLEAN, AssetState.DIRTY)
    assert [e.job.id for e in events if isinstance(e, JobSucceeded)] == [forced.id]


async def test_a_cancelled_new_take_leaves_the_seed_alone(project: Project) -> None:
    """Issue 10 item 10: a Ctrl-C before the take renders leaves clean images clean."""
    await render_everything(project)
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    before = {s.id: s.seed for s in await project.scenes()}
    plan = await engine.request([IMAGE], force=True)
    assert len(plan.jobs) == len(before)
    await engine.stop(cancel=True)
    assert {s.id: s.seed for s in await project.scenes()} == before
    assert [(await states(project, p))[0] for p in range(1, 6)] == [AssetState.CLEAN] * 5


async def test_refusals_name_the_problem(project: Project) -> None:
    engine, _ = await started(project, InstantBackend())
    scene = await project.store.scene_at(1)
    with pytest.raises(Refused, match="Cannot generate video without an image"):
        await engine.regenerate(scene.id, VIDEO)
    await project.edit(scene.id, {"image_prompt": "   "})
    with pytest.raises(Refused, match="has no image prompt"):
        await engine.regenerate(scene.id, IMAGE)
    plan = await engine.request([VIDEO], include_missing=True)
    assert plan.jobs == []
    assert not await project.store.active_jobs()
    await engine.stop()


async def test_a_video_of_a_stale_image_is_refused_but_both_together_run(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(2)
    await project.edit(scene.id, {"image_prompt": "changed"})
    engine, _ = await started(project, InstantBackend())
    with pytest.raises(Refused, match="regenerate the image first"):
        await engine.regenerate(scene.id, VIDEO)
    plan = await engine.request(scene_ids=[scene.id])
    assert [job.kind for job in plan.jobs] == [IMAGE, VIDEO]
    await engine.wait_idle()
    await engine.stop()
    assert await states(project, 2) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_a_hostile_output_name_is_refused(project: Project, tmp_path: Path) -> None:
    backend = InstantBackend(output_name="../../x.png")
    engine, events = await started(project, backend)
    scene = await project.store.scene_at(1)
    await engine.regenerate(scene.id, IMAGE)
    await engine.wait_idle()
    await engine.stop()
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert failed and "not a plain file name" in failed[0].message
    assert not list(tmp_path.rglob("x.png"))
    assert asset_files(project) == set()


async def test_a_full_disk_fails_the_job_and_keeps_the_old_asset(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(1)
    await project.edit(scene.id, {"image_prompt": "will not fit"})
    before = asset_files(project)

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    engine = Engine(project, InstantBackend(), writer=full_disk)
    events: list[EngineEvent] = []
    engine.subscribe(events.append)
    await engine.start()
    await engine.regenerate(scene.id, IMAGE)
    await engine.wait_idle()
    await engine.stop()
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert failed and "No space left on device" in failed[0].message
    after = await project.store.scene(scene.id)
    assert after.image == scene.image
    assert asset_files(project) == before
    assert (await project.store.job(failed[0].job.id)).error == failed[0].message


async def test_a_failed_image_fails_its_waiting_video_and_stays_dirty(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(1)
    await project.edit(scene.id, {"image_prompt": "broken"})
    backend = InstantBackend()
    backend.fail_with = "KSampler: out of memory [bold]"
    engine, events = await started(project, backend)
    plan = await engine.request(scene_ids=[scene.id])
    await engine.wait_idle()
    await engine.stop()
    image_job, video_job = plan.jobs
    assert (await project.store.job(image_job.id)).error == "KSampler: out of memory [bold]"
    video = await project.store.job(video_job.id)
    assert video.state is JobState.FAILED and "its image failed" in (video.error or "")
    assert await states(project, 1) == (AssetState.DIRTY, AssetState.DIRTY)
    assert [type(e) for e in events].count(JobFailed) == 2


async def test_progress_and_queue_events_reach_listeners(project: Project) -> None:
    engine, events = await started(project, InstantBackend())
    await engine.request([IMAGE], include_missing=True)
    await engine.wait_idle()
    await engine.stop()
    assert sum(isinstance(e, JobQueued) for e in events) == 5
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert progress and all((p.value, p.max, p.fraction) == (1, 2, 0.5) for p in progress)


async def test_the_window_limits_jobs_in_flight(project: Project) -> None:
    backend = InstantBackend(hold=True, window=2)
    engine, _ = await started(project, backend)
    await engine.request([IMAGE], include_missing=True)
    await backend.settle(lambda: len(backend.submitted) == 2)
    await backend.settle()
    assert len(backend.submitted) == 2
    assert engine.queue_position(engine.active_jobs[-1].id) == 3
    backend.release_all()
    await backend.settle(lambda: len(backend.submitted) == 4)
    await backend.settle()
    assert len(backend.submitted) == 4
    await engine.stop(cancel=True)


async def test_cancel_stops_running_and_queued_jobs(project: Project) -> None:
    backend = InstantBackend(hold=True, window=1)
    engine, _ = await started(project, backend)
    scene = await project.store.scene_at(1)
    await project.edit(scene.id, {"video_prompt": "x"})
    plan = await engine.request(scene_ids=[scene.id], include_missing=True)
    await backend.settle(lambda: bool(backend.held))
    assert await engine.cancel_scene(scene.id) == 2
    assert backend.cancelled == [plan.jobs[0].backend_job_id]
    for job in plan.jobs:
        assert (await project.store.job(job.id)).state is JobState.CANCELLED
    assert engine.idle
    await engine.stop()


async def test_jobs_in_flight_at_a_crash_are_rendered_again(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    await engine.request([IMAGE], include_missing=True)
    await backend.settle(lambda: len(backend.held) == 2)
    await backend.settle()
    states_before = {job.state for job in await project.store.active_jobs()}
    assert JobState.RUNNING in states_before and JobState.QUEUED in states_before
    # Simulate a crash: drop the engine without telling the database anything.
    for task in engine._tasks:
        task.cancel()
    engine._lock.release()
    engine, _ = await started(project, InstantBackend())
    assert engine.resumed == 5
    await engine.wait_idle()
    await engine.stop()
    assert not await project.store.active_jobs()
    scenes = await project.scenes()
    assert all(project.status(s).image is AssetState.CLEAN for s in scenes)


async def test_a_job_lost_twice_fails(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, events = await started(project, backend)
    scene = await project.store.scene_at(1)
    job = await engine.regenerate(scene.id, IMAGE)
    assert job is not None
    await backend.settle(lambda: bool(backend.held))
    backend.held.clear()
    backend.emit(Lost(job.backend_job_id))
    await backend.settle(lambda: len(backend.submitted) == 2)
    backend.held.clear()
    backend.emit(Lost(job.backend_job_id))
    await backend.settle(lambda: engine.idle)
    await engine.stop()
    final = await project.store.job(job.id)
    assert final.state is JobState.FAILED and final.error == "lost by the server twice"


async def test_recover_lost_at_start_resubmits(project: Project) -> None:
    backend = InstantBackend(hold=True)
    engine, _ = await started(project, backend)
    scene = await project.store.scene_at(1)
    await engine.regenerate(scene.id, IMAGE)
    await backend.settle(lambda: bool(backend.held))
    await backend.settle()
    for task in engine._tasks:
        task.cancel()
    engine._lock.release()
    again = InstantBackend()
    again.recovery = Recovery.LOST
    engine, _ = await started(project, again)
    await engine.wait_idle()
    await engine.stop()
    jobs = await project.store.jobs()
    assert jobs[0].state is JobState.SUCCEEDED and jobs[0].attempts == 1


async def test_start_sweeps_temp_and_orphan_files_only(project: Project) -> None:
    """Issue 10 item 4: only files this project's own jobs named are swept."""
    await render_everything(project)
    ours = sorted(await project.store.job_keys())[0]
    images = project.folder.images_dir
    (images / f".tmp-scene-0001-{ours}.png").write_bytes(b"half")
    (images / f"scene-0009-{ours}.png").write_bytes(b"orphan")
    (images / "scene-0009-deadbeef.png").write_bytes(b"another project's")
    (images / "my-own-reference.png").write_bytes(b"keep")
    kept = asset_files(project) - {
        f"assets/images/.tmp-scene-0001-{ours}.png",
        f"assets/images/scene-0009-{ours}.png",
    }
    engine, _ = await started(project, InstantBackend())
    await engine.stop()
    assert asset_files(project) == kept
    assert (images / "my-own-reference.png").read_bytes() == b"keep"
    assert (images / "scene-0009-deadbeef.png").exists()


async def test_only_one_process_runs_a_projects_jobs(project_dir: Path) -> None:
    async with await Project.open(project_dir) as first, await Project.open(project_dir) as second:
        engine = Engine(first, InstantBackend())
        await engine.start()
        with pytest.raises(RunnerBusy, match="already run by process"):
            await Engine(second, InstantBackend()).start()
        await engine.stop()
        other = Engine(second, InstantBackend())
        await other.start()
        await other.stop()


async def test_jobs_of_another_backend_are_cancelled_with_a_reason(project: Project) -> None:
    scene = await project.store.scene_at(1)
    await project.store.insert_job(
        scene_id=scene.id,
        kind=IMAGE,
        params={"x": 1},
        params_hash="h",
        backend="comfyui",
        backend_job_id="2f0c6a8e-0000-4000-8000-000000000000",
    )
    engine, _ = await started(project, InstantBackend())
    await engine.stop()
    job = (await project.store.jobs())[0]
    assert job.state is JobState.CANCELLED and "comfyui" in (job.error or "")


async def test_dry_run_plans_without_queueing(project: Project) -> None:
    await render_everything(project)
    scene = await project.store.scene_at(2)
    await project.edit(scene.id, {"camera": "pan_left"})
    engine, _ = await started(project, InstantBackend())
    plan = await engine.request(dry_run=True)
    await engine.stop()
    assert [(d.scene.position, d.kind) for d in plan.queued] == [(2, VIDEO)]
    assert "camera" in plan.queued[0].reason
    assert not await project.store.active_jobs()
    assert json.dumps([d.reason for d in plan.decisions])
