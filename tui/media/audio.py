"""Narration audio: which files are accepted and how long they really are.

The duration is measured by decoding every sample rather than trusting the
container header: an mp3 without a Xing header only has a bitrate estimate,
and a truncated file has a header that promises more than it holds. Decoding
a few seconds of narration costs milliseconds and also proves the file plays.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.error

from tui.media.errors import MediaError, media_error

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".mp3", ".m4a", ".ogg", ".flac")
"""The narration formats an import may name, lower case, with the dot."""

DURATION_TOLERANCE = 0.1
"""Seconds a probe may differ from the import's audio_duration before `new` says so."""


def is_audio_file(path: Path | str) -> bool:
    """True when the name ends in one of the accepted extensions (any case)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def check_extension(path: Path | str) -> None:
    """Refuse a name that is not narration audio, before anything is opened."""
    if not is_audio_file(path):
        kinds = ", ".join(ext.lstrip(".") for ext in AUDIO_EXTENSIONS[:-1])
        raise MediaError(
            f"{path}: not a narration audio file (use {kinds} or {AUDIO_EXTENSIONS[-1][1:]})"
        )


def probe_duration(path: Path | str) -> float:
    """Seconds of audio in the file's first audio stream, from its decoded samples.

    Raises MediaError, naming the file, for a file that is gone, is not audio,
    or stops decoding part-way.
    """
    check_extension(path)
    samples = 0
    rate = 0
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise media_error(path, "has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
    except MediaError:
        raise
    except FileNotFoundError:
        raise media_error(path, "no such audio file") from None
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise media_error(path, "cannot be decoded as audio", error) from None
    if rate <= 0:
        raise media_error(path, "has no sample rate, so its length is unknown")
    if samples == 0:
        raise media_error(path, "holds no audio samples")
    return samples / rate


def durations_differ(probed: float, declared: float | None) -> bool:
    """Whether a probe contradicts the import's number enough to say so."""
    return declared is not None and abs(probed - declared) > DURATION_TOLERANCE
