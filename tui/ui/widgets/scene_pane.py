"""The left pane: the scene list under its column header, the filter, and a summary line.

One widget, so the screen deals with "the list" and not with the five parts that
say what it shows: the filter and the dirty-only switch change the header's
count and the text the inspector shows when nothing matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static

from tui.domain.models import AssetKind, Scene
from tui.ui.text import one_line, plain, plural
from tui.ui.widgets.scene_list import SceneList

NO_SCENE = "No scene selected."


class ScenePane(Vertical):
    """Column header with the count, filter input, scene list, and (narrow) a summary."""

    DEFAULT_CSS = """
    ScenePane {
        width: 46%;
        min-width: 44;
        height: 1fr;
        & > #list-header {
            height: 1;
            background: $panel;
            color: $foreground-muted;
            padding: 0 1 0 0;
            & > #list-columns { width: 1fr; }
            & > #list-count { width: auto; }
        }
        & > #filter {
            display: none;
            height: 1;
            border: none;
            padding: 0 1;
            background: $boost;
            &.-shown { display: block; }
        }
        & > SceneList { height: 1fr; }
        & > #scene-summary {
            display: none;
            height: auto;
            max-height: 3;
            padding: 0 1;
            background: $panel;
            color: $foreground-muted;
        }
    }
    """

    @dataclass
    class ShownChanged(Message):
        """The filter or the dirty-only switch changed which scenes are listed."""

        pane: ScenePane
        empty_text: str
        """What to show where a scene would be, when none is selected."""

        @property
        def control(self) -> ScenePane:
            return self.pane

    def __init__(self, *, cursor_blink: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = Static(id="list-columns", markup=False)
        self.count = Static(id="list-count", markup=False)
        self.filter_input = Input(
            id="filter", placeholder="filter scenes…  (enter keeps, esc clears)"
        )
        self.filter_input.cursor_blink = cursor_blink
        self.scene_list = SceneList(id="scenes")
        self.summary = Static(id="scene-summary", markup=False)

    def compose(self) -> ComposeResult:
        with Horizontal(id="list-header"):
            yield self.columns
            yield self.count
        yield self.filter_input
        yield self.scene_list
        yield self.summary

    # -- what is listed ------------------------------------------------------------

    @property
    def filtered(self) -> bool:
        """Some scenes are hidden, by the filter or by dirty-only."""
        return bool(self.scene_list.filter_text.strip()) or self.scene_list.dirty_only

    def restore(self, filter_text: str, dirty_only: bool) -> None:
        """Reopening a project comes back to the filter the user left."""
        if filter_text:
            self.filter_input.value = filter_text
            self.filter_input.add_class("-shown")
            self.scene_list.filter_text = filter_text
        self.scene_list.dirty_only = dirty_only
        self.shown_changed()

    def toggle_dirty_only(self) -> None:
        self.scene_list.dirty_only = not self.scene_list.dirty_only
        self.shown_changed()

    def open_filter(self) -> None:
        """Show the filter and move focus to it at once: keys typed right after `/`
        are the filter's, however fast they come."""
        self.filter_input.add_class("-shown")
        self.screen.set_focus(self.filter_input)

    def clear_filter(self, *, dirty_only_too: bool = False) -> None:
        """Esc: every scene again (and with `dirty_only_too`, the clean ones as well)."""
        self.filter_input.value = ""
        self.filter_input.remove_class("-shown")
        self.scene_list.filter_text = ""
        if dirty_only_too:
            self.scene_list.dirty_only = False
        self.shown_changed()
        self.scene_list.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.scene_list.filter_text = event.value
        self.shown_changed()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.filter_input.remove_class("-shown")
        self.scene_list.focus()

    def shown_changed(self) -> None:
        """The header says what is listed: "dirty only · “fog” · 12/400", or "400 scenes"."""
        scene_list = self.scene_list
        width = max(3, len(str(scene_list.total_count)))
        parts = []
        if scene_list.dirty_only:
            parts.append("dirty only")
        if scene_list.filter_text.strip():
            parts.append(f"“{one_line(scene_list.filter_text.strip())}”")
        shown, total = scene_list.shown_count, scene_list.total_count
        parts.append(f"{shown}/{total}" if shown != total else plural(total, "scene"))
        self.columns.update(Content(f" {'#':>{width}} I V  Narration"))
        self.count.update(Content(" · ".join(parts)))
        self.post_message(self.ShownChanged(self, scene_list.empty_message or NO_SCENE))

    # -- the summary, for narrow screens -------------------------------------------

    def summarise(self, scene: Scene, reasons: dict[AssetKind, list[str]]) -> None:
        """One or two lines under the list, for narrow screens where the inspector hides.

        Not written while hidden: each write asks for a layout of the whole screen.
        """
        if not self.screen.has_class("-narrow"):
            return
        parts = [f"Scene {scene.position}"]
        for kind in AssetKind:
            if lines := reasons.get(kind, []):
                parts.append(f"{kind.value}: {'; '.join(lines)}")
        if len(parts) == 1:
            parts.append("up to date")
        parts.append("enter to edit")
        self.summary.update(Content(plain(" · ".join(parts))))
