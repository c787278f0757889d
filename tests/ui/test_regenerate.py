"""Regenerating from the keyboard: single scenes, batches, failures, cancelling, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tests.ui.helpers import (
    Toasts,
    main_screen,
    make_app,
    png,
    quiet_settings,
    ready,
    screen_text,
    type_text,
    wait_for,
)
from tests.ui.test_editing import marker_colors, saved_scene, theme_hex
from tui.backends.base import Preview, Progress
from tui.domain.models import AssetKind, AssetState
from tui.engine.client import ProjectClient
from tui.engine.events import EngineEvent, JobProgress
from tui.engine.project import Project
from tui.engine.runfiles import RunFiles
from tui.ui.app import StoryboardApp
from tui.ui.screens.confirm import ConfirmScreen

SIZE = (120, 36)


async def test_i_shows_progress_then_the_new_still_and_deletes_the_old_file(
    project: Callable[[str], Path],
) -> None:
    """`i` on a dirty image: queued, progress, new still, old file gone, video turns orange."""
    root = project("dirty")
    old_scene, _ = await saved_scene(root, 2)
    assert old_scene.image is not None
    old_file = root / old_scene.image.file
    assert old_file.is_file()
    backend = InstantBackend(hold=True, payload=png((200, 40, 40)))
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("down")
        assert marker_colors(app, 2) == (
            theme_hex(app, "image-dirty"),
            theme_hex(app, "video-dirty"),
        )
        await pilot.press("i")
        await wait_for(pilot, lambda: len(backend.held) == 1, what="the job to start")
        key = next(iter(backend.held))
        backend.emit(Progress(key, 3, 4, 0.75))
        await wait_for(pilot, lambda: " 75%" in screen_text(app), what="the progress bar")
        assert "Regenerating…" in screen_text(app)  # the inspector's button
        assert "Rendering: 1 image to go" in screen_text(app)  # the batch bar
        backend.release_all()
        await wait_for(pilot, lambda: not screen.jobs.active, what="the job to finish")
        await pilot.pause()
        new_scene, status = await saved_scene(root, 2)
        assert new_scene.image is not None and new_scene.image.file != old_scene.image.file
        assert not old_file.exists()
        assert (root / new_scene.image.file).is_file()
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.DIRTY)
        assert marker_colors(app, 2) == (None, theme_hex(app, "video-dirty"))
        still = screen.inspector.media.still
        assert still is not None and still.name == Path(new_scene.image.file).name
        await wait_for(pilot, lambda: Path(new_scene.image.file).name in screen_text(app))
        assert "image was regenerated" in screen_text(app)


async def test_batches_of_dirty_images_then_videos(project: Callable[[str], Path]) -> None:
    """`I` regenerates every dirty image, `V` every dirty video; then the bar says all is done.

    Issue 12 item 10: the bar stays (it says so) rather than vanishing and moving the screen.
    """
    root = project("dirty")
    toasts = Toasts()
    app = make_app(root)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.board is not None and screen.board.is_complete)
        text = screen_text(app)
        assert "Regenerate 1 dirty image" in text
        assert "Regenerate 3 dirty videos" in text
        await pilot.press("I")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the image batch")
        await pilot.pause()
        assert "Queued 1 image regeneration." in toasts.messages()
        assert "Regenerate 1 dirty image" not in screen_text(app)
        assert "Regenerate 3 dirty videos" in screen_text(app)
        await pilot.press("V")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the video batch")
        await pilot.pause()
        assert "Queued 3 video regenerations." in toasts.messages()
        for position in range(1, 6):
            _scene, status = await saved_scene(root, position)
            assert (status.image, status.video) == (AssetState.CLEAN, AssetState.CLEAN)
        await wait_for(pilot, lambda: "All up to date" in screen_text(app))
        assert screen.batch_bar.has_class("-shown")


async def test_v_batch_skips_videos_whose_image_is_stale(project: Callable[[str], Path]) -> None:
    """`V` with a stale image makes the other videos and says how to get that one."""
    root = project("dirty")
    toasts = Toasts()
    app = make_app(root)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("V")
        await wait_for(pilot, lambda: not screen.jobs.active)
        await pilot.pause()
        assert any(
            text.startswith("Queued 2 video regenerations.") and "press a" in text
            for text in toasts.messages()
        )
        _scene, status = await saved_scene(root, 2)
        assert status.video is AssetState.DIRTY


async def test_batch_bar_shows_overall_progress_and_cancels(
    project: Callable[[str], Path],
) -> None:
    """`a` runs images first; the bar says what is left, what is done, and Cancel stops it."""
    root = project("dirty")
    backend = InstantBackend(hold=True, window=1, payload=png((10, 120, 10)))
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: len(backend.held) == 1)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "Rendering: 1 image and 3 videos to go" in text
        assert "0 of 4 done" in text and "estimating…" in text
        backend.release_all()
        await wait_for(pilot, lambda: "1 of 4 done" in screen_text(app), what="one job done")
        await pilot.click("#batch-cancel")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the cancel")
        assert backend.cancelled


async def test_failed_job_shows_a_plain_text_toast_and_stays_dirty(
    project: Callable[[str], Path],
) -> None:
    """A failure toast shows the server's message as plain text; the row shows it failed.

    Issue 12 item 1: the failure stays visible (its own marker) after the toast fades.
    """
    root = project("dirty")
    backend = InstantBackend(hold=False)
    backend.fail_with = "CUDA out of memory [bold]really[/] [link=x]"
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook, notifications=True) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "i")
        await wait_for(pilot, lambda: bool(toasts.messages("error")), what="the toast")
        message = toasts.messages("error")[0]
        assert message == "Image failed: CUDA out of memory [bold]really[/] [link=x]"
        assert all(not markup for severity, _t, _m, markup in toasts.items if severity == "error")
        await pilot.pause()
        assert "✗ failed at" in screen_text(app)  # the inspector keeps the error
        assert "memory [bold]really[/]" in screen_text(app)
        await wait_for(pilot, lambda: failed_marker(app, 2) is not None, what="the ✗ marker")
        assert failed_marker(app, 2) == theme_hex(app, "asset-failed")
        assert marker_colors(app, 2)[1] == theme_hex(app, "video-dirty")
        assert screen.jobs.active is False
        _scene, status = await saved_scene(root, 2)
        assert status.image is AssetState.DIRTY  # failed, and still dirty


def failed_marker(app: StoryboardApp, position: int) -> str | None:
    """The colour of scene `position`'s failed (✗) marker, or None if it has none."""
    screen = main_screen(app)
    assert screen.board is not None
    y = screen.scene_list.shown_ids.index(screen.board.order[position - 1])
    for segment in screen.scene_list.render_line(y):
        if segment.text.strip() == "✗" and segment.style and segment.style.color:
            return segment.style.color.triplet.hex  # type: ignore[union-attr]
    return None


