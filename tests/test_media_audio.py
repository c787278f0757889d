"""Narration audio: the accepted extensions, durations probed with PyAV, one line per bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media_helpers import write_audio, write_clip, write_wav
from tui.media.audio import (
    AUDIO_EXTENSIONS,
    check_extension,
    durations_differ,
    is_audio_file,
    probe_duration,
)
from tui.media.errors import MediaError


def test_wav_duration_is_sample_exact(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "01.wav", 1.5, rate=16_000)
    assert probe_duration(path) == pytest.approx(1.5, abs=1e-9)
    assert probe_duration(str(path)) == pytest.approx(1.5, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "codec", "tolerance"),
    [
        # Lossy codecs pad to whole frames (AAC: 1024 samples plus priming): still far
        # inside the 0.1 s that decides whether `new` warns.
        ("narration.mp3", "libmp3lame", 0.05),
        ("narration.m4a", "aac", 0.05),
        ("narration.ogg", "libopus", 0.05),
        ("narration.flac", "flac", 1e-9),
    ],
)
def test_every_accepted_format_is_probed(
    tmp_path: Path, name: str, codec: str, tolerance: float
) -> None:
    path = write_audio(tmp_path / name, 2.25, codec=codec)
    assert probe_duration(path) == pytest.approx(2.25, abs=tolerance)


def test_extensions_are_the_issues_five_in_any_case(tmp_path: Path) -> None:
    assert AUDIO_EXTENSIONS == (".wav", ".mp3", ".m4a", ".ogg", ".flac")
    assert is_audio_file("a/B.WAV") and is_audio_file(Path("x.Flac"))
    assert not is_audio_file("notes.txt") and not is_audio_file("voice.aiff")
    with pytest.raises(MediaError) as caught:
        check_extension("audio/01.aiff")
    assert str(caught.value) == (
        "audio/01.aiff: not a narration audio file (use wav, mp3, m4a, ogg or flac)"
    )
    # A wav renamed to .aiff is refused by name, before anything is read.
    renamed = write_wav(tmp_path / "x.wav", 0.5).rename(tmp_path / "x.aiff")
    with pytest.raises(MediaError, match="not a narration audio file"):
        probe_duration(renamed)


def _one_line(error: pytest.ExceptionInfo[MediaError], path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "audio" / "gone.wav"
    with pytest.raises(MediaError) as caught:
        probe_duration(path)
    assert _one_line(caught, path) == f"{path}: no such audio file"


def test_garbage_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp3"
    path.write_bytes(b"this is not audio at all " * 200)
    with pytest.raises(MediaError) as caught:
        probe_duration(path)
    assert "cannot be decoded as audio" in _one_line(caught, path)


def test_a_truncated_wav_reports_what_is_really_there(tmp_path: Path) -> None:
    """A wav cut short by a failed copy still claims its old length in the header."""
    path = write_wav(tmp_path / "cut.wav", 2.0, rate=8_000)
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 8_000 * 2])  # header + one second of 16-bit mono
    assert probe_duration(path) == pytest.approx(1.0, abs=1e-3)


def test_a_file_with_no_audio_stream(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    path = clip.rename(tmp_path / "silent.m4a")
    with pytest.raises(MediaError) as caught:
        probe_duration(path)
    assert _one_line(caught, path) == f"{path}: has no audio stream"


def test_an_empty_wav_has_no_samples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "empty.wav", 0.0)
    with pytest.raises(MediaError) as caught:
        probe_duration(path)
    assert _one_line(caught, path) == f"{path}: holds no audio samples"


def test_durations_differ_only_beyond_a_tenth_of_a_second() -> None:
    assert not durations_differ(4.8, 4.75)
    assert not durations_differ(4.8, None)
    assert durations_differ(4.8, 4.6)
    assert durations_differ(3.0, 3.2)
