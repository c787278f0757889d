"""The one error every media function raises for bad input."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """A file that cannot be read or written, as one line that names the file.

    The message is meant to be shown to the creator as it is: it names the file
    and says what is wrong in plain words, without a traceback.
    """


def describe(error: BaseException) -> str:
    """A short, single-line reason for an OS or FFmpeg error."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    # FFmpeg errors repeat the file name after the reason; keep only the reason.
    reason = str(reason).split(": '")[0]
    return " ".join(reason.split())


def media_error(path: Path | str, what: str, error: BaseException | None = None) -> MediaError:
    """`MediaError("assets/x.mp4: not a readable video (Invalid data found …)")`."""
    detail = f" ({describe(error)})" if error is not None else ""
    return MediaError(f"{path}: {what}{detail}")
