"""Turning user and server text into something a terminal can show safely.

Prompts, narration and server errors are content, never markup; and a raw
escape code in them must not reach the terminal, where it would repaint the
screen. Control characters are shown as their Unicode control pictures, so
`\\x1b[31m` reads `␛[31m`, literally.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

_CONTROL_PICTURES = {code: 0x2400 + code for code in range(0x20)}
_CONTROL_PICTURES[0x7F] = 0x2421
_C1 = {code: 0xFFFD for code in range(0x80, 0xA0)}
_SINGLE_LINE = {**_CONTROL_PICTURES, **_C1}
_MULTI_LINE = {code: picture for code, picture in _SINGLE_LINE.items() if code not in (0x09, 0x0A)}


def plain(text: str, *, multiline: bool = False) -> str:
    """Replace control characters with visible stand-ins.

    Args:
        text: Untrusted text (a prompt, a server message).
        multiline: Keep newlines and tabs, for text shown on several lines.
    """
    if multiline:
        return text.translate(_MULTI_LINE)
    return text.translate(_SINGLE_LINE)


def one_line(text: str) -> str:
    """Untrusted text squeezed onto one line: newlines become spaces."""
    return plain(" ".join(text.split()))


def fit(text: str, width: int) -> str:
    """Pad or cut `text` to exactly `width` cells, ending a cut with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


def plural(count: int, noun: str) -> str:
    """`1 image`, `4 images`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def duration(seconds: float) -> str:
    """A time left, in the words a person reads at a glance."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
