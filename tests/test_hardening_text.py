"""Issue 10 item 3: no escape code, bidi override or invisible character reaches a terminal raw."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.textsafe import codepoint_tag, one_line, visible
from tui.ui.text import one_line as ui_one_line
from tui.ui.text import plain

OSC52 = "\x1b]52;c;aGVsbG8=\x1b\\"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;title\x07"

FLAG_SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
KEPT_SEQUENCES = (FAMILY, RAINBOW_FLAG, FLAG_SCOTLAND)


def raw_hazards(text: str) -> list[str]:
    """Characters a terminal would obey or hide, outside the emoji sequences we keep."""
    for sequence in KEPT_SEQUENCES:
        text = text.replace(sequence, "")
    return [
        ch
        for ch in text
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in "\n\t"
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (OSC52, "␛]52;c;aGVsbG8=␛\\"),
        (CLEAR, "␛[2J"),
        (TITLE, "␛]0;title␇"),
        ("\x9b31m red", "⟨U+009B⟩31m red"),  # 8-bit CSI
        ("\x9d0;title\x9c", "⟨U+009D⟩0;title⟨U+009C⟩"),  # 8-bit OSC and ST
        ("bell\x07 and del\x7f", "bell␇ and del␡"),
    ],
)
def test_terminal_escapes_are_shown_as_symbols(text: str, shown: str) -> None:
    """Issue 10 item 3: an OSC 52 clipboard write, a screen clear and a title change come
    out as visible symbols (␛), in one line or several."""
    assert visible(text) == shown
    assert visible(text, multiline=True) == shown


@pytest.mark.parametrize(
    "char",
    [
        "\u202e",  # right-to-left override
        "\u202d",  # left-to-right override
        "\u202a",  # left-to-right embedding
        "\u2066",  # left-to-right isolate
        "\u2067",  # right-to-left isolate
        "\u2069",  # pop directional isolate
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u061c",  # Arabic letter mark
    ],
)
def test_bidi_controls_are_shown_visibly(char: str) -> None:
    """Issue 10 item 3: bidi overrides and marks are shown, not obeyed."""
    text = f"invoice{char}gpj.exe"
    assert visible(text) == f"invoice{codepoint_tag(char)}gpj.exe"
    assert codepoint_tag(char).startswith("⟨U+") and codepoint_tag(char).endswith("⟩")


@pytest.mark.parametrize(
    "char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u3164"]
)
def test_zero_width_and_invisible_characters_are_shown(char: str) -> None:
    """Issue 10 item 3: zero-width characters (and letters that draw nothing) are shown."""
    assert visible(f"pass{char}word") == f"pass{codepoint_tag(char)}word"


def test_hidden_tag_text_is_shown() -> None:
    """Issue 10 item 3: Unicode tag characters (invisible "ASCII smuggling") are shown."""
    smuggled = "".join(chr(0xE0000 + ord(c)) for c in "hi")
    assert visible(f"a{smuggled}b") == "a⟨U+E0068⟩⟨U+E0069⟩b"


def test_emoji_sequences_keep_their_joiners_and_tags() -> None:
    """Issue 10 item 3: a joiner between emoji and a flag's tags are not hiding anything."""
    for sequence in KEPT_SEQUENCES:
        assert visible(f"a {sequence} b") == f"a {sequence} b"
    assert visible("\U0001f469\u200d") == "\U0001f469⟨U+200D⟩"  # a joiner to nothing


def test_lone_surrogates_are_shown_and_the_result_can_be_printed() -> None:
    """Issue 10 item 3: undecodable bytes in a name cannot crash the print either."""
    shown = visible("film\udcff\ud800")
    assert shown == "film⟨U+DCFF⟩⟨U+D800⟩"
    shown.encode("utf-8")


def test_multiline_keeps_newlines_and_tabs_but_not_carriage_returns() -> None:
    """Issue 10 item 3: a \\r would let a line overwrite itself; it is shown."""
    assert visible("one\n\ttwo\r three", multiline=True) == "one\n\ttwo␍ three"
    assert visible("one\n\ttwo") == "one␊␉two"
    assert visible("a\u2028b", multiline=True) == "a⟨U+2028⟩b"


def test_one_line_squeezes_spaces_but_shows_separators() -> None:
    """Issue 10 item 3: newlines become spaces; other separators are shown, not swallowed."""
    assert one_line("  two\r\nlines\x07  ") == "two lines␇"
    assert one_line("a\x1cb\u2029c") == "a␜b⟨U+2029⟩c"


def test_the_tui_shows_bidi_and_zero_width_visibly_too() -> None:
    """Issue 10 item 3: the TUI's helpers use the same sanitizer as the CLI."""
    assert plain("a\u202eb\u200bc") == "a⟨U+202E⟩b⟨U+200B⟩c"
    assert plain("x\ny\u202e", multiline=True) == "x\ny⟨U+202E⟩"
    assert ui_one_line("a\n\u2066b") == "a ⟨U+2066⟩b"


TRICKY = list(
    "\x1b\x9b\r\n\t\u202e\u2066\u200b\u200d\ufe0f\u2028\U0001f469\U0001f3f4\U000e0067\U000e007f"
)
ANY_CHARACTER = st.one_of(st.characters(exclude_categories=[]), st.sampled_from(TRICKY))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ANY_CHARACTER, max_size=60), st.booleans())
def test_nothing_hazardous_survives_and_showing_twice_changes_nothing(
    text: str, multiline: bool
) -> None:
    """Issue 10 item 3: for any text, no control, format, surrogate or separator character
    survives (emoji sequences aside), the output encodes as UTF-8, and it is stable."""
    shown = visible(text, multiline=multiline)
    hazards = raw_hazards(shown)
    if not multiline:
        assert "\n" not in shown and "\t" not in shown
    assert hazards == []
    shown.encode("utf-8")
    assert visible(shown, multiline=multiline) == shown


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=60))
def test_ordinary_text_passes_through_unchanged(text: str) -> None:
    """Issue 10 item 3: letters, digits, punctuation, symbols and spaces are left alone."""
    assert visible(text) == text
