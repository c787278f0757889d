"""Editing through the inspector: markers, saving on pause and on blur, live reloads.

Every test drives the app with the keyboard and checks the real SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.color import Color
from textual.widgets import TextArea

from tests.ui.helpers import (
    burst,
    main_screen,
    make_app,
    quiet_settings,
    ready,
    screen_text,
    tab_to,
    type_text,
    wait_for,
)
from tui.domain.models import AssetKind, AssetState, CameraMovement
from tui.engine.project import Project
from tui.ui.app import StoryboardApp

SIZE = (120, 36)


def marker_colors(app: StoryboardApp, position: int) -> tuple[str | None, str | None]:
    """The colours of scene `position`'s image and video markers, as the list draws them."""
    screen = main_screen(app)
    scene_list = screen.scene_list
    assert screen.board is not None
    scene_id = screen.board.order[position - 1]
    y = scene_list.shown_ids.index(scene_id)
    found: dict[str, str | None] = {"■": None, "▶": None, "□": None, "▷": None}
    for segment in scene_list.render_line(y):
        glyph = segment.text.strip()
        if glyph in found and segment.style is not None and segment.style.color is not None:
            found[glyph] = segment.style.color.triplet.hex  # type: ignore[union-attr]
    return found["■"], found["▶"]


def theme_hex(app: StoryboardApp, variable: str) -> str:
    return Color.parse(app.theme_variables[variable]).hex.lower()


async def saved_scene(root: Path, position: int):  # type: ignore[no-untyped-def]
    """Read a scene from a fresh connection, as another process would."""
    async with await Project.open(root) as project:
        scene = await project.store.scene_at(position)
        return scene, project.status(scene)


async def test_image_prompt_edit_marks_image_and_video_dirty(
    project: Callable[[str], Path],
) -> None:
    """Image prompt edit → yellow image marker and orange video marker; saved after the pause."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert marker_colors(app, 2) == (None, None)
        await pilot.press("down", "enter")
        assert screen.focused is not None and screen.focused.id == "image-prompt"
        await pilot.press("end")
        await type_text(pilot, ", dawn")
        # Markers move at once, before the save.
        image, video = marker_colors(app, 2)
        assert image == theme_hex(app, "image-dirty")
        assert video == theme_hex(app, "video-dirty")
        await pilot.pause(0.25)  # past save_delay (0.1 s)
        scene, status = await saved_scene(root, 2)
        assert scene.image_prompt == "a scene 2, moody light, dawn"
        assert (status.image, status.video) == (AssetState.DIRTY, AssetState.DIRTY)
        assert "image prompt changed" in screen_text(app)
        assert "Regenerate Image" in screen_text(app)
        assert "Regenerate 1 dirty image" in screen_text(app)


async def test_camera_motion_and_video_prompt_mark_only_the_video(
    project: Callable[[str], Path],
) -> None:
    """Camera, motion and video prompt edits each turn the video orange and leave the image."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        orange = theme_hex(app, "video-dirty")
        # Scene 1: camera, through the Select with the keyboard.
        await pilot.press("enter")
        await tab_to(pilot, "camera")
        await pilot.press("enter", "down", "enter")
        await pilot.pause(0.1)
        assert marker_colors(app, 1) == (None, orange)
        scene, status = await saved_scene(root, 1)
        assert scene.camera is CameraMovement.PAN_RIGHT  # pan left → the next move
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.DIRTY)
        assert "camera: Pan left → Pan right" in screen_text(app)
        # Same scene: motion, stepped with the arrow keys.
        await tab_to(pilot, "motion")
        await pilot.press("right", "right", "minus")
        await pilot.pause(0.25)
        scene, status = await saved_scene(root, 1)
        assert scene.motion == 0.15  # 0.1 + 0.05 + 0.05 − 0.05
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.DIRTY)
        assert "motion: 0.10 → 0.15" in screen_text(app)
        # Scene 2: video prompt; leaving the field saves it at once.
        await pilot.press("escape", "down", "enter")
        await tab_to(pilot, "video-prompt")
        await pilot.press("end")
        await type_text(pilot, "!")
        await pilot.press("escape")
        await pilot.pause()
        scene, status = await saved_scene(root, 2)
        assert scene.video_prompt.endswith("scene 2!")
        assert (status.image, status.video) == (AssetState.CLEAN, AssetState.DIRTY)
        assert marker_colors(app, 2) == (None, orange)
        assert screen.focused is screen.scene_list


async def test_invalid_input_shows_one_line_not_a_traceback(
    project: Callable[[str], Path],
) -> None:
    """An edit the domain refuses (an empty seed) shows its one-line reason; nothing is saved."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("enter")
        await tab_to(pilot, "seed")
        await burst(pilot, "end", "backspace", "backspace", "backspace")
        await pilot.pause(0.25)
        assert screen.inspector.error == "seed must be a whole number, got ''"
        assert "seed must be a whole number" in screen_text(app)
        scene, _ = await saved_scene(root, 1)
        assert scene.seed == 101
        await type_text(pilot, "7")
        await pilot.pause(0.25)
        assert screen.inspector.error == ""
        scene, status = await saved_scene(root, 1)
        assert scene.seed == 7
        assert status.image is AssetState.DIRTY


async def test_edit_from_another_process_shows_up_live(project: Callable[[str], Path]) -> None:
    """A `storyboard set` in another shell (another connection) reaches the list and inspector."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        async with await Project.open(root) as other:
            scene = await other.store.scene_at(1)
            await other.edit(scene.id, {"image_prompt": "edited elsewhere"})
        await wait_for(pilot, lambda: marker_colors(app, 1)[0] is not None, what="the reload")
        assert marker_colors(app, 1) == (
            theme_hex(app, "image-dirty"),
            theme_hex(app, "video-dirty"),
        )
        await wait_for(pilot, lambda: "edited elsewhere" in screen_text(app), what="inspector")
        assert screen.inspector.scene is not None
        assert screen.inspector.scene.image_prompt == "edited elsewhere"


async def test_reload_never_clobbers_the_field_being_edited(
    project: Callable[[str], Path],
) -> None:
    """Another process's edit to the field being typed in does not replace the text; leaving
    the field saves it at once, long before the (here 10 s) save delay."""
    root = project("clean")
    app = make_app(root, settings=quiet_settings(save_delay=10.0))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("enter", "end")
        await type_text(pilot, "!")
        scene, _ = await saved_scene(root, 1)
        assert scene.image_prompt == "a scene 1, moody light"  # not saved yet
        async with await Project.open(root) as other:
            scene = await other.store.scene_at(1)
            await other.edit(scene.id, {"image_prompt": "theirs", "video_prompt": "their clip"})
        video_prompt = screen.inspector.query_one("#video-prompt", TextArea)
        await wait_for(pilot, lambda: video_prompt.text == "their clip", what="the reload")
        focused = screen.focused
        assert focused is not None and focused.id == "image-prompt"
        assert "a scene 1, moody light!" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        scene, _ = await saved_scene(root, 1)
        assert scene.image_prompt == "a scene 1, moody light!"
        assert scene.video_prompt == "their clip"


async def test_draft_marker_follows_typing_and_reverting(project: Callable[[str], Path]) -> None:
    """Typing a change and deleting it again leaves the scene clean."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("enter", "end")
        await type_text(pilot, "x")
        assert marker_colors(app, 1)[0] is not None
        await pilot.press("backspace")
        await pilot.pause(0.25)
        assert marker_colors(app, 1) == (None, None)
        _scene, status = await saved_scene(root, 1)
        assert status.of(AssetKind.IMAGE) is AssetState.CLEAN