async def test_x_cancels_the_selected_scenes_jobs(project: Callable[[str], Path]) -> None:
    """`x` cancels what runs for the highlighted scene; it stays dirty."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "i")
        await wait_for(pilot, lambda: len(backend.held) == 1)
        await pilot.press("x")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the cancel")
        assert "Cancelled 1 job for scene 2." in toasts.messages()
        assert backend.cancelled
        _scene, status = await saved_scene(root, 2)
        assert status.image is AssetState.DIRTY
        await pilot.press("x")
        await pilot.pause()
        assert "Scene 2 has no jobs to cancel." in toasts.messages()


async def test_i_on_a_clean_image_offers_a_new_take_in_the_palette(
    project: Callable[[str], Path],
) -> None:
    """`i` on an up-to-date image says so; the palette's "new take" forces one."""
    root = project("clean")
    toasts = Toasts()
    app = make_app(root)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert any("is up to date" in text and "new take" in text for text in toasts.messages())
        before, _ = await saved_scene(root, 1)
        await pilot.press("ctrl+p")
        await type_text(pilot, "take im")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the new take")
        await pilot.pause()
        after, status = await saved_scene(root, 1)
        assert before.image is not None and after.image is not None
        assert after.image.file != before.image.file
        assert after.seed != before.seed  # a new take draws a new seed
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.DIRTY)


