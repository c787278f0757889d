"""`?`: every key of the main screen, as the keymap has them now."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
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
            width: 64;
            max-width: 100%;
            height: auto;
            max-height: 90%;
            border: round $primary;
            border-title-color: $foreground;
            background: $surface;
            padding: 0 1;
        }
        & .help-key { color: $accent; text-style: bold; }
        & .help-section { text-style: bold; color: $foreground; margin-top: 1; }
        & .help-note { color: $foreground-muted; margin-top: 1; }
    }
    """

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        """`rows` are (section, keys, description), in the order to show them."""
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll() as body:
            body.border_title = "Keys"
            section = None
            for row_section, keys, description in self.rows:
                if row_section != section:
                    section = row_section
                    yield Static(Content(section), classes="help-section")
                yield Static(Content.assemble((f"{keys:>12}", "$accent bold"), "  ", description))
            yield Static(
                Content(
                    "Keys can be changed in ~/.config/storyboard/config.toml, e.g.\n"
                    '[keymap]\n"regenerate.image" = "ctrl+i"'
                ),
                classes="help-note",
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
