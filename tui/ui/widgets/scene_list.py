"""The scene list: one line per scene, drawn with the Line API.

One widget per scene does not scale (2,000 `ListView` items took 7.6 s to
mount). This widget draws only the lines on screen (`render_line`), from an
LRU cache of `Strip`s keyed by everything a line shows, so a changed scene
redraws one line and a key press redraws two.

It keeps its own top line and draws its own scrollbar instead of scrolling
as a `ScrollView`: Textual answers a scroll with a reflow and repaint of the
whole screen, which measured 15-50 ms per key on a 10,000-scene project
here; repainting just this widget keeps a key press under 10 ms.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from tui.domain.models import AssetKind, AssetState
from tui.ui.keys import LIST_COMMANDS, bindings
from tui.ui.model import Badge, Row
from tui.ui.text import fit

BAR_CELLS = 6
"""Width of a row's inline progress bar."""

IMAGE_GLYPHS = {AssetState.DIRTY: "■", AssetState.MISSING: "□"}
VIDEO_GLYPHS = {AssetState.DIRTY: "▶", AssetState.MISSING: "▷"}
"""Different shapes as well as colours, so the two markers read apart without colour."""
FAILED_GLYPH = "✗"
"""The asset's last job failed: its own shape and colour, whatever its state."""


def _no_badge(scene_id: int) -> Badge | None:
    return None


def _ignore_move(scene_id: int | None) -> None:
    return None


BadgeLook = tuple[AssetKind, "int | None", int, int, int]
"""What a badge shows: kind, queue place, jobs behind, bar cells done, whole percent."""


def badge_look(badge: Badge | None) -> BadgeLook | None:
    """A badge as drawn. Lines are compared and cached by this, not by the exact fraction:
    in a flood of progress a running job's fraction moves every frame while its line, on
    most frames, does not, and a line that looks the same is not drawn again."""
    if badge is None:
        return None
    done = round(badge.fraction * BAR_CELLS)
    return (badge.kind, badge.queue_position, badge.more, done, round(badge.fraction * 100))


_UNDRAWN = (-1, None)


def _no_row(scene_id: int) -> Row:
    raise LookupError(f"no row source for scene {scene_id}")


