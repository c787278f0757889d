"""The draft renderer's real output: PNG cards and H.264 animatics, decoded back."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from tui.backends.draft.render import (
    RenderCancelled,
    clean_text,
    frame_count,
    render_clip,
    render_still,
)
from tui.domain.camera import CAMERA_NAMES

W, H = 160, 96
FPS = 8


def still(prompt: str = "a lighthouse on a cliff at dusk", seed: int = 7, **kw: object) -> bytes:
    args: dict[str, object] = {
        "prompt": prompt,
        "seed": seed,
        "position": 3,
        "width": W,
        "height": H,
    }
    args.update(kw)
    return render_still(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def card() -> bytes:
    return still()


def decode(data: bytes) -> tuple[av.video.stream.VideoStream, list[Image.Image], float]:
    """Stream facts, frames as RGB images, and the container duration in seconds."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_image() for frame in container.decode(stream)]
        seconds = container.duration / av.time_base if container.duration else 0.0
    return stream, frames, seconds


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute per-channel difference, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def clip(card: bytes, camera: str = "static", motion: float = 1.0, **kw: object) -> bytes:
    args: dict[str, object] = {
        "still": card,
        "camera": camera,
        "motion": motion,
        "duration": 1.0,
        "fps": FPS,
        "width": W,
        "height": H,
    }
    args.update(kw)
    return render_clip(**args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- stills


def test_still_is_png_of_the_asked_size(card: bytes) -> None:
    assert card.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(card))
    assert image.format == "PNG"
    assert image.size == (W, H)
    # Not a blank card: the drawing has real variation in it.
    assert max(ImageStat.Stat(image.convert("RGB")).stddev) > 10


def test_still_is_deterministic(card: bytes) -> None:
    assert still() == card


def test_different_prompt_or_seed_gives_different_card(card: bytes) -> None:
    assert still(prompt="a desert road at noon") != card
    assert still(seed=8) != card
    assert still(negative_prompt="blurry") != card


def test_scene_number_changes_the_card(card: bytes) -> None:
    assert still(position=4) != card


@pytest.mark.parametrize(
    "prompt",
    [
        "[bold red]markup[/] [link=http://x]not a link[/link] {braces} <b>html</b>",
        "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\x00\x07\x08 tab\there\r\nnewline",
        "word " * 1000,
        "x" * 5000,
        "🎬🌊 emoji 👩‍👩‍👧 and 漢字 and \u202eRTL override \ud800 lone surrogate",
        "",
    ],
    ids=["markup", "escapes", "5000-words", "5000-chars", "emoji", "empty"],
)
def test_hostile_prompt_text_renders(prompt: str) -> None:
    data = still(prompt=prompt, negative_prompt=prompt)
    assert Image.open(io.BytesIO(data)).size == (W, H)


def test_clean_text_strips_escapes_and_controls() -> None:
    cleaned = clean_text("\x1b[31mred\x1b[0m\x00 and\r\n\tblue \x1b]0;t\x07\u200bok")
    assert cleaned == "red and blue ok"
    assert clean_text("[bold]kept[/bold]") == "[bold]kept[/bold]"


def test_tiny_and_odd_card_sizes_render() -> None:
    for width, height in [(2, 2), (17, 9), (97, 65)]:
        data = still(width=width, height=height)
        assert Image.open(io.BytesIO(data)).size == (width, height)


def test_still_progress_is_monotonic_and_complete() -> None:
    calls: list[tuple[int, int]] = []
    still(progress=lambda done, total: calls.append((done, total)))
    assert len(calls) >= 3
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == calls[-1][1]
    assert {total for _, total in calls} == {calls[-1][1]}


def test_still_cancel_raises() -> None:
    with pytest.raises(RenderCancelled):
        still(cancel=lambda: True)


def test_still_cancel_midway_stops_reporting() -> None:
    calls: list[tuple[int, int]] = []
    with pytest.raises(RenderCancelled):
        still(
            progress=lambda done, total: calls.append((done, total)),
            cancel=lambda: len(calls) >= 2,
        )
    assert calls == [(1, 4), (2, 4)]


# --------------------------------------------------------------------------- clips


def test_frame_count() -> None:
    assert frame_count(1.0, 8) == 8
    assert frame_count(2.5, 16) == 40
    assert frame_count(0.0, 16) == 1
    assert frame_count(0.01, 8) == 1


def test_clip_decodes_as_h264_with_asked_shape(card: bytes) -> None:
    data = clip(card, "pan_left", 0.5, duration=1.5)
    stream, frames, seconds = decode(data)
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert len(frames) == frame_count(1.5, FPS) == 12
    assert (stream.width, stream.height) == (W, H)
    assert all(frame.size == (W, H) for frame in frames)
    assert stream.average_rate == Fraction(FPS)
    assert seconds == pytest.approx(1.5, abs=1 / FPS)


