"""The clip player and the thumbnail strip in a real Textual app, on real H.264 clips.

Clip frames are flat greys whose level says which frame they are, so the
tests read what is on screen from the drawn half-block strips themselves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.message import Message

from tests.media_helpers import index_of, mean_level, write_clip, write_png
from tests.ui.helpers import wait_for
from tui.media.playlist import PlayItem
from tui.ui.widgets.player import ClipStrip, Player, VideoHalfcellImage

SIZE = (60, 20)


class PlayerApp(App[None]):
    CSS = "Player { width: 40; height: 11; } ClipStrip { width: 40; height: 4; }"

    def __init__(self, renderer: Any = "halfblock") -> None:
        super().__init__()
        self.renderer = renderer
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield Player(self.renderer)
        yield ClipStrip(self.renderer)

    def on_player_item_started(self, message: Player.ItemStarted) -> None:
        self.messages.append(message)

    def on_player_stopped(self, message: Player.Stopped) -> None:
        self.messages.append(message)

    def stopped(self) -> list[Player.Stopped]:
        return [m for m in self.messages if isinstance(m, Player.Stopped)]

    def started(self) -> list[tuple[int, int | None]]:
        return [(m.index, m.scene_id) for m in self.messages if isinstance(m, Player.ItemStarted)]


def screen_level(player: Player) -> int:
    """The frame index shown, read back from the colours of the drawn picture's middle line."""
    picture = player.query_one("#picture", VideoHalfcellImage)
    strip = picture.render_line(picture.content_size.height // 2)
    colors = [seg.style.color for seg in strip if seg.style and seg.style.color]
    assert colors, "nothing drawn"
    triplet = colors[len(colors) // 2].triplet
    assert triplet is not None
    return index_of(sum(triplet) / 3)


async def test_a_clip_plays_every_frame_in_order_at_its_fps(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8, fps=8)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        seen: list[int] = []
        started = time.perf_counter()
        player.play_clip(clip, scene_id=7, loop=False)
        assert player.playing

        def record() -> bool:
            if player.frame_time is not None:
                level = screen_level(player)
                if not seen or seen[-1] != level:
                    seen.append(level)
            return bool(app.stopped())

        await wait_for(pilot, record, what="the clip to end")
        elapsed = time.perf_counter() - started
        assert app.stopped()[0].finished and app.stopped()[0].error is None
        assert app.started() == [(0, 7)]
        assert player.frames_shown + player.frames_dropped == 8
        assert player.frames_shown >= 6  # 8 fps is easy; allow a loaded test machine a slip
        assert seen == sorted(seen) and seen[-1] == 7
        assert 0.8 < elapsed < 3.0  # it kept the clip's time: 8 frames at 8 fps is 1 s
        assert not player.playing
        assert screen_level(player) == 7  # a clip that ran out keeps its last frame
        # The picture keeps the clip's 4:3 shape inside the 40x10 box.
        picture = player.query_one("#picture")
        assert picture.size.height == 10 and picture.size.width < 40


async def test_space_pauses_and_resumes_where_it_was(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=24, fps=8)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        player.focus()
        player.play_clip(clip, loop=True)
        await wait_for(pilot, lambda: player.frames_shown >= 3, what="three frames")
        await pilot.press("space")
        assert player.paused and "paused" in str(player.query_one("#caption").render())
        await pilot.pause(0.1)  # a frame already in flight may still land
        shown, position = player.frames_shown, player.frame_time
        await pilot.pause(0.6)  # nearly five frames' worth of time
        assert (player.frames_shown, player.frame_time) == (shown, position)
        await pilot.press("space")
        assert not player.paused
        await wait_for(pilot, lambda: player.frames_shown >= shown + 2, what="playing on")
        assert player.frame_time is not None and position is not None
        assert player.frame_time > position  # it carried on, it did not start again
        player.stop()


async def test_a_clip_loops(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=4, fps=8)  # half a second
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        player.play_clip(clip)  # `p` loops by default
        times: list[float] = []

        def record() -> bool:
            if player.frame_time is not None and (not times or times[-1] != player.frame_time):
                times.append(player.frame_time)
            return player.loops >= 2

        await wait_for(pilot, record, what="two loops")
        assert player.playing and not app.stopped()
        wraps = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
        assert wraps, times  # the time went back to the start
        assert app.started()[:2] == [(0, None), (0, None)]
        player.stop()
        await pilot.pause()
        assert [m.finished for m in app.stopped()] == [False]


async def test_frames_are_dropped_rather_than_falling_behind(tmp_path: Path) -> None:
    """120 fps is more than a terminal screen refreshes (Textual paints at most 60 times
    a second): the clip must still take its 1 s, with frames dropped."""
    clip = write_clip(tmp_path / "fast.mp4", frames=120, fps=120)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        started = time.perf_counter()
        player.play_clip(clip, loop=False)
        await wait_for(pilot, lambda: bool(app.stopped()), timeout=10, what="the end")
        elapsed = time.perf_counter() - started
        assert player.frames_shown + player.frames_dropped == 120
        assert player.frames_dropped > 0
        assert player.frames_shown >= 10
        assert elapsed < 2.0, f"fell behind: {elapsed:.2f} s for a 1 s clip"


async def test_the_storyboard_plays_clip_still_and_title_card_in_turn(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8, fps=8)
    still = write_png(tmp_path / "s.png", (240, 240, 240), size=(64, 36))
    items = [
        PlayItem(clip=clip, seconds=0.5, scene_id=3),  # cut at half a second
        PlayItem(still=still, seconds=0.3, scene_id=4),  # no clip: the still
        PlayItem(narration="She lit the lamp.", seconds=0.3, scene_id=5),  # a title card
    ]
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        titles: list[str | None] = []

        def record() -> bool:
            titles.append(player.title_text)
            return bool(app.stopped())

        started = time.perf_counter()
        player.play_items(items)
        await wait_for(pilot, record, what="the storyboard to end")
        elapsed = time.perf_counter() - started
        assert app.started() == [(0, 3), (1, 4), (2, 5)]
        assert app.stopped()[0].finished
        assert "She lit the lamp." in titles
        assert player.frames_shown + player.frames_dropped == 4 + 1 + 1
        assert 1.0 < elapsed < 3.5
        assert player.has_class("-title")  # the card stays up when the storyboard ends


async def test_the_still_shows_where_the_clip_is_missing(tmp_path: Path) -> None:
    still = write_png(tmp_path / "s.png", (240, 240, 240), size=(64, 36))
    gone = tmp_path / "gone.mp4"
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        player.play_items([PlayItem(clip=gone, still=still, seconds=0.2, scene_id=1)])
        await wait_for(pilot, lambda: bool(app.stopped()), what="the end")
        assert app.stopped()[0].error is None
        assert str(gone) in str(player.query_one("#caption").render())
        picture = player.query_one("#picture", VideoHalfcellImage)
        assert picture.image is not None
        assert mean_level(picture.image) > 230  # the still, not a clip frame


async def test_a_missing_or_corrupt_clip_stops_with_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 100)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        for path, words in ((tmp_path / "gone.mp4", "no such clip"), (corrupt, "not a readable")):
            app.messages.clear()
            player.play_clip(path)
            await wait_for(pilot, lambda: bool(app.stopped()), what="the failure")
            error = app.stopped()[0].error
            assert error is not None and str(path) in error and words in error
            assert "\n" not in error
            assert not player.playing
            assert str(path) in str(player.query_one("#caption").render())


async def test_stop_and_a_new_play_end_the_old_one(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=16, fps=8)
    other = write_clip(tmp_path / "d.mp4", frames=16, fps=8, start_index=10)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        player.play_clip(clip, scene_id=1)
        await wait_for(pilot, lambda: player.frames_shown >= 2, what="frames")
        player.play_clip(other, scene_id=2)  # the selection moved: the old clip stops
        await pilot.pause()
        assert [m.finished for m in app.stopped()] == [False]
        await wait_for(pilot, lambda: player.frames_shown >= 2, what="the new clip")
        assert screen_level(player) >= 10  # only the new clip's frames reach the screen
        player.stop()
        await pilot.pause()
        assert [m.finished for m in app.stopped()] == [False, False]
        shown = player.frames_shown
        await pilot.pause(0.4)
        assert player.frames_shown == shown and not player.playing
        assert player.query_one("#picture", VideoHalfcellImage).image is None


async def test_pictures_off_means_no_playback() -> None:
    app = PlayerApp(renderer="off")
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        player.play_clip(Path("whatever.mp4"))
        await pilot.pause()
        assert app.stopped()[0].error == "Playback needs pictures: the image renderer is off."
        assert not player.playing


async def test_the_strip_shows_first_middle_and_last_frames(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=9, fps=8)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        strip = app.query_one(ClipStrip)
        assert strip.has_class("-empty")
        strip.source = clip
        await wait_for(pilot, lambda: all(strip.pictures), what="thumbnails")
        levels = [index_of(mean_level(picture)) for picture in strip.pictures if picture]
        assert levels == [0, 5, 8]
        assert not strip.has_class("-empty")
        gone = tmp_path / "gone.mp4"
        strip.source = gone
        await wait_for(pilot, lambda: strip.has_class("-empty"), what="an empty strip")
        assert strip.error == f"{gone}: no such clip"
        assert strip.pictures == [None, None, None]


async def test_frames_follow_a_resize_of_the_picture_area(tmp_path: Path) -> None:
    """Guards that the decode box is read per frame, not fixed when playback starts."""
    clip = write_clip(tmp_path / "c.mp4", frames=16, fps=8)
    app = PlayerApp()
    async with app.run_test(size=SIZE) as pilot:
        player = app.query_one(Player)
        picture = player.query_one("#picture", VideoHalfcellImage)
        player.play_clip(clip)
        await wait_for(pilot, lambda: picture.image is not None, what="a frame")
        assert picture.image.size == (27, 20)  # 4:3 in 40x10 cells of 1x2 pixels
        player.styles.width = 20
        player.styles.height = 6
        await wait_for(pilot, lambda: picture.image.size == (13, 10), what="frames at the new size")
        player.stop()