class SceneList(Widget, can_focus=True):
    """Every scene of the project, filtered, with markers and job badges."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(LIST_COMMANDS)
    """
    | Key(s) | Description |
    | :- | :- |
    | up, k | Previous scene. |
    | down, j | Next scene. |
    | pageup, pagedown | A screen up or down. |
    | home, g / end, G | First or last scene. |
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "scene-list--cursor",
        "scene-list--position",
        "scene-list--image-dirty",
        "scene-list--video-dirty",
        "scene-list--missing",
        "scene-list--failed",
        "scene-list--queued",
        "scene-list--bar-done",
        "scene-list--bar-todo",
        "scene-list--scrollbar",
        "scene-list--scrollbar-thumb",
    }

    DEFAULT_CSS = """
    SceneList {
        background: $surface;
        & > .scene-list--cursor {
            background: $block-cursor-blurred-background;
        }
        &:focus > .scene-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .scene-list--position { color: $foreground-muted; }
        & > .scene-list--image-dirty { color: $image-dirty; text-style: bold; }
        & > .scene-list--video-dirty { color: $video-dirty; text-style: bold; }
        & > .scene-list--missing { color: $asset-missing; }
        & > .scene-list--failed { color: $asset-failed; text-style: bold; }
        & > .scene-list--queued { color: $foreground-muted; }
        & > .scene-list--bar-done { color: $accent; }
        & > .scene-list--bar-todo { color: $foreground 20%; }
        & > .scene-list--scrollbar { color: $scrollbar-background; }
        & > .scene-list--scrollbar-thumb { color: $scrollbar; }
        &:focus > .scene-list--scrollbar-thumb { color: $scrollbar-hover; }
    }
    """
    """Markers take the app's `$image-dirty`, `$video-dirty` and `$asset-missing`."""

    cursor: reactive[int] = reactive(0, repaint=False, init=False)
    """Index of the highlighted line among the shown scenes."""
    dirty_only: reactive[bool] = reactive(False, init=False, repaint=False)
    """Show only scenes with a dirty or missing asset."""
    filter_text: reactive[str] = reactive("", init=False, repaint=False)
    """Show only scenes whose narration or prompts contain this (any case)."""

    @dataclass
    class Selected(Message):
        """Enter or a click on the highlighted scene: the user wants to edit it."""

        scene_list: SceneList
        scene_id: int

        @property
        def control(self) -> SceneList:
            return self.scene_list

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._order: list[int] = []
        self._shown: list[int] = []
        self._index: dict[int, int] = {}
        self._position_width = 3
        self._line_cache: LRUCache[tuple[object, ...], Strip] = LRUCache(maxsize=512)
        self._styles: dict[str, Style] = {}
        self._drawn_badges: dict[int, tuple[int, BadgeLook | None]] = {}
        """What each screen line last showed, so badge updates repaint only what moved."""
        self._badges_touched: set[int] | None = None
        """Scenes the next badge refresh must look at; None means every line on screen."""
        self._highlighted: int | None = None
        self._top = 0
        """Index of the first line on screen."""
        self.row_for: Callable[[int], Row] = _no_row
        """Where rows come from; the screen points it at the editor session, which makes
        them lazily and shows unsaved edits in them."""
        self.badge_for: Callable[[int], Badge | None] = _no_badge
        """Where a row's job badge comes from; the screen points it at its job board."""
        self.cursor_moved: Callable[[int | None], None] = _ignore_move
        """Called as the cursor lands on another scene, inside the key's own handler.

        Not a message: a message reaches the screen after the list's frame is drawn, so
        the inspector came a frame later (pagedown to the inspector: 50 ms p50, 66 ms p95
        in bench_tui; called here, both show in one frame at 25 / 34 ms)."""

    # -- data in -------------------------------------------------------------

    def set_order(self, scene_ids: Sequence[int], *, last_position: int) -> None:
        """Show these scenes, in this order; rows are asked for only when drawn or filtered."""
        self._order = list(scene_ids)
        self._position_width = max(3, len(str(last_position)))
        self._line_cache.clear()
        self._refilter(keep=self._highlighted)

    def _row(self, scene_id: int) -> Row:
        return self.row_for(scene_id)

    def update_row(self, scene_id: int) -> None:
        """The scene changed: redraw just its line.

        A row that stops matching the filter stays until the filter changes,
        so the list never jumps under the user's cursor; one that starts
        matching is slotted in.
        """
        if scene_id not in self._index and scene_id not in self._order:
            return
        index = self._index.get(scene_id)
        if index is not None:
            self._line_refresh(index)
        elif self._matches(self._row(scene_id)):
            self._refilter(keep=self._highlighted, keep_ids=set(self._shown))

    def add_scenes(self, order: Sequence[int]) -> None:
        """Scenes appeared (another process added them): take the new order, keep the rest."""
        added = set(order) - set(self._order)
        self._order = list(order)
        self._refilter(keep=self._highlighted, keep_ids=set(self._shown) | added)

    def refresh_badges(self) -> None:
        """Redraw the visible lines whose job badge changed (queue positions move together).

        Only changed lines are refreshed: a whole-widget repaint 30 times a
        second, during a flood of progress events, was most of the UI's CPU.
        """
        badge_for = self.badge_for
        drawn = self._drawn_badges
        only, self._badges_touched = self._badges_touched, None
        for y in range(min(self._page, len(self._shown) - self._top)):
            scene_id = self._shown[self._top + y]
            if only is not None and scene_id not in only:
                continue
            if drawn.get(y, _UNDRAWN) != (scene_id, badge_look(badge_for(scene_id))):
                self.refresh_line(y)

    def limit_badge_refresh(self, scene_ids: set[int]) -> None:
        """The next `refresh_badges` need only look at these scenes (no queue moved)."""
        self._badges_touched = scene_ids

    # -- filtering -----------------------------------------------------------

    def _matches(self, row: Row) -> bool:
        if self.dirty_only and not row.needs_work:
            return False
        needle = self.filter_text.strip().lower()
        return not needle or needle in row.haystack

    def _nearest_shown(self, scene_id: int) -> int | None:
        """The index of the first shown scene at or after `scene_id` in the story (else the
        last one): hiding the scene under the cursor moves it on, not to whatever now
        sits on the same line."""
        if not self._shown:
            return None
        rank = {shown_id: rank for rank, shown_id in enumerate(self._order)}
        wanted = rank.get(scene_id)
        if wanted is None:
            return None
        index = bisect.bisect_left(self._shown, wanted, key=rank.__getitem__)
        return min(index, len(self._shown) - 1)

    def _refilter(self, *, keep: int | None, keep_ids: set[int] | None = None) -> None:
        if not self.dirty_only and not self.filter_text.strip():
            shown = list(self._order)
        else:
            keep_ids = keep_ids or set()
            row = self._row
            shown = [
                scene_id
                for scene_id in self._order
                if scene_id in keep_ids or self._matches(row(scene_id))
            ]
        self._shown = shown
        self._index = {scene_id: index for index, scene_id in enumerate(shown)}
        target = self._index.get(keep) if keep is not None else None
        if target is None and keep is not None:
            target = self._nearest_shown(keep)
        if target is None:
            target = min(self.cursor, max(0, len(shown) - 1))
        self.set_reactive(SceneList.cursor, target)
        self._after_cursor_move()
        self.refresh()

    def _watch_dirty_only(self) -> None:
        self._refilter(keep=self._highlighted)

    def _watch_filter_text(self) -> None:
        self._refilter(keep=self._highlighted)

    @property
    def empty_message(self) -> str:
        """What an empty list says, so a filter that matches nothing never looks broken."""
        needle = self.filter_text.strip()
        if self._shown or not self._order:
            return "" if self._order else "No scenes in this project."
        if needle and self.dirty_only:
            return f"Nothing dirty matches “{needle}”."
        if needle:
            return f"No scenes match “{needle}”."
        return "Nothing is dirty: every scene is up to date."

    @property
    def shown_count(self) -> int:
        return len(self._shown)

    @property
    def total_count(self) -> int:
        return len(self._order)

    @property
    def shown_ids(self) -> list[int]:
        return list(self._shown)

    # -- cursor --------------------------------------------------------------

    @property
    def highlighted(self) -> int | None:
        """The scene id under the cursor."""
        return self._highlighted

    def highlight(self, scene_id: int) -> None:
        index = self._index.get(scene_id)
        if index is not None:
            self.cursor = index

    def _validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self._shown) - 1)) if self._shown else 0

    def _watch_cursor(self, old: int, new: int) -> None:
        self._line_refresh(old)
        self._line_refresh(new)
        self._after_cursor_move()

    def _after_cursor_move(self) -> None:
        scene_id = self._shown[self.cursor] if self._shown else None
        self._keep_cursor_visible()
        if scene_id != self._highlighted:
            self._highlighted = scene_id
            self.cursor_moved(scene_id)

    @property
    def _page(self) -> int:
        return max(1, self.content_region.height)

    def _keep_cursor_visible(self) -> None:
        top = self._top
        if self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + self._page:
            top = self.cursor - self._page + 1
        self._set_top(top)

    def _set_top(self, top: int) -> None:
        top = max(0, min(top, len(self._shown) - self._page))
        if top != self._top:
            self._top = top
            self.refresh()

    def _line_refresh(self, index: int) -> None:
        y = index - self._top
        if 0 <= y < self._page:
            self.refresh_line(y)

    def refresh_line(self, y: int) -> None:
        """Repaint one line of the widget (y counts from its top)."""
        self.refresh(Region(0, y, self.size.width, 1))

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_page_up(self) -> None:
        self.cursor -= max(1, self._page - 1)

    def action_page_down(self) -> None:
        self.cursor += max(1, self._page - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._shown) - 1

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.x >= self.content_region.width - 1 and len(self._shown) > self._page:
            self._set_top(round(offset.y / max(1, self._page - 1) * (len(self._shown) - 1)))
            return
        index = offset.y + self._top
        if 0 <= index < len(self._shown):
            was = self.cursor
            self.cursor = index
            if was == index and event.chain >= 2:
                self.post_message(self.Selected(self, self._shown[index]))

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self._set_top(self._top + 3)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self._set_top(self._top - 3)

    def _on_resize(self, event: events.Resize) -> None:
        self._line_cache.clear()
        self._keep_cursor_visible()
        self._set_top(self._top)

    # -- selecting text ------------------------------------------------------

    def _selected_lines(self) -> range | None:
        """The screen lines a mouse selection covers, whole lines, or None."""
        selection = self.text_selection
        if selection is None:
            return None
        first = selection.start.y if selection.start is not None else 0
        last = selection.end.y if selection.end is not None else self._page - 1
        return range(first, last + 1)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """A drag over the list selects whole lines; ctrl+c copies them as drawn.

        The list draws its own lines (the Line API), so Textual's default, which
        reads one rendered text, has nothing to read. A scene is copied whole
        (number, markers, narration), which is what a list is selected for.
        """
        covered = self._selected_lines()
        if covered is None:
            return None
        lines = []
        for y in covered:
            if 0 <= y < min(self._page, len(self._shown) - self._top):
                text = self._draw_line(
                    self._row(self._shown[self._top + y]),
                    None,
                    False,
                    None,
                    self.content_region.width,
                ).text
                lines.append(text.rstrip())
        return "\n".join(lines), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    # -- drawing -------------------------------------------------------------
    # -- drawing -------------------------------------------------------------

    def notify_style_update(self) -> None:
        """A theme or focus change restyles every line."""
        super().notify_style_update()
        self._line_cache.clear()
        self._styles.clear()

    def _part_style(self, name: str) -> Style:
        """A component's own style (or, for "", the widget's), cached until styles change.

        `rich_style` walks every ancestor; asking for it per line cost more
        than drawing the line.
        """
        style = self._styles.get(name)
        if style is None:
            if name:
                style = self.get_component_rich_style(name, partial=True)
            else:
                style = self.rich_style
            self._styles[name] = style
        return style

    def _base(self, selected: bool) -> Style:
        key = "<cursor>" if selected else ""
        style = self._styles.get(key)
        if style is None:
            style = self._part_style("")
            if selected:
                style = style + self._part_style("scene-list--cursor")
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width
        thumb = self._scrollbar_thumb(y)
        index = y + self._top
        if not self._shown and y == 1 and width > 0:
            message = fit(f"  {self.empty_message}", width)
            return Strip(
                [Segment(message, self._part_style("scene-list--queued"))]
            ).adjust_cell_length(width, self._part_style(""))
        if index >= len(self._shown) or width <= 0:
            key: tuple[object, ...] = (None, thumb, width)
            scene_id = row = badge = None
        else:
            scene_id = self._shown[index]
            row = self._row(scene_id)
            badge = self.badge_for(scene_id)
            look = badge_look(badge)
            self._drawn_badges[y] = (scene_id, look)
            key = (row, look, index == self.cursor, thumb, width, self.has_focus)
        strip = self._line_cache.get(key)
        if strip is None:
            strip = self._draw_line(row, badge, index == self.cursor, thumb, width)
            self._line_cache[key] = strip
        covered = self._selected_lines() if self.screen.selections else None
        if covered is not None and y in covered:
            strip = strip.apply_style(self.selection_style)
        # Offsets let a mouse drag say which line it started and ended on.
        return strip.apply_offsets(0, y)

    def _scrollbar_thumb(self, y: int) -> bool | None:
        """Whether line `y` holds the scrollbar's thumb; None when everything fits."""
        total, page = len(self._shown), self._page
        if total <= page:
            return None
        size = max(1, round(page * page / total))
        start = round(self._top / max(1, total - page) * (page - size))
        return start <= y < start + size

    def _draw_line(
        self, row: Row | None, badge: Badge | None, selected: bool, thumb: bool | None, width: int
    ) -> Strip:
        inner = width - (0 if thumb is None else 1)
        if row is None:
            strip = Strip.blank(inner, self._part_style(""))
        else:
            strip = self._render_row(row, badge, selected, inner)
        if thumb is None:
            return strip
        base = self._part_style("")
        if thumb:
            cell = Segment("┃", base + self._part_style("scene-list--scrollbar-thumb"))
        else:
            cell = Segment("│", base + self._part_style("scene-list--scrollbar"))
        return Strip.join([strip, Strip([cell], 1)])

    def _render_row(self, row: Row, badge: Badge | None, selected: bool, width: int) -> Strip:
        base = self._base(selected)
        position = f" {row.position:>{self._position_width}} "
        segments = [Segment(position, base + self._part_style("scene-list--position"))]
        segments.append(self._glyph(row, AssetKind.IMAGE, base))
        segments.append(self._glyph(row, AssetKind.VIDEO, base))
        segments.append(Segment(" ", base))
        tail = self._badge_segments(badge, base)
        tail_width = sum(segment.cell_length for segment in tail)
        used = sum(segment.cell_length for segment in segments)
        room = width - used - tail_width - (1 if tail else 0)
        segments.append(Segment(fit(row.narration, room), base))
        if tail:
            segments.append(Segment(" ", base))
            segments.extend(tail)
        return Strip(segments).adjust_cell_length(width, base)

    def _glyph(self, row: Row, kind: AssetKind, base: Style) -> Segment:
        if row.failed(kind):
            return Segment(FAILED_GLYPH + " ", base + self._part_style("scene-list--failed"))
        state = row.image if kind is AssetKind.IMAGE else row.video
        glyphs = IMAGE_GLYPHS if kind is AssetKind.IMAGE else VIDEO_GLYPHS
        glyph = glyphs.get(state, " ")
        if state is AssetState.DIRTY:
            name = (
                "scene-list--image-dirty" if kind is AssetKind.IMAGE else "scene-list--video-dirty"
            )
            return Segment(glyph + " ", base + self._part_style(name))
        if state is AssetState.MISSING:
            return Segment(glyph + " ", base + self._part_style("scene-list--missing"))
        return Segment("  ", base)

    def _badge_segments(self, badge: Badge | None, base: Style) -> list[Segment]:
        if badge is None:
            return []
        letter = "I" if badge.kind is AssetKind.IMAGE else "V"
        more = f" +{badge.more}" if badge.more else ""
        if badge.queue_position is not None:
            text = f"{letter} #{badge.queue_position}{more}"
            return [Segment(text, base + self._part_style("scene-list--queued"))]
        done = round(badge.fraction * BAR_CELLS)
        percent = f"{round(badge.fraction * 100):>3d}%"
        return [
            Segment(f"{letter} ", base + self._part_style("scene-list--queued")),
            Segment("━" * done, base + self._part_style("scene-list--bar-done")),
            Segment("━" * (BAR_CELLS - done), base + self._part_style("scene-list--bar-todo")),
            Segment(f" {percent}{more}", base + self._part_style("scene-list--queued")),
        ]
