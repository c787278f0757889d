"""The Storyboard app: themes, keymap and settings; the features live in the main screen.

`run_app` is what `storyboard PATH` calls. Tests build `StoryboardApp`
directly with an in-memory backend and settings that never come from the
user's files.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui.config import ConfigError, UserSettings
from tui.engine.client import Launcher
from tui.errors import StoreError
from tui.folder import ProjectFolder
from tui.ui import keys
from tui.ui.hangup import TerminalWatch, force_exit_later
from tui.ui.screens.main import MainScreen, ScreenOptions
from tui.ui.themes import (
    APP_VARIABLES,
    BUNDLED_THEMES_DIR,
    DEFAULT_THEME,
    describe_errors,
    load_themes,
    user_themes_dir,
)

FALLBACK_THEME = "textual-dark"
MAX_TOASTS = 3
"""More than this on screen at once buried the inspector; the oldest gives way."""


@dataclass(frozen=True)
class _Toast:
    until: float
    message: str
    title: str
    severity: SeverityLevel
    markup: bool


class StoryboardApp(App[int]):
    """Prompt-edit regeneration for narrated AI video."""

    TITLE = "Storyboard"

    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.APP_COMMANDS)
    """ctrl+q saves and quits, ctrl+p opens the command palette (see `tui.ui.keys`)."""

    def __init__(
        self,
        project_path: Path | str,
        *,
        launcher: Launcher | None = None,
        backend_name: str | None = None,
        comfyui: Sequence[str] | None = None,
        settings: UserSettings | None = None,
        theme: str | None = None,
        theme_dirs: Sequence[Path | Traversable] | None = None,
        cursor_blink: bool = True,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        startup_warnings: Sequence[str] = (),
        watch_terminal: bool = False,
    ) -> None:
        """Build the app; nothing is opened until it runs.

        Args:
            project_path: The project folder.
            launcher: Starts the project's runner when work is queued and none lives; by
                default a detached process (tests run one in-process).
            backend_name: "draft" or "comfyui", overriding the project's choice.
            comfyui: ComfyUI server URLs, overriding the project's.
            settings: User settings; read from the user's config file when None.
            theme: A theme name that wins over the settings (`--theme`).
            theme_dirs: Where theme files are read; the repo's and the user's by default.
            cursor_blink: False for deterministic screenshots.
            poll_interval: Seconds between looks at the database for other processes' edits.
            clock: Monotonic seconds, for time-left estimates (fixed in tests).
            startup_warnings: Lines to show as one warning toast once the app is up.
            watch_terminal: Save and exit when the terminal hangs up (a real tty only).
        """
        super().__init__()
        self._watch_terminal = watch_terminal
        self._hanging_up = False
        self.warnings = list(startup_warnings)
        """What went wrong with the settings or themes; shown as one toast once up."""
        if settings is None:
            try:
                settings = UserSettings.load()
            except ConfigError as error:
                self.warnings.append(f"{error}; using the default settings")
                settings = UserSettings.model_construct()
        self.settings = settings
        folders = (
            list(theme_dirs) if theme_dirs is not None else [BUNDLED_THEMES_DIR, user_themes_dir()]
        )
        themes, errors = load_themes(folders)
        for loaded in themes:
            self.register_theme(loaded)
        if errors:
            self.warnings.append(describe_errors(errors))
        wanted = theme or settings.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
            self.warnings.append(f"Unknown theme {wanted!r}; using {fallback}")
            self.theme = fallback
        keymap, refused = keys.sendable_keymap(settings.keymap)
        self.warnings.extend(refused)
        self._toasts: deque[_Toast] = deque()
        self.screen_options = ScreenOptions(
            project_path=Path(project_path),
            launcher=launcher,
            backend_name=backend_name,
            comfyui=list(comfyui or []),
            default_servers=list(settings.comfyui_servers),
            save_delay=settings.save_delay,
            image_renderer=settings.image_renderer,
            cursor_blink=cursor_blink,
            poll_interval=poll_interval,
            clock=clock,
            keymap=keymap,
        )

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """`$image-dirty`, `$video-dirty` and `$asset-missing`, which a theme may override."""
        return dict(APP_VARIABLES)

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(self.screen_options)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette: the app's own commands first, then Textual's, worded alike.

        Textual's "Quit" ("as soon as possible") would contradict ours, which saves
        what is typed first; its "Keys" panel is replaced by `?`.
        """
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is not None:
            for ours in main.palette_commands():
                yield SystemCommand(ours.title, ours.help, partial(main.run_action, ours.action))
        for textuals in super().get_system_commands(screen):
            if textuals.title == "Quit":
                yield SystemCommand("Quit", "Save what is typed, then quit", self.action_quit)
            elif textuals.title != "Keys":
                yield textuals

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast; never more than MAX_TOASTS on screen, the oldest giving way."""
        now = time.monotonic()
        seconds = timeout if timeout is not None else self.NOTIFICATION_TIMEOUT
        while self._toasts and self._toasts[0].until <= now:
            self._toasts.popleft()
        self._toasts.append(_Toast(now + seconds, message, title, severity, markup))
        if len(self._toasts) <= MAX_TOASTS:
            super().notify(message, title=title, severity=severity, timeout=seconds, markup=markup)
            return
        while len(self._toasts) > MAX_TOASTS:
            self._toasts.popleft()
        self.clear_notifications()
        for toast in self._toasts:
            super().notify(
                toast.message,
                title=toast.title,
                severity=toast.severity,
                timeout=max(0.5, toast.until - now),
                markup=toast.markup,
            )

    def on_mount(self) -> None:
        if self._watch_terminal:
            self._watch_for_hang_up()
        if self.screen_options.keymap:
            self.set_keymap(dict(self.screen_options.keymap))
        if self.warnings:
            self.notify("\n".join(self.warnings), severity="warning", markup=False, timeout=10)

    def _watch_for_hang_up(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)
        stdin = sys.__stdin__
        if stdin is not None and os.isatty(stdin.fileno()):
            TerminalWatch(stdin.fileno(), lambda: self.call_from_thread(self.hang_up)).start()

    def hang_up(self) -> None:
        """The terminal is gone: save what is typed and exit, within two seconds."""
        if self._hanging_up:
            return
        self._hanging_up = True
        force_exit_later()
        self.run_worker(self._save_and_exit(129), name="hang-up", exit_on_error=False)

    async def _save_and_exit(self, status: int) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                await screen.shutdown()
        self.exit(status)

    async def action_quit(self) -> None:
        """Save what is typed before leaving; the runner carries on with any jobs."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                await screen.shutdown()
        self.exit(0)


def run_app(
    path: Path,
    *,
    theme: str | None = None,
    backend: str | None = None,
    comfyui: list[str] | None = None,
) -> int:
    """Open the TUI on a project; returns the process exit status."""
    try:
        ProjectFolder.require(path)
    except StoreError as error:
        print(f"storyboard: error: {error}", file=sys.stderr)
        return 2
    warnings: list[str] = []
    try:
        settings = UserSettings.load()
    except ConfigError as error:
        warnings.append(f"{error}; using the default settings")
        settings = UserSettings.model_construct()
    app = StoryboardApp(
        path,
        backend_name=backend,
        comfyui=comfyui,
        settings=settings,
        theme=theme,
        startup_warnings=warnings,
        watch_terminal=True,
    )
    app.run()
    return app.return_code or 0
