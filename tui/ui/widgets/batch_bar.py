"""The batch bar: "Regenerate 4 dirty images", and while jobs run, how far they have got."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button

from tui.domain.models import AssetKind
from tui.ui.model import Counts, RunView
from tui.ui.text import duration, plural
from tui.ui.widgets.line import Line

BAR_CELLS = 20


def batch_label(kind: AssetKind, dirty: int, missing: int) -> str:
    """The seed's wording, "Regenerate 4 dirty images", plus assets not made yet."""
    noun = kind.value
    if dirty and missing:
        return f"Regenerate {dirty} dirty, {plural(missing, 'missing ' + noun)}"
    if missing:
        return f"Generate {plural(missing, 'missing ' + noun)}"
    return f"Regenerate {plural(dirty, 'dirty ' + noun)}"


def run_label(run: RunView) -> str:
    """ "Rendering: 1 image and 3 videos to go" — what is left, in one kind of count.

    "Rendering", not "regenerating": a batch also makes assets that never existed.
    """
    parts = []
    if run.images:
        parts.append(plural(run.images, "image"))
    if run.videos:
        parts.append(plural(run.videos, "video"))
    if not parts:
        return "Finishing…"
    return f"Rendering: {' and '.join(parts)} to go"


class BatchBar(Horizontal):
    """Batch actions when something is dirty; progress and a cancel while jobs run."""

    DEFAULT_CSS = """
    BatchBar {
        height: 1;
        background: $boost;
        padding: 0 1;
        & > Button { margin-right: 2; min-width: 0; width: auto; }
        & > Button:focus { text-style: bold reverse; }
        & > #batch-clean { color: $success; width: 1fr; }
        & > #batch-images { color: $image-dirty; }
        & > #batch-videos { color: $video-dirty; }
        & > #batch-progress { width: 1fr; height: 1; }
        & > .-hidden { display: none; }
    }
    """

    counts: reactive[Counts] = reactive(Counts, init=False, repaint=False)
    """Dirty and missing assets of each kind."""
    run: reactive[RunView | None] = reactive(None, init=False, repaint=False)
    """The jobs in flight, or None when nothing runs."""
    enabled: reactive[bool] = reactive(True, init=False, repaint=False)
    """False while regeneration is off (engine starting, or busy in another process)."""

    @dataclass
    class BatchRequested(Message):
        """A batch button was pressed."""

        batch_bar: BatchBar
        kind: AssetKind

        @property
        def control(self) -> BatchBar:
            return self.batch_bar

    @dataclass
    class CancelRequested(Message):
        """Cancel was pressed while jobs run."""

        batch_bar: BatchBar

        @property
        def control(self) -> BatchBar:
            return self.batch_bar

    def compose(self) -> ComposeResult:
        yield Line(id="batch-clean")
        yield Button("", id="batch-images", compact=True)
        yield Button("", id="batch-videos", compact=True)
        yield Line(id="batch-progress")
        yield Button("Cancel", id="batch-cancel", compact=True, variant="error")

    def on_mount(self) -> None:
        self.call_after_refresh(self._show)  # `is_mounted` is not yet true in on_mount

    def _watch_counts(self) -> None:
        self._show()

    def _watch_run(self) -> None:
        self._show()

    def _watch_enabled(self) -> None:
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        counts, run = self.counts, self.run
        running = run is not None
        # The bar is always there (saying so when all is done): the screen never shifts.
        self.set_class(True, "-shown")
        clean = self.query_one("#batch-clean", Line)
        clean.set_class(running or counts.any, "-hidden")
        clean.update(Content("✓ All up to date"))
        for kind, widget_id in (
            (AssetKind.IMAGE, "#batch-images"),
            (AssetKind.VIDEO, "#batch-videos"),
        ):
            button = self.query_one(widget_id, Button)
            dirty, missing = counts.of(kind)
            button.set_class(running or not (dirty or missing), "-hidden")
            label = batch_label(kind, dirty, missing)
            if str(button.label) != label:
                button.label = label
                button.refresh(layout=True)  # a longer label must widen the button, not be cut
            button.disabled = not self.enabled
        progress = self.query_one("#batch-progress", Line)
        progress.set_class(not running, "-hidden")
        self.query_one("#batch-cancel", Button).set_class(not running, "-hidden")
        if run is not None:
            progress.update(self._progress(run))

    def _progress(self, run: RunView) -> Content:
        filled = round(run.fraction * BAR_CELLS)
        left = (
            f" · about {duration(run.seconds_left)} left"
            if run.seconds_left is not None
            else " · estimating…"
        )
        return Content.assemble(
            (run_label(run), "bold"),
            "  ",
            ("━" * filled, "$accent"),
            ("━" * (BAR_CELLS - filled), "$foreground 20%"),
            f" {run.done} of {run.total} done{left}",
        )

    @on(Button.Pressed, "#batch-images")
    def _images(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.BatchRequested(self, AssetKind.IMAGE))

    @on(Button.Pressed, "#batch-videos")
    def _videos(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.BatchRequested(self, AssetKind.VIDEO))

    @on(Button.Pressed, "#batch-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.CancelRequested(self))
