"""The top line: the project's name and the backend with its state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive

from tui.backends.base import BackendStatus
from tui.ui.text import one_line
from tui.ui.widgets.line import Line

BACKEND_LABELS = {"draft": "draft", "comfyui": "ComfyUI"}


def describe_backend(status: BackendStatus | None, engine_state: str) -> Content:
    """`draft`, or `ComfyUI ● 2/2 servers · queue 3`, plus what the engine is doing."""
    if status is None:
        status = BackendStatus("draft")
    label = BACKEND_LABELS.get(status.name, one_line(status.name))
    parts: list[Content] = [Content(label)]
    if status.name != "draft" or status.servers != 1:
        if status.online >= status.servers and status.servers > 0:
            dot_style = "$success"
        elif status.online > 0:
            dot_style = "$warning"
        else:
            dot_style = "$error"
        noun = "server" if status.servers == 1 else "servers"
        parts.append(Content(" "))
        parts.append(Content.styled("●", dot_style))
        parts.append(Content(f" {status.online}/{status.servers} {noun}"))
        parts.append(Content(f" · queue {status.queue}"))
    elif status.queue:
        parts.append(Content(f" · queue {status.queue}"))
    if status.detail:
        parts.append(Content(f" · {one_line(status.detail)}"))
    if engine_state:
        parts.append(Content.styled(f" · {engine_state}", "$warning"))
    return Content.assemble(*parts)


class StoryHeader(Horizontal):
    """Project name on the left, backend on the right."""

    DEFAULT_CSS = """
    StoryHeader {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
        & > #project { width: 1fr; text-style: bold; }
        & > #backend { color: $foreground-muted; }
    }
    """

    project_name: reactive[str] = reactive("", init=False, repaint=False)
    """The project's name, as the user typed it (shown as plain text)."""
    backend: reactive[BackendStatus | None] = reactive(
        None, init=False, repaint=False, always_update=True
    )
    """The backend's last reported status; polled, since it changes without events."""
    engine_state: reactive[str] = reactive("starting…", init=False, repaint=False)
    """Empty while jobs can run; otherwise why not ("starting…", "read-only")."""

    def compose(self) -> ComposeResult:
        yield Line(id="project")
        yield Line(id="backend")

    def on_mount(self) -> None:
        self._show()

    def _watch_project_name(self) -> None:
        self._show()

    def _watch_backend(self) -> None:
        self._show()

    def _watch_engine_state(self) -> None:
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        name = one_line(self.project_name) or "Storyboard"
        self.query_one("#project", Line).update(Content.assemble("Storyboard · ", name))
        backend = describe_backend(self.backend, self.engine_state)
        line = self.query_one("#backend", Line)
        line.update(backend)
        if line.styles.width is None or line.styles.width.value != backend.cell_length:
            line.styles.width = backend.cell_length  # sized to its text, right-aligned
