"""Clip frames for the screen: decoded in order, fitted to a box, thumbnails, and the pacer."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.media_helpers import index_of, level_of, mean_level, write_clip
from tui.media.errors import MediaError
from tui.media.frames import Pacer, decode_frames, iter_raw_frames, probe_clip, thumbnails
from tui.media.pictures import fit_size, letterbox, title_card


def test_probe_reads_the_headers(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "c.mp4", frames=12, fps=8, size=(64, 48))
    info = probe_clip(path)
    assert (info.codec, info.width, info.height, info.pix_fmt) == ("h264", 64, 48, "yuv420p")
    assert info.fps == Fraction(8)
    assert info.frames == 12
    assert info.duration == pytest.approx(1.5)


def test_frames_come_in_display_order_with_their_times_fitted_to_the_box(tmp_path: Path) -> None:
    """B-frames are decoded out of order; the viewer must see them in order."""
    path = write_clip(tmp_path / "c.mp4", frames=10, fps=8, size=(64, 48))
    frames = list(decode_frames(path, (32, 32)))
    assert [f.time for f in frames] == [i / 8 for i in range(10)]
    assert {f.image.size for f in frames} == {(32, 24)}  # 4:3 kept inside a square box
    assert [index_of(mean_level(f.image)) for f in frames] == list(range(10))


def test_decoding_from_a_start_time_skips_what_comes_before(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "c.mp4", frames=16, fps=8)
    raws = list(iter_raw_frames(path, start=1.0))
    assert [r.time for r in raws] == [1.0 + i / 8 for i in range(8)]
    assert index_of(mean_level(raws[0].image((64, 48)))) == 8


def test_thumbnails_are_first_middle_and_last(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "c.mp4", frames=9, fps=8)
    strip = thumbnails(path, (16, 16))
    assert [image.size for image in strip] == [(16, 12)] * 3
    assert [index_of(mean_level(image)) for image in strip] == [0, 5, 8]


def test_thumbnails_of_a_long_clip_seek_rather_than_decode_it_all(tmp_path: Path) -> None:
    # 6 s at 8 fps with a keyframe every 8 frames: the middle and the end are found by seeking.
    path = tmp_path / "long.mp4"
    write_clip(path, frames=48, fps=8, gop=8)
    strip = thumbnails(path, (64, 48))
    indices = [index_of(mean_level(image)) for image in strip]
    assert indices == [0, 24 % 18, 47 % 18]


def test_a_missing_or_corrupt_clip_is_one_line_naming_it(tmp_path: Path) -> None:
    gone = tmp_path / "gone.mp4"
    with pytest.raises(MediaError) as caught:
        list(decode_frames(gone, (10, 10)))
    assert str(caught.value) == f"{gone}: no such clip"
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 500)
    for call in (lambda: probe_clip(corrupt), lambda: thumbnails(corrupt, (8, 8))):
        with pytest.raises(MediaError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"{corrupt}: not a readable video (") and "\n" not in message


def test_a_clip_whose_frames_are_garbage_stops_with_a_line(tmp_path: Path) -> None:
    """Headers intact, picture data overwritten: the decoder finds no picture it can show."""
    path = write_clip(tmp_path / "c.mp4", frames=8)
    data = bytearray(path.read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = b"\xff" * (size - 8)  # every packet, not the index
    path.write_bytes(bytes(data))
    assert probe_clip(path).frames == 8  # the index still reads
    with pytest.raises(MediaError) as caught:
        list(decode_frames(path, (8, 8)))
    assert str(caught.value) == (
        f"{path}: stopped decoding (Invalid data found when processing input)"
    )


def test_fit_size_keeps_the_aspect() -> None:
    assert fit_size(1280, 720, (60, 40)) == (60, 34)
    assert fit_size(64, 48, (200, 100)) == (133, 100)
    assert fit_size(10, 1000, (5, 5)) == (1, 5)
    with pytest.raises(ValueError):
        fit_size(0, 10, (5, 5))


def test_letterbox_centres_on_black_and_title_cards_have_words() -> None:
    from PIL import Image

    wide = Image.new("RGB", (160, 90), (200, 200, 200))
    boxed = letterbox(wide, (80, 60))
    assert boxed.size == (80, 60)
    assert mean_level(boxed, (0, 0, 80, 7)) == 0  # the bar above
    assert mean_level(boxed, (0, 20, 80, 40)) == pytest.approx(200, abs=1)
    card = title_card("The keeper climbed the stairs\x1b[31m one last time.", (320, 180))
    assert card.size == (320, 180)
    assert 0 < mean_level(card) < 60  # light words on black
    assert mean_level(title_card("", (320, 180))) == 0
    assert title_card("tiny", (8, 8)).size == (8, 8)


def test_title_cards_survive_long_words_and_long_narration() -> None:
    """A pasted URL or 5,000 x's must wrap, and a paragraph must end in an ellipsis."""
    import time as clock

    started = clock.perf_counter()
    card = title_card("x" * 5000, (320, 180))
    assert clock.perf_counter() - started < 2.0
    assert mean_level(card) > 0
    long_card = title_card(" ".join(["word"] * 400), (320, 180))
    short_card = title_card(" ".join(["word"] * 5), (320, 180))
    assert mean_level(long_card) > mean_level(short_card)  # more lines, more ink


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_keeps_time_drops_late_frames_and_pauses() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.start()
    interval = 1 / 16
    assert pacer.delay(0.5) == pytest.approx(0.5)
    clock.now += 0.5
    assert pacer.delay(0.5) == pytest.approx(0.0)
    assert not pacer.is_late(0.5, interval)
    clock.now += interval * 0.9  # late, but the next frame is not yet due: still shown
    assert not pacer.is_late(0.5, interval)
    clock.now += interval * 0.2  # the next frame is due: this one is dropped
    assert pacer.is_late(0.5, interval)
    position = pacer.position()
    pacer.pause()
    clock.now += 30.0
    assert pacer.paused and pacer.position() == position
    assert pacer.delay(10.0) == float("inf")
    pacer.resume()
    assert pacer.position() == pytest.approx(position)
    pacer.start(2.0)  # a loop or a seek restarts the clock at a media time
    assert pacer.position() == pytest.approx(2.0)


def test_levels_helper_matches_what_the_clip_writer_wrote(tmp_path: Path) -> None:
    """Guards the helpers the other media tests lean on."""
    path = write_clip(tmp_path / "c.mp4", frames=3)
    frames = list(decode_frames(path, (64, 48)))
    assert [round(mean_level(f.image)) for f in frames] == pytest.approx(
        [level_of(i) for i in range(3)], abs=2
    )
