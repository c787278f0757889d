"""A yes/no question for actions that throw work away (stopping the runner, big batches)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; dismisses with True only for an explicit yes.

    The safe answer has the focus, so a stray Enter never confirms.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,n", "dismiss(False)", "No", id="confirm.no", tooltip="Keep things as they are"
        ),
        Binding("y", "dismiss(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | y | Yes. |
    | escape, n | No. |
    """

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 60;
            max-width: 100%;
            height: auto;
            padding: 1 2;
            border: round $warning;
            background: $surface;
        }
        & #question { margin-bottom: 1; }
        & Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 2; }
    }
    """

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self.question), id="question")
            with Horizontal():
                yield Button(self.no_label, id="no")
                yield Button(self.yes_label, id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)
