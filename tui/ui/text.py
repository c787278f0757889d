"""Turning user and server text into something a terminal can show safely.

Prompts, narration and server errors are content, never markup; and a raw
escape code in them must not reach the terminal, where it would repaint the
screen. Control characters are shown as their Unicode control pictures, so
`\\x1b[31m` reads `␛[31m`, literally; bidi overrides and zero-width characters
as a code-point tag (`⟨U+202E⟩`).
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

from tui import textsafe


def plain(text: str, *, multiline: bool = False) -> str:
    """Replace control, bidi and zero-width characters with visible stand-ins.

    The TUI and the CLI share one sanitizer (`tui.textsafe`), so a prompt reads
    the same in both.

    Args:
        text: Untrusted text (a prompt, a server message).
        multiline: Keep newlines and tabs, for text shown on several lines.
    """
    return textsafe.visible(text, multiline=multiline)


def one_line(text: str) -> str:
    """Untrusted text squeezed onto one line: newlines become spaces."""
    return textsafe.one_line(text)


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
