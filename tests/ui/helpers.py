"""Builders and waits shared by the UI tests: real projects, real SQLite, fake renderers."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.notifications import Notify
from textual.pilot import Pilot

from tests.conftest import storyboard_json
from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tui.config import UserSettings
from tui.domain.models import AssetKind
from tui.engine.engine import Engine
from tui.engine.project import Project
from tui.store.importer import create_project
from tui.ui.app import StoryboardApp
from tui.ui.screens.main import MainScreen
from tui.ui.themes import BUNDLED_THEMES_DIR

FIXED_CLOCK = 1000.0


def png(color: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (96, 64)) -> bytes:
    """A small deterministic PNG with a band, so a picture is visibly a picture."""
    picture = Image.new("RGB", size, color)
    for x in range(size[0]):
        for y in range(size[1] // 3, size[1] // 2):
            picture.putpixel((x, y), (230, 200, 90))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


@contextmanager
def fixed_uuids() -> Iterator[None]:
    """Job keys (and so asset file names) from a counter, for stable screenshots."""
    counter = itertools.count(1)
    original = uuid.uuid4

    def fake() -> uuid.UUID:
        return uuid.UUID(int=((next(counter) * 0x0101_0101) % 2**32) << 96)

    uuid.uuid4 = fake  # type: ignore[assignment]
    try:
        yield
    finally:
        uuid.uuid4 = original  # type: ignore[assignment]


async def build_project(
    root: Path,
    count: int = 5,
    *,
    assets: bool = True,
    edits: dict[int, dict[str, Any]] | None = None,
    data: dict[str, Any] | None = None,
) -> Path:
    """A real project; with `assets`, every still and clip made once by the engine.

    `edits` maps a 1-based position to field changes applied afterwards, to
    make chosen scenes dirty.
    """
    root.mkdir(parents=True, exist_ok=True)
    source = root / "source.json"
    source.write_text(json.dumps(data or storyboard_json(count)), encoding="utf-8")
    folder = await create_project(root / "film", source)
    async with await Project.open(folder.root) as project:
        if assets:
            with fixed_uuids():
                backend = InstantBackend(payload=png())
                async with Engine(project, backend) as engine:
                    await engine.request([AssetKind.IMAGE, AssetKind.VIDEO], include_missing=True)
                    await engine.wait_idle()
        for position, changes in (edits or {}).items():
            scene = await project.store.scene_at(position)
            await project.edit(scene.id, changes)
    return folder.root


def quiet_settings(**changes: Any) -> UserSettings:
    """Settings built without reading any file: the user's config never leaks in."""
    values: dict[str, Any] = {
        "theme": "storyboard-dark",
        "image_renderer": "halfblock",
        "save_delay": 0.1,
        "keymap": {},
        "comfyui_servers": [],
    }
    values.update(changes)
    return UserSettings.model_construct(**values)


def make_app(
    path: Path,
    *,
    backend: InstantBackend | None = None,
    settings: UserSettings | None = None,
    **options: Any,
) -> StoryboardApp:
    """The app on a real project; its runner (with `backend`) runs in the test's loop."""
    options.setdefault("theme_dirs", [BUNDLED_THEMES_DIR])
    options.setdefault("cursor_blink", False)
    options.setdefault("poll_interval", 1.0)
    options.setdefault("clock", lambda: FIXED_CLOCK)
    backend = backend if backend is not None else InstantBackend(payload=png((160, 60, 60)))
    return StoryboardApp(
        path,
        launcher=InProcessLauncher(backend),
        settings=settings or quiet_settings(),
        **options,
    )


def main_screen(app: App[Any]) -> MainScreen:
    for screen in app.screen_stack:
        if isinstance(screen, MainScreen):
            return screen
    raise AssertionError("no main screen")


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], *, timeout: float = 5.0, what: str = ""
) -> None:
    """Pause until `condition()` holds; fail with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def ready(pilot: Pilot[Any]) -> MainScreen:
    """Wait until the project is open, its jobs followed and the inspector shows a scene."""
    screen = main_screen(pilot.app)
    await wait_for(pilot, lambda: screen.client is not None, what="the project's jobs")
    await pilot.pause()
    return screen


async def tab_to(pilot: Pilot[Any], widget_id: str, *, limit: int = 25) -> None:
    """Press tab until the widget with `widget_id` has focus, as a user would."""
    for _ in range(limit):
        focused = pilot.app.screen.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type `text` key by key, as a terminal sends it: a burst of key events, then a pause.

    `Pilot.press` waits for the whole app to go idle after every key, which
    costs ~90 ms a key here and is not how typing arrives.
    """
    app = pilot.app
    for character in text:
        key = character if character.isalnum() else _character_to_key(character)
        app.post_message(events.Key(key, character))
    await pilot.pause()


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Named keys sent together, as fast typing arrives (no pause between them)."""
    for key in keys:
        pilot.app.post_message(events.Key(key, None))
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """The screen as plain text, for assertions and for reading in a failure.

    Textual has no public call for the screen's text (only an SVG screenshot),
    so this asks the screen's compositor for a full update, as a frame would.
    """
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


class Toasts:
    """Records every notification, as the user would read it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, bool]] = []

    def hook(self, message: Any) -> None:
        if isinstance(message, Notify):
            note = message.notification
            self.items.append((note.severity, note.title, note.message, note.markup))

    def messages(self, severity: str | None = None) -> list[str]:
        return [m for s, _t, m, _k in self.items if severity is None or s == severity]
