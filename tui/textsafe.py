"""The one gate between untrusted text and a terminal: every hidden character made visible.

Prompts, narration, project names, file names and server messages are the
user's (or a server's) text. Printed raw, an escape code in them repaints the
screen, sets the window title or writes the clipboard (OSC 52); a bidi
override reorders what the reader sees; a zero-width character hides text in
plain sight. So every such character is shown, never obeyed:

- C0 controls and DEL become their Unicode control pictures (ESC reads `␛`),
  the way the TUI has always shown them.
- Everything else that is invisible or steers the terminal or the text
  direction (C1 controls, bidi embeddings, overrides, isolates and marks,
  zero-width spaces and joiners, other format characters, line and paragraph
  separators, Hangul fillers, lone surrogates) becomes a code-point tag such
  as `⟨U+202E⟩`.

Two legitimate uses of invisible characters are kept whole, since emoji need
them: a zero-width joiner between two emoji (👩‍👧) and a flag's tag sequence
(🏴 followed by tag letters and a cancel tag). Variation selectors are not
format characters and are kept too.

Pure `str → str`, no Rich and no Textual, so the CLI and the TUI share it.
"""

from __future__ import annotations

import re

__all__ = ["codepoint_tag", "json_text", "one_line", "visible"]

_PICTURES = {code: 0x2400 + code for code in range(0x20)}
_PICTURES[0x7F] = 0x2421  # ␡
_SINGLE_LINE = dict(_PICTURES)
_MULTI_LINE = {code: pic for code, pic in _PICTURES.items() if code not in (0x09, 0x0A)}

# Characters that are invisible, reorder text or drive a terminal, beyond C0/DEL.
_HIDDEN_CLASS = (
    "\u0080-\u009f"  # C1 controls, 8-bit CSI (\x9b) and OSC (\x9d) among them
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers: letters that draw nothing
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180e"  # Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; LRM, RLM
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated formats
    "\ufeff"  # zero-width no-break space (BOM)
    "\ufff0-\ufffb"  # unassigned specials and interlinear annotation
    "\ud800-\udfff"  # lone surrogates (undecodable bytes); they cannot even be encoded
    "\U000110bd\U000110cd"  # Kaithi number signs
    "\U0001bca0-\U0001bca3"  # shorthand format controls
    "\U0001d173-\U0001d17a"  # musical format controls
    "\U000e0000-\U000e0fff"  # tags and their reserved block
)
# Emoji that a zero-width joiner may legitimately sit between (with a modifier or
# a variation selector at the end of the left-hand one).
_PICTOGRAPH = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u2300-\u27bf\u2934\u2935"
    "\u2b00-\u2bff\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_TAIL = _PICTOGRAPH + "\ufe0f\u20e3"

_HIDDEN = re.compile(
    # A flag written with tags, e.g. England: black flag, tag letters, cancel tag.
    "(?P<flag>\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,12}\U000e007f)"
    # A zero-width joiner inside an emoji sequence (👩‍👩‍👧, 🏳️‍🌈).
    f"|(?P<zwj>(?<=[{_EMOJI_TAIL}])\u200d(?=[{_PICTOGRAPH}]))"
    f"|(?P<hidden>[{_HIDDEN_CLASS}])"
)


def codepoint_tag(char: str) -> str:
    """`⟨U+202E⟩`: how a hidden character is shown."""
    return f"⟨U+{ord(char):04X}⟩"


def _show(match: re.Match[str]) -> str:
    hidden = match.group("hidden")
    if hidden is None:
        return match.group(0)  # an emoji's joiner or a flag: kept as it is
    return codepoint_tag(hidden)


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` with every control, format and invisible character shown as a symbol.

    Args:
        text: Untrusted text (a prompt, a file name, a server message).
        multiline: Keep newlines and tabs, for text shown on several lines. A
            carriage return is always shown (`␍`): it would overwrite the line.
    """
    text = text.translate(_MULTI_LINE if multiline else _SINGLE_LINE)
    return _HIDDEN.sub(_show, text)


_SPACES = re.compile("[ \t\n\r\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
"""Ordinary whitespace only: separators such as \x1c or U+2028 are shown, not swallowed."""


def one_line(text: str) -> str:
    """Untrusted text squeezed onto one line: runs of spaces and newlines become one space."""
    return visible(_SPACES.sub(" ", text).strip(" "))


_JSON_HIDDEN = re.compile(f"[{_HIDDEN_CLASS}\u007f]")


def json_text(encoded: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) safe to print raw.

    JSON escapes C0 controls itself but passes C1 controls (an 8-bit CSI), bidi
    overrides and zero-width characters through; these become `\\uXXXX`
    escapes, so the JSON stays valid and means the same while the terminal
    sees only plain text. Other non-ASCII text (é, 中文) stays readable.
    """
    return _JSON_HIDDEN.sub(_json_escape, encoded)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