async def test_fresh_project_generates_missing_assets(project: Callable[[str], Path]) -> None:
    """No assets yet: `v` is refused with the engine's words; `a` makes images, then videos."""
    root = project("fresh")
    toasts = Toasts()
    app = make_app(root)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: "Generate 5 missing images" in screen_text(app))
        await pilot.press("v")
        await pilot.pause()
        assert "Cannot generate video without an image (scene 1 has none yet)" in toasts.messages(
            "warning"
        )
        await pilot.press("a")
        await wait_for(pilot, lambda: not screen.jobs.active and "Generate" not in screen_text(app))
        _scene, status = await saved_scene(root, 5)
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_a_second_window_queues_and_both_see_the_same_jobs(
    project: Callable[[str], Path],
) -> None:
    """Issue 9: any process may queue; every window sees every job's progress."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        async with await Project.open(root) as other_project:
            other = ProjectClient(other_project, role="cli", launcher=InProcessLauncher(backend))
            seen: list[EngineEvent] = []
            other.subscribe(seen.append)
            await other.start()
            scene = await other_project.store.scene_at(2)
            job = await other.regenerate(scene.id, AssetKind.IMAGE)
            assert job is not None
            await wait_for(pilot, lambda: screen.jobs.busy(scene.id, AssetKind.IMAGE))
            await wait_for(pilot, lambda: len(backend.held) == 1, what="the job to start")
            key = next(iter(backend.held))
            backend.emit(Progress(key, 3, 10, 0.3, "KSampler"))
            await wait_for(pilot, lambda: any(isinstance(e, JobProgress) for e in seen))
            badge = screen.jobs.badge(scene.id)
            await wait_for(pilot, lambda: (screen.jobs.badge(scene.id) or badge).fraction == 0.3)
            await pilot.press("down", "v")  # the TUI queues the video behind the other's image
            await pilot.pause()
            await wait_for(pilot, lambda: screen.jobs.busy(scene.id, AssetKind.VIDEO))
            backend.release_all()
            await wait_for(pilot, lambda: len(backend.held) == 1, what="the video to start")
            backend.release_all()
            await wait_for(pilot, lambda: not screen.jobs.active, what="both jobs to end")
            await other.close()
    _scene, status = await saved_scene(root, 2)
    assert (status.image, status.video) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_quit_saves_what_is_typed_and_the_batch_goes_on(
    project: Callable[[str], Path],
) -> None:
    """Issue 9: ctrl+q saves the unsaved text; the runner finishes the batch without us."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    app = make_app(root, backend=backend, settings=quiet_settings(save_delay=10.0))
    launcher = app.screen_options.launcher
    assert isinstance(launcher, InProcessLauncher)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: len(backend.held) >= 1, what="the batch to start")
        await pilot.press("enter", "end")
        await type_text(pilot, "!")
        await pilot.press("ctrl+q")
    scene, _ = await saved_scene(root, 1)
    assert scene.image_prompt == "a scene 1, moody light!"
    assert RunFiles(root).live_pid() is not None  # the window is gone, the runner is not
    for _ in range(200):
        backend.release_all()
        if launcher.runner.engine.idle:
            break
        await asyncio.sleep(0.02)
    for position in (2, 3, 4):
        _scene, status = await saved_scene(root, position)
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.CLEAN)


async def test_live_preview_replaces_the_still_while_a_job_runs(
    project: Callable[[str], Path],
) -> None:
    """A backend's preview frames show in the inspector until the job ends."""
    root = project("dirty")
    backend = InstantBackend(hold=True, payload=png((90, 90, 200)))
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "i")
        await wait_for(pilot, lambda: len(backend.held) == 1)
        await wait_for(pilot, lambda: screen.inspector.scene is not None)
        frame = png((250, 0, 250), (32, 24))
        backend.emit(Preview(next(iter(backend.held)), frame, "image/png"))
        media = lambda: screen.inspector.media  # noqa: E731
        await wait_for(pilot, lambda: media().preview == frame, what="the preview")
        assert media().preview_label.startswith("image preview")
        assert media().still is not None  # the still keeps its own place (issue 12 item 9)
        backend.release_all()
        await wait_for(pilot, lambda: media().preview is None, what="the preview to go")


async def test_stopping_the_runner_from_the_palette_asks_first(
    project: Callable[[str], Path],
) -> None:
    """Issue 9: "runner: stop" cancels the batch only after a yes; Enter alone says no."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: len(backend.held) >= 1, what="the batch to start")
        for answer in ("enter", "y"):
            await pilot.press("ctrl+p")
            await type_text(pilot, "runner: stop")
            await wait_for(pilot, lambda: "runner: stop" in screen_text(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "cancel its" in screen_text(app)
            await pilot.press(answer)
            await pilot.pause()
            if answer == "enter":  # the focused button is "No"
                assert RunFiles(root).live_pid() is not None and screen.jobs.active
        await wait_for(pilot, lambda: RunFiles(root).live_pid() is None, what="the stop")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the jobs to be cancelled")
        await wait_for(pilot, lambda: "runner: not running" in screen_text(app))
