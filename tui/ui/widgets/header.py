"""The top line: the project's name, the backend with its state, the runner, and the cut."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive

from tui.domain.cut import CutState
from tui.domain.jobs import CutJob, JobState
from tui.engine.events import BackendStatus, RunnerInfo
from tui.ui.text import one_line
from tui.ui.widgets.line import Line

if TYPE_CHECKING:
    from tui.engine.export import CutView

BACKEND_LABELS = {"draft": "draft", "comfyui": "ComfyUI"}


def describe_backend(status: BackendStatus | None, runner: RunnerInfo | None) -> Content:
    """`draft`, or `ComfyUI ● 2/2 servers · queue 3`, plus what the runner is doing."""
    if status is None:
        status = BackendStatus("draft")
    label = BACKEND_LABELS.get(status.name.lower(), one_line(status.name))
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
    if status.waiting:
        parts.append(Content.styled(f" · {one_line(status.waiting)}", "$warning"))
    elif status.detail:
        parts.append(Content(f" · {one_line(status.detail)}"))
    if runner is not None:
        style = "$warning" if runner.note else ""
        text = runner.describe() + (f" ({one_line(runner.note)})" if runner.note else "")
        parts.append(Content(" · "))
        parts.append(Content.styled(text, style) if style else Content(text))
    return Content.assemble(*parts)


def describe_cut(cut: CutView | None, exporting: CutJob | None) -> Content:
    """`cut: exporting 42%`, `cut: stale`, `cut: clean`; nothing while unknown or with no scenes."""
    if exporting is not None:
        if exporting.state is JobState.RUNNING:
            return Content.styled(f"cut: exporting {exporting.progress:.0%}", "$accent")
        return Content.styled("cut: export waiting", "$accent")
    if cut is None or cut.state is CutState.NONE:
        return Content("")
    if cut.state is CutState.STALE:
        return Content.styled("cut: stale", "$warning")
    if cut.state is CutState.MISSING:
        return Content("cut: none yet")
    return Content.styled("cut: clean", "$success")


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
    backend_name: reactive[str] = reactive("draft", init=False, repaint=False)
    """The renderer this window queues for, until the runner reports its status."""
    backend: reactive[BackendStatus | None] = reactive(None, init=False, repaint=False)
    """The backend's last reported status, from the runner."""
    runner: reactive[RunnerInfo | None] = reactive(None, init=False, repaint=False)
    """The project's runner: not running, idle, or its job counts."""
    film: reactive[tuple[CutView | None, CutJob | None]] = reactive(
        (None, None), init=False, repaint=False
    )
    """The rough cut's state and the export under way, if any."""

    def compose(self) -> ComposeResult:
        yield Line(id="project")
        yield Line(id="backend")

    def on_mount(self) -> None:
        self._show()

    def _watch_project_name(self) -> None:
        self._show()

    def _watch_backend_name(self) -> None:
        self._show()

    def _watch_backend(self) -> None:
        self._show()

    def _watch_runner(self) -> None:
        self._show()

    def _watch_film(self) -> None:
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        name = one_line(self.project_name) or "Storyboard"
        self.query_one("#project", Line).update(Content.assemble("Storyboard · ", name))
        status = self.backend or BackendStatus(self.backend_name, online=1, servers=1)
        backend = describe_backend(status, self.runner)
        if (cut := describe_cut(*self.film)).cell_length:
            backend = Content.assemble(backend, " · ", cut)
        line = self.query_one("#backend", Line)
        line.update(backend)
        if line.styles.width is None or line.styles.width.value != backend.cell_length:
            line.styles.width = backend.cell_length  # sized to its text, right-aligned
