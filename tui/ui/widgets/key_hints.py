"""The footer: the keys that work where the focus is, on one line.

Textual's `Footer` builds a widget per key and rebuilds them on every focus
change, which cost this app more than half a second at start-up. This draws
the same hints as one line of content. Keys follow the user's keymap; a
click runs the key's action and hovering shows its tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

ALWAYS_SHOWN = ("help.show", "app.command_palette")
"""Kept at the right end even when the line is too short for everything."""
FIRST = ("edit.back",)
"""Shown first when they apply: away from the list, the way back matters most."""


def _declared_rank(namespace: DOMNode, binding: Binding) -> int:
    """Where `binding` is declared in its owner's BINDINGS (the order the footer keeps)."""
    for owner in type(namespace).__mro__:
        declared = getattr(owner, "BINDINGS", None) or []
        for rank, item in enumerate(declared):
            if isinstance(item, Binding) and item.id is not None and item.id == binding.id:
                return rank
    return 1_000


@dataclass(frozen=True)
class _Hint:
    key: str
    description: str
    tooltip: str
    action: str
    namespace: DOMNode
    enabled: bool
    binding_id: str | None


class KeyHints(Widget):
    """`i Image  v Video  …  ? Help  ^p Commands`."""

    DEFAULT_CSS = """
    KeyHints {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._hints: list[_Hint] = []
        self._hit_spans: list[tuple[int, int, _Hint]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._on_bindings_updated)
        self.call_after_refresh(self._collect)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _on_bindings_updated(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._collect)  # once focus has settled

    def _collect(self) -> None:
        ranked: list[tuple[int, int, _Hint]] = []
        seen: set[str] = set()
        namespaces: list[DOMNode] = []
        focused = self.screen.focused
        typing = focused is not None and focused.check_consume_key("a", "a")
        for namespace, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if typing and len(self.app.get_key_display(binding)) == 1 and binding.key != "enter":
                continue  # a letter or "/" goes into the field being typed in
            seen.add(binding.action)
            if namespace not in namespaces:
                namespaces.append(namespace)
            ranked.append(
                (
                    namespaces.index(namespace),
                    _declared_rank(namespace, binding),
                    self._hint(binding, namespace, enabled, tooltip),
                )
            )
        # A keymap moves a binding to the end of Textual's table; keep the declared order.
        hints = [hint for _ns, _rank, hint in sorted(ranked, key=lambda item: item[:2])]
        last = [hint for hint in hints if hint.binding_id in ALWAYS_SHOWN]
        first = [hint for hint in hints if hint.binding_id in FIRST and hint.enabled]
        hints = [hint for hint in hints if hint not in last and hint not in first]
        self._hints = (
            first + hints + sorted(last, key=lambda hint: ALWAYS_SHOWN.index(hint.binding_id))
        )
        self.refresh()

    def _hint(self, binding: Binding, namespace: DOMNode, enabled: bool, tooltip: str) -> _Hint:
        return _Hint(
            key=self.app.get_key_display(binding),
            description=binding.description,
            tooltip=tooltip or binding.tooltip or binding.description,
            action=binding.action,
            namespace=namespace,
            enabled=enabled,
            binding_id=binding.id,
        )

    def render(self) -> Content:
        width = self.content_region.width
        pinned = [hint for hint in self._hints if hint.binding_id in ALWAYS_SHOWN]
        pinned_width = sum(len(hint.key) + len(hint.description) + 3 for hint in pinned)
        parts: list[Content] = []
        spans: list[tuple[int, int, _Hint]] = []
        x = 0
        full = False
        for hint in self._hints:
            size = len(hint.key) + len(hint.description) + 3
            is_pinned = hint in pinned
            if not is_pinned and (full or x + size + pinned_width > width):
                full = True  # keep the declared order: drop from the end
                continue
            key_style = "$footer-key-foreground bold" if hint.enabled else "$foreground-disabled"
            text_style = "" if hint.enabled else "$foreground-disabled"
            parts.append(
                Content.assemble((hint.key, key_style), " ", (hint.description, text_style), "  ")
            )
            spans.append((x, x + size, hint))
            x += size
        self._hit_spans = spans
        return Content.assemble(*parts)

    def _hint_at(self, x: int) -> _Hint | None:
        for start, end, hint in self._hit_spans:
            if start <= x < end:
                return hint
        return None

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        hint = self._hint_at(offset.x) if offset is not None else None
        if hint is not None and hint.enabled:
            await self.app.run_action(hint.action, hint.namespace)

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        offset = event.get_content_offset(self)
        hint = self._hint_at(offset.x) if offset is not None else None
        self.tooltip = hint.tooltip if hint is not None else None
