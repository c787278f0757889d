"""Issue 10 item 8 and the scale finding: the draft renderer's memory and time stay bounded."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from PIL import Image

from tui.backends.draft import render
from tui.backends.draft.render import (
    card_text,
    render_clip,
    render_still,
    write_clip,
)
from tui.domain.models import scene_seconds_limit, set_scene_seconds_limit

TINY = 16


@pytest.fixture(scope="module")
def tiny_still() -> bytes:
    return render_still(prompt="x", seed=1, position=1, width=TINY * 2, height=TINY * 2)


def peak_bytes(path: Path, still: bytes, seconds: float, fps: int) -> int:
    """The most Python memory a clip of `seconds` takes to write to `path`."""
    tracemalloc.start()
    try:
        write_clip(
            path,
            still=still,
            camera="roll_cw",
            motion=1.0,
            duration=seconds,
            fps=fps,
            width=TINY,
            height=TINY,
        )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.slow
def test_clip_memory_stays_flat_however_long_the_scene(tmp_path: Path, tiny_still: bytes) -> None:
    """Issue 10 item 8: the draft renderer streams frames and never holds them all: a
    clip twenty times longer takes no more memory to make."""
    clip = tmp_path / "clip.mp4"
    peak_bytes(clip, tiny_still, 2, 8)  # warm up codec and module state
    short = peak_bytes(clip, tiny_still, 15, 8)  # 120 frames
    long = peak_bytes(clip, tiny_still, 300, 8)  # 2,400 frames
    assert frames_in(clip) == 2400
    assert long < short + 32 * 1024, (short, long)


def test_write_clip_streams_to_a_file_that_decodes(tmp_path: Path, tiny_still: bytes) -> None:
    """Issue 10 item 8: a clip can go straight to a file (the engine's staging name)."""
    clip = tmp_path / "clip.mp4"
    write_clip(
        clip, still=tiny_still, camera="pan_left", motion=0.5, duration=1, fps=8, width=32, height=8
    )
    assert frames_in(clip) == 8
    same = render_clip(
        still=tiny_still, camera="pan_left", motion=0.5, duration=1, fps=8, width=32, height=8
    )
    assert same == clip.read_bytes(), "render_clip is the same clip, as bytes"


def test_a_cancelled_clip_leaves_no_half_written_file(tmp_path: Path, tiny_still: bytes) -> None:
    """Issue 10 item 8: a clip written to a path is either whole or absent."""
    clip = tmp_path / "clip.mp4"
    calls: list[int] = []
    with pytest.raises(render.RenderCancelled):
        write_clip(
            clip,
            still=tiny_still,
            camera="zoom_in",
            motion=1.0,
            duration=2,
            fps=8,
            width=TINY,
            height=TINY,
            progress=lambda done, total: calls.append(done),
            cancel=lambda: len(calls) >= 3,
        )
    assert not clip.exists()


@pytest.fixture
def restore_limit() -> Iterator[None]:
    before = scene_seconds_limit()
    yield
    set_scene_seconds_limit(before)


@pytest.mark.parametrize("seconds", [1e9, 4800.0, 600.5, float("inf")])
def test_a_duration_over_the_limit_fails_at_once(tiny_still: bytes, seconds: float) -> None:
    """Issue 10 item 8: a stored duration from before the limit fails its job at once,
    instead of hanging the run on every resume."""
    with pytest.raises(ValueError, match="duration must be between 0 and 600 seconds"):
        render_clip(
            still=tiny_still,
            camera="static",
            motion=0.0,
            duration=seconds,
            fps=16,
            width=TINY,
            height=TINY,
        )


@pytest.mark.usefixtures("restore_limit")
def test_the_renderer_follows_the_limit_setting(tiny_still: bytes) -> None:
    """Issue 10 item 8: the renderer and the edit rules share one limit."""
    set_scene_seconds_limit(1)
    with pytest.raises(ValueError, match="between 0 and 1 seconds"):
        render_clip(
            still=tiny_still, camera="static", motion=0.0, duration=2, fps=4, width=8, height=8
        )


# -- scale: a 1 MB prompt ---------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["x" * 1_000_000, "word " * 200_000, "\x1b[31m" * 150_000, "漢字" * 500_000],
    ids=["one-word", "words", "escapes", "cjk"],
)
def test_a_megabyte_prompt_measures_only_what_the_card_can_show(
    monkeypatch: pytest.MonkeyPatch, prompt: str
) -> None:
    """Scale: a 1 MB prompt took 33 s per draft image. The card measures and draws at most
    what fits its panel; the prompt itself is not cut (the caller's string is whole)."""
    measured: list[int] = []
    real = render._text_width

    def counting(font: render.AnyFont, text: str) -> float:
        measured.append(len(text))
        return real(font, text)

    monkeypatch.setattr(render, "_text_width", counting)
    data = render_still(
        prompt=prompt, negative_prompt=prompt, seed=1, position=1, width=832, height=480
    )
    assert Image.open(io.BytesIO(data)).size == (832, 480)
    assert sum(measured) < 100_000, sum(measured)
    assert len(prompt) >= 750_000


def test_the_card_text_is_cut_with_an_ellipsis() -> None:
    """Scale: what the card shows of a long prompt says that it goes on."""
    assert card_text("  " + "x" * 10_000, 50) == "x" * 50 + "…"
    assert card_text("short prompt", 50) == "short prompt"
    assert card_text("\x1b[31m" * 1000 + "red", 50).endswith("…")


def test_long_words_break_into_full_lines() -> None:
    """Scale: a hard-broken word fills each line (found by halving, not char by char)."""
    font = render._font(20)
    word = "abcdefghij" * 300
    pieces = list(render._split_long(word, font, 200))
    assert "".join(pieces) == word
    assert all(font.getlength(piece) <= 200 for piece in pieces)
    assert all(font.getlength(a + b[0]) > 200 for a, b in zip(pieces, pieces[1:], strict=False))


def test_a_clip_is_never_written_through_a_link_at_its_path(
    tmp_path: Path, tiny_still: bytes
) -> None:
    """Issue 10 item 1: a symlink planted at the staging name is replaced, not followed:
    the user's file it points at is untouched."""
    mine = tmp_path / "my_ref.png"
    mine.write_bytes(b"the user's own file")
    staging = tmp_path / ".tmp-scene-0001-1a2b3c4d.part"
    staging.symlink_to(mine)
    write_clip(
        staging, still=tiny_still, camera="static", motion=0.0, duration=1, fps=4, width=8, height=8
    )
    assert mine.read_bytes() == b"the user's own file"
    assert not staging.is_symlink() and frames_in(staging) == 4
