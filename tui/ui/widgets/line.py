"""A one-line label that repaints only itself, and only when its content really changed.

`Static.update` asks for a layout of the whole screen, which is right when
text can change a widget's size and wasteful for a fixed-size line that may
change 30 times a second (the batch bar's progress, the header's backend).
A repaint also widens the compositor's update to a box around every dirty
widget, so an update that changes nothing must not repaint at all.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget


class Line(Widget):
    """A fixed one-line widget showing plain `Content` (never markup)."""

    DEFAULT_CSS = """
    Line {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(
        self, content: Content | None = None, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._content = content or Content()

    @property
    def content(self) -> Content:
        return self._content

    def update(self, content: Content) -> None:
        """Show `content`; a no-op when text and styles are unchanged.

        (`Content` compares by text alone, so styles are compared here too:
        a progress bar changes colour, not characters.)
        """
        old = self._content
        if content.plain == old.plain and content.spans == old.spans:
            return
        self._content = content
        self.refresh()

    def render(self) -> Content:
        return self._content
