"""Motion strength: a 0..1 value stepped from the keyboard, 0.05 at a time.

A slider you can only drag is no use over SSH; arrows and -/+ step it, and
the value is always printed next to the bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.domain.models import MOTION_STEP, round_motion


class MotionControl(Widget, can_focus=True):
    """A focusable bar for the scene's motion strength."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "left,minus",
            "step(-1)",
            "Less",
            id="motion.decrease",
            tooltip="Less motion (0.05 less)",
        ),
        Binding(
            "right,plus,equals_sign",
            "step(1)",
            "More",
            id="motion.increase",
            tooltip="More motion (0.05 more)",
        ),
        Binding("home", "set(0)", "None", show=False, id="motion.min", tooltip="No motion"),
        Binding("end", "set(1)", "Full", show=False, id="motion.max", tooltip="Full motion"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | left, - | 0.05 less motion. |
    | right, +, = | 0.05 more motion. |
    | home / end | 0 / 1. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"motion--done", "motion--todo", "motion--value"}

    DEFAULT_CSS = """
    MotionControl {
        height: 1;
        width: 1fr;
        min-width: 16;
        padding: 0 1;
        background: $panel;
        & > .motion--done { color: $accent; }
        & > .motion--todo { color: $foreground 20%; }
        & > .motion--value { color: $foreground; }
        &:focus {
            background: $accent 15%;
            & > .motion--value { text-style: bold; }
        }
    }
    """

    value: reactive[float] = reactive(0.5)
    """Motion strength, 0.0 to 1.0, kept on the 0.05 grid."""

    @dataclass
    class Changed(Message):
        """The user stepped the value."""

        motion_control: MotionControl
        value: float

        @property
        def control(self) -> MotionControl:
            return self.motion_control

    def __init__(
        self,
        value: float = 0.5,
        *,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(id=id, classes=classes, disabled=disabled)
        self.set_reactive(MotionControl.value, round_motion(value))

    def _validate_value(self, value: float) -> float:
        return round_motion(min(1.0, max(0.0, value)))

    def action_step(self, steps: int) -> None:
        self._set_by_user(self.value + steps * MOTION_STEP)

    def action_set(self, value: float) -> None:
        self._set_by_user(value)

    def _set_by_user(self, value: float) -> None:
        before = self.value
        self.value = value
        if self.value != before:
            self.post_message(self.Changed(self, self.value))

    async def _on_click(self, event: events.Click) -> None:
        bar = max(1, self.content_region.width - 6)
        offset = event.get_content_offset(self)
        if offset is not None and offset.x < bar:
            steps = round(offset.x / max(1, bar - 1) / MOTION_STEP)
            self._set_by_user(steps * MOTION_STEP)

    def render(self) -> Content:
        width = self.content_region.width
        bar = max(1, width - 6)
        filled = round(self.value * bar)
        done = self.get_visual_style("motion--done")
        todo = self.get_visual_style("motion--todo")
        number = self.get_visual_style("motion--value")
        return Content.assemble(
            ("━" * filled, done),
            ("━" * (bar - filled), todo),
            (f" {self.value:.2f}", number),
        )
