"""The command palette: every action of the main screen, under namespaced titles.

Titles read "regenerate: all dirty images" or "view: dirty only", so typing
a namespace lists its family. The screen lists its own commands; this
provider only matches and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: its title, a line of help, and the screen action it runs."""

    title: str
    help: str
    action: str


@runtime_checkable
class HasPaletteCommands(Protocol):
    def palette_commands(self) -> list[PaletteCommand]: ...


class StoryboardCommands(Provider):
    """Offers the screen's `palette_commands()`."""

    def _commands(self) -> list[PaletteCommand]:
        screen = self.screen
        if isinstance(screen, HasPaletteCommands):
            return screen.palette_commands()
        return []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(
                command.title,
                partial(self.screen.run_action, command.action),
                help=command.help,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    partial(self.screen.run_action, command.action),
                    text=command.title,
                    help=command.help,
                )
