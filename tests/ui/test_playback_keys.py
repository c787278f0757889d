"""Playback from the editor's keys: `p` plays the scene's clip, `P` the storyboard, space
pauses, and Esc or moving on stops it. Real H.264 clips, a real app under Pilot."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import storyboard_json
from tests.media_helpers import write_clip
from tests.ui.helpers import Toasts, build_project, make_app, ready, wait_for
from tui.ui.widgets.player import Player

SIZE = (120, 36)


async def project_with_clips(tmp_path: Path, seconds: float = 0.5) -> Path:
    """Three short scenes whose clip files are real H.264 (the fake renderer's are PNGs)."""
    data = storyboard_json(3)
    for scene in data["scenes"]:
        scene["audio_duration"] = seconds
    return await build_project(tmp_path, 3, data=data)


def replace_clips(screen: object, count: int) -> None:
    session = screen.session  # type: ignore[attr-defined]
    board = session.board
    for scene in list(board.scenes.values())[:count]:
        clip = session.clip_path(scene)
        assert clip is not None
        write_clip(clip, frames=8, fps=8)


async def test_p_plays_the_clip_space_pauses_and_esc_stops(tmp_path: Path) -> None:
    app = make_app(await project_with_clips(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        replace_clips(screen, 3)
        player = screen.query_one(Player)
        await pilot.press("p")
        await wait_for(pilot, lambda: player.frame_time is not None, what="the first frame")
        assert player.playing and not player.paused
        assert screen.query_one("#fields").has_class("-playing")
        await pilot.press("space")
        assert player.paused
        await pilot.press("space")
        assert not player.paused
        await pilot.press("escape")
        await wait_for(pilot, lambda: not player.playing, what="playback to stop")
        assert not screen.query_one("#fields").has_class("-playing")
        assert screen.scene_list.has_focus


async def test_moving_to_another_scene_stops_a_clip(tmp_path: Path) -> None:
    app = make_app(await project_with_clips(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        replace_clips(screen, 3)
        player = screen.query_one(Player)
        await pilot.press("p")
        await wait_for(pilot, lambda: player.playing, what="playback")
        await pilot.press("down")
        await wait_for(pilot, lambda: not player.playing, what="playback to stop")


async def test_P_plays_on_and_the_cursor_follows_the_scene_playing(tmp_path: Path) -> None:
    app = make_app(await project_with_clips(tmp_path, seconds=0.4))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        replace_clips(screen, 1)  # scenes 2 and 3 play their stills (PNG "clips" fail)
        first = screen.scene_list.highlighted
        player = screen.query_one(Player)
        await pilot.press("P")
        await wait_for(pilot, lambda: player.playing, what="playback")
        await wait_for(
            pilot,
            lambda: screen.scene_list.highlighted not in (None, first),
            what="the cursor to follow the second scene",
        )
        await wait_for(pilot, lambda: not player.playing, timeout=8, what="the end")


async def test_p_without_a_clip_says_so(tmp_path: Path) -> None:
    data = storyboard_json(2)
    app = make_app(await build_project(tmp_path, 2, assets=False, data=data))
    toasts = Toasts()
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("p")
        assert not screen.query_one(Player).playing
        assert any("has no clip yet" in text for text in toasts.messages())