def test_odd_size_rounds_down_to_even(card: bytes) -> None:
    stream, frames, _ = decode(clip(card, width=W + 1, height=H - 1))
    assert (stream.width, stream.height) == (W, H - 2)
    assert frames[0].size == (W, H - 2)


def test_clip_from_a_still_of_another_size_and_shape(card: bytes) -> None:
    tall = still(width=64, height=128)
    stream, frames, _ = decode(clip(tall, "roll_ccw", 1.0))
    assert (stream.width, stream.height) == (W, H)
    assert len(frames) == FPS


def test_zero_duration_gives_one_frame(card: bytes) -> None:
    _, frames, _ = decode(clip(card, "zoom_in", duration=0.0))
    assert len(frames) == 1


@pytest.mark.parametrize("camera", [c for c in CAMERA_NAMES if c != "static"])
def test_every_camera_move_is_real(card: bytes, camera: str) -> None:
    _, frames, _ = decode(clip(card, camera, 1.0))
    assert mean_diff(frames[0], frames[-1]) > 8


def test_pan_left_slides_the_picture_right(card: bytes) -> None:
    """The camera turns left, so what was at the left edge moves toward the middle."""
    _, frames, _ = decode(clip(card, "pan_left", 1.0))
    first, last = frames[0], frames[-1]
    shift = round(W * 0.25)
    # The last frame, shifted back left by the pan distance, lines up with the first.
    aligned = mean_diff(first.crop((0, 0, W - shift, H)), last.crop((shift, 0, W, H)))
    misaligned = mean_diff(first.crop((shift, 0, W, H)), last.crop((0, 0, W - shift, H)))
    assert aligned < misaligned / 2


def test_static_and_zero_motion_do_not_move(card: bytes) -> None:
    for camera, motion in [("static", 1.0), ("pan_left", 0.0), ("roll_cw", 0.0)]:
        _, frames, _ = decode(clip(card, camera, motion))
        assert mean_diff(frames[0], frames[-1]) < 2, camera


def test_static_clip_shows_the_whole_still(card: bytes) -> None:
    _, frames, _ = decode(clip(card, "static", 0.0))
    original = Image.open(io.BytesIO(card)).convert("RGB")
    assert mean_diff(frames[0], original) < 6


def test_more_motion_moves_further(card: bytes) -> None:
    _, gentle, _ = decode(clip(card, "zoom_in", 0.2))
    _, strong, _ = decode(clip(card, "zoom_in", 1.0))
    assert mean_diff(gentle[0], gentle[-1]) < mean_diff(strong[0], strong[-1])


def test_clip_progress_is_per_frame_and_complete(card: bytes) -> None:
    calls: list[tuple[int, int]] = []
    clip(card, "zoom_out", progress=lambda done, total: calls.append((done, total)))
    total = frame_count(1.0, FPS)
    assert calls == [(i, total) for i in range(1, total + 1)]


@pytest.mark.parametrize("after", [0, 3])
def test_clip_cancel_raises(card: bytes, after: int) -> None:
    calls: list[tuple[int, int]] = []
    with pytest.raises(RenderCancelled):
        clip(
            card,
            "pan_right",
            progress=lambda done, total: calls.append((done, total)),
            cancel=lambda: len(calls) >= after,
        )
    assert len(calls) == after


def test_bad_camera_is_a_value_error_naming_the_choices(card: bytes) -> None:
    with pytest.raises(ValueError, match="pan_left") as info:
        clip(card, "dolly_zoom")
    assert "dolly_zoom" in str(info.value)
    assert all(name in str(info.value) for name in CAMERA_NAMES)


@pytest.mark.parametrize("motion", [-0.1, 1.01, float("nan")])
def test_bad_motion_is_a_value_error(card: bytes, motion: float) -> None:
    with pytest.raises(ValueError, match="motion"):
        clip(card, "zoom_in", motion)


def test_unreadable_still_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="still"):
        clip(b"not a png", "static")


@pytest.mark.parametrize("size", [(96, 64), (100, 70)])
def test_every_move_renders_at_small_sizes(size: tuple[int, int]) -> None:
    """Guards a float-rounding crash ("box offset can't be negative") in small pans."""
    width, height = size
    still = render_still(prompt="x", seed=1, position=1, width=width, height=height)
    for camera in CAMERA_NAMES:
        for motion in (0.05, 0.3, 0.8):
            clip = render_clip(
                still=still,
                camera=camera,
                motion=motion,
                duration=0.25,
                fps=8,
                width=width,
                height=height,
            )
            assert clip[4:8] == b"ftyp"
