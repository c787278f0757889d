"""`?`: every key of the main screen, as the keymap has them now."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """A modal table of keys; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark",
            "dismiss",
            "Close",
            id="help.close",
            tooltip="Close the help",
        ),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, q, ? | Close. |
    """

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
        & > VerticalScroll {
            width: 72;
            max-width: 100%;
            height: auto;
            max-height: 90%;
            border: round $primary;
            border-title-color: $foreground;
            border-subtitle-color: $foreground-muted;
            background: $surface;
            padding: 0 1;
        }
        & .help-section { text-style: bold; color: $foreground; margin-top: 1; }
        & .help-row { height: auto; }
        & .help-key { width: 14; color: $accent; text-style: bold; }
        & .help-text { width: 1fr; }
        & .help-note { color: $foreground-muted; margin-top: 1; }
    }
    """

    LEGEND = (
        ("■ ▶", "Image / video is stale (yellow / orange)"),
        ("□ ▷", "Image / video not made yet"),
        ("✗", "The last job for that image or video failed; R retries every failure"),
        ("I #3", "An image job, third in the runner's queue (V for a video)"),
        ("I ━━ 40%", "An image job running, and how far it has got"),
        ("+1", "The scene has one more job waiting behind this one"),
    )
    """What the list's marks mean; they are drawn, not typed, so they need words."""

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        """`rows` are (section, keys, description), in the order to show them."""
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll() as body:
            body.border_title = "Keys"
            body.border_subtitle = "↑/↓ to scroll · esc to close"
            section = None
            for row_section, keys, description in self.rows:
                if row_section != section:
                    section = row_section
                    yield Static(Content(section), classes="help-section")
                yield self._row(keys, description)
            yield Static(Content("In the scene list"), classes="help-section")
            for marks, meaning in self.LEGEND:
                yield self._row(marks, meaning)
            yield Static(
                Content(
                    "Keys can be changed in ~/.config/storyboard/config.toml, e.g.\n"
                    '[keymap]\n"regenerate.image" = "r"'
                ),
                classes="help-note",
            )

    @staticmethod
    def _row(keys: str, description: str) -> Horizontal:
        """Keys in their own column, so a long description wraps under itself."""
        return Horizontal(
            Static(Content(keys), classes="help-key"),
            Static(Content(description), classes="help-text"),
            classes="help-row",
        )

    def on_mount(self) -> None:
        body = self.query_one(VerticalScroll)
        body.focus()
        self.call_after_refresh(self._say_if_it_scrolls)

    def _say_if_it_scrolls(self) -> None:
        body = self.query_one(VerticalScroll)
        if body.max_scroll_y <= 0:
            body.border_subtitle = "esc to close"

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
