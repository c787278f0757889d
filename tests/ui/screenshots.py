"""Write the README's screenshots of the lighthouse sample to `docs/screenshots/`.

Run: `.venv/bin/python -m tests.ui.screenshots`. The sample's stills are real
draft-renderer cards; jobs in the pictures are held by an in-memory backend so
every run draws the same frames.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.instant_backend import InstantBackend
from tests.ui.helpers import main_screen, make_app, png, quiet_settings, wait_for
from tests.ui.test_snapshots import settle
from tui.backends.base import Progress
from tui.store.importer import create_project

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "screenshots"
SAMPLE = REPO / "sample_projects" / "lighthouse"


async def shoot(
    name: str,
    source: Path,
    size: tuple[int, int],
    keys: tuple[str, ...] = (),
    *,
    theme: str = "storyboard-dark",
    hold: bool = False,
    then: Callable[[Pilot[Any], InstantBackend], Awaitable[None]] | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = await create_project(Path(tmp) / "lighthouse", source)
        backend = InstantBackend(hold=hold, window=1, payload=png())
        app = make_app(folder.root, backend=backend, settings=quiet_settings(theme=theme))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press(*keys)
            if then is not None:
                await then(pilot, backend)
            await settle(pilot)
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / f"{name}.svg").write_text(app.export_screenshot(title="Storyboard"))
            print(f"wrote docs/screenshots/{name}.svg")


async def running(pilot: Pilot[Any], backend: InstantBackend) -> None:
    await wait_for(pilot, lambda: len(backend.held) == 1)
    backend.emit(Progress(next(iter(backend.held)), 3, 5, 0.6))
    await pilot.pause(0.2)


async def playing(pilot: Pilot[Any], backend: InstantBackend) -> None:
    from tui.ui.widgets.player import Player

    player = main_screen(pilot.app).query_one(Player)
    await wait_for(pilot, lambda: player.frame_time is not None and player.frame_time > 1.0)
    player.action_toggle_pause()  # the same frame on every run
    await pilot.pause(0.2)


async def main() -> None:
    await shoot("main-120x36", SAMPLE, (120, 36), ("down", "down"))
    await shoot("narrow-80x24", SAMPLE, (80, 24), ("down", "down", "enter"))
    await shoot("batch-running", SAMPLE, (120, 36), ("a",), hold=True, then=running)
    await shoot("dirty-only-light", SAMPLE, (120, 36), ("d",), theme="storyboard-light")
    await shoot("help", SAMPLE, (100, 36), ("question_mark",))
    await shoot("playing", SAMPLE, (120, 36), ("down", "p"), then=playing)


if __name__ == "__main__":
    asyncio.run(main())
