"""The main screen: it opens the project, follows its runner and wires the widgets together.

Jobs belong to the project, not to this window: the screen queues work
through a `ProjectClient` and listens; a detached runner does the work, so
closing the window (or losing the terminal) never stops a batch. Widgets
never touch the project or the client. They get attributes set and post
messages; this screen turns those into saves and requests, and turns job
events (which arrive on the loop, possibly thousands a second) into at most
one UI update per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from tui.config import ConfigError, ImageRenderer
from tui.domain.edits import EditError, normalize
from tui.domain.models import AssetKind, AssetState, Scene
from tui.engine.client import Launcher, ProjectClient, RunnerError
from tui.engine.events import (
    BackendChanged,
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobSucceeded,
    JobSuperseded,
    RunnerChanged,
    SceneEdited,
)
from tui.engine.project import BackendChoice, Project
from tui.engine.requests import WAITS_FOR_IMAGE, Plan, Refused
from tui.store.errors import StoreError
from tui.ui.commands import PaletteCommand, StoryboardCommands
from tui.ui.model import Board, Counts, JobBoard, statuses_of
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.text import one_line, plain, plural
from tui.ui.widgets.batch_bar import BatchBar
from tui.ui.widgets.header import StoryHeader
from tui.ui.widgets.inspector import Inspector, MediaInfo
from tui.ui.widgets.key_hints import KeyHints
from tui.ui.widgets.scene_list import SceneList

FRAME = 1 / 30
"""Job events are folded into at most one UI update per this many seconds.

30 a second keeps progress within 50 ms of the server (p95, measured by
bench_runner); 20 a second cost less CPU in a flood but left p95 at 51 ms.
"""
NARROW = 100
"""Below this many columns the list and the inspector take turns."""
RUN_REFRESH = 0.5
"""Seconds between batch-bar updates while only the progress fraction moves."""
INSPECT_DELAY = 0.08
"""The inspector follows the list cursor once it has rested this long."""

REGEN_ACTIONS = frozenset(
    {"regenerate", "new_take", "batch", "batch_all", "cancel_scene", "cancel_all", "stop_runner"}
)


@dataclass
class ScreenOptions:
    """What the app hands the screen: settings, and the knobs tests pin."""

    project_path: Path
    launcher: Launcher | None = None
    """Starts the project's runner when there is work and none lives; tests run one in-process."""
    backend_name: str | None = None
    comfyui: list[str] = field(default_factory=list)
    """Servers from `--comfyui`; they replace the project's."""
    default_servers: list[str] = field(default_factory=list)
    """The user's `comfyui_servers`, for a project that lists none."""
    save_delay: float = 0.5
    image_renderer: ImageRenderer = "auto"
    cursor_blink: bool = True
    poll_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    keymap: dict[str, str] = field(default_factory=dict)


def clip_seconds(path: Path) -> float | None:
    """A clip's length from its container header; cheap, and None if unreadable."""
    import av  # only when a clip is shown: PyAV is slow to import

    try:
        with av.open(str(path)) as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, OSError, IndexError, ValueError):
        return None
    return None


class MainScreen(Screen[None]):
    """Header, batch bar, scene list, inspector, footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "i",
            "regenerate('image')",
            "Image",
            id="regenerate.image",
            tooltip="Regenerate the selected scene's image",
        ),
        Binding(
            "v",
            "regenerate('video')",
            "Video",
            id="regenerate.video",
            tooltip="Regenerate the selected scene's video",
        ),
        Binding(
            "I",
            "batch('image')",
            "All images",
            id="regenerate.dirty_images",
            tooltip="Regenerate every dirty (or missing) image",
        ),
        Binding(
            "V",
            "batch('video')",
            "All videos",
            id="regenerate.dirty_videos",
            tooltip="Regenerate every dirty (or missing) video",
        ),
        Binding(
            "a",
            "batch_all",
            "All dirty",
            id="regenerate.all_dirty",
            tooltip="Regenerate everything dirty: images first, then their videos",
        ),
        Binding(
            "x",
            "cancel_scene",
            "Cancel",
            id="cancel.scene",
            tooltip="Cancel the selected scene's jobs",
        ),
        Binding(
            "d",
            "toggle_dirty_only",
            "Dirty only",
            id="view.dirty_only",
            tooltip="Show only scenes with a dirty or missing asset",
        ),
        Binding("slash", "filter", "Filter", id="view.filter", tooltip="Filter scenes by text"),
        Binding(
            "enter",
            "edit",
            "Edit",
            id="edit.inspector",
            tooltip="Edit the selected scene in the inspector",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="edit.back",
            tooltip="Back to the scene list",
        ),
        Binding("question_mark", "help", "Help", id="help.show", tooltip="Show every key"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | i / v | Regenerate the selected scene's image / video. |
    | I / V | Regenerate every dirty image / video. |
    | a | Regenerate everything dirty. |
    | x | Cancel the selected scene's jobs. |
    | d | Toggle "dirty only". |
    | / | Filter by text. |
    | enter / escape | Edit the scene / back to the list. |
    | ? | Help. |
    """

    COMMANDS = {StoryboardCommands}

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (NARROW, "-wide")]
    """Below 100 columns the inspector takes the list's place while editing."""

    DEFAULT_CSS = """
    MainScreen {
        layout: vertical;
        & > #body { height: 1fr; }
        & #list-pane { width: 46%; min-width: 44; height: 1fr; }
        & #list-header {
            height: 1;
            background: $panel;
            color: $foreground-muted;
            padding: 0 1 0 0;
            & > #list-columns { width: 1fr; }
            & > #list-count { width: auto; }
        }
        & #filter {
            display: none;
            height: 1;
            border: none;
            padding: 0 1;
            background: $boost;
            &.-shown { display: block; }
        }
        & SceneList { height: 1fr; }
        & #scene-summary {
            display: none;
            height: auto;
            max-height: 3;
            padding: 0 1;
            background: $panel;
            color: $foreground-muted;
        }
        &.-narrow #scene-summary { display: block; }
        & Inspector {
            width: 1fr;
            border-left: vkey $panel-lighten-1;
        }
        &.-narrow #list-pane { width: 1fr; }
        &.-narrow Inspector { border-left: none; }
    }
    """

    @dataclass
    class EngineChanged(Message):
        """Engine events arrived; any number of these collapse into one update."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, MainScreen.EngineChanged)

    def __init__(self, options: ScreenOptions) -> None:
        super().__init__()
        self.options = options
        self.project: Project | None = None
        self.client: ProjectClient | None = None
        self.board: Board | None = None
        self.jobs = JobBoard(clock=options.clock)
        self._unsubscribe: Callable[[], None] | None = None
        self._touched: set[int] = set()
        self._scene_updates: dict[int, Scene] = {}
        self._failures: list[JobFailed] = []
        self._previews: dict[int, bytes | None] = {}
        self._flush_posted = False
        self._flush_timer = False
        self._last_flush = 0.0
        self._run_shown_at = 0.0
        self._run_timer_set = False
        self._drafts: dict[int, dict[str, Any]] = {}
        self._save_lock = asyncio.Lock()
        self._clip_lengths: dict[str, float | None] = {}
        self._shut_down = False
        self._inspect_timer: Timer | None = None
        self.header = StoryHeader(id="header")
        self.batch_bar = BatchBar(id="batch-bar")
        self.list_columns = Static(id="list-columns", markup=False)
        self.list_count = Static(id="list-count", markup=False)
        self.filter_input = Input(
            id="filter", placeholder="filter scenes…  (enter keeps, esc clears)"
        )
        self.scene_list = SceneList(id="scenes")
        self.list_pane = Vertical(id="list-pane")
        self.summary = Static(id="scene-summary", markup=False)
        self.inspector = Inspector(
            id="inspector",
            save_delay=options.save_delay,
            renderer=options.image_renderer,
            cursor_blink=options.cursor_blink,
        )

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.batch_bar
        with Horizontal(id="body"):
            with self.list_pane:
                with Horizontal(id="list-header"):
                    yield self.list_columns
                    yield self.list_count
                yield self.filter_input
                yield self.scene_list
                yield self.summary
            yield self.inspector
        yield KeyHints(id="key-hints")

    # -- life cycle ----------------------------------------------------------

    async def on_mount(self) -> None:
        self.filter_input.cursor_blink = self.options.cursor_blink
        self.scene_list.badge_for = self.jobs.badge
        self.scene_list.focus()
        self._arrange_panes()
        try:
            await self._open()
        except (StoreError, ConfigError, OSError, ImportError) as error:
            self.app.exit(return_code=2, message=f"storyboard: error: {error}")
            return
        self._start_client()

    async def _open(self) -> None:
        options = self.options
        choice = BackendChoice(
            options.backend_name, tuple(options.comfyui), tuple(options.default_servers)
        )
        project = await Project.open(options.project_path, choice=choice)
        self.project = project
        board = self.board = Board(project.status)
        board.load(await project.scenes())
        self.header.project_name = project.name
        self.header.backend_name = project.backend_name
        self.inspector.scene_count = len(board)
        self.scene_list.row_for = board.row
        last = board.scenes[board.order[-1]].position if board.order else 0
        self.scene_list.set_order(board.order, last_position=last)
        self._update_list_header()
        self._judge_all()

    @work(exclusive=True, group="judge", exit_on_error=False)
    async def _judge_all(self) -> None:
        """Work out every scene's status off the loop, for the batch bar's counts."""
        board = self.board
        if board is None:
            return
        judged = dict(board.scenes)
        statuses = await asyncio.to_thread(statuses_of, list(judged.values()), board.status_of)
        board.complete(statuses, judged)
        self._refresh_counts()

    @work(exclusive=True, group="client", exit_on_error=False)
    async def _start_client(self) -> None:
        """Follow the project's jobs; a runner is started when there is work for one."""
        project = self.project
        assert project is not None
        client = ProjectClient(
            project, launcher=self.options.launcher, poll_interval=self.options.poll_interval
        )
        self._unsubscribe = client.subscribe(self._on_engine_event)
        await client.start()
        if self._shut_down:
            await client.close()
            return
        self.client = client
        for scene_id in self.jobs.seed(client.active_jobs):
            self._touched.add(scene_id)
        self.header.runner = client.runner
        self.refresh_bindings()
        if client.active_jobs:
            self.app.notify(
                f"{plural(len(client.active_jobs), 'job')} of this project are queued or "
                "running; the runner carries on with them.",
                markup=False,
            )
        self._schedule_flush()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Errors of the screen's workers end up here, as one toast each, never a traceback."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.app.notify(
                f"{event.worker.name or 'A background task'} failed: {error}",
                severity="error",
                markup=False,
            )

    async def shutdown(self) -> None:
        """Save what is typed, stop following the runner, close the database; safe twice.

        The runner and its jobs go on: they belong to the project, not to this window.
        """
        if self._shut_down:
            return
        self._shut_down = True
        with contextlib.suppress(Exception):
            await self._settle_edits()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        if self.project is not None:
            with contextlib.suppress(Exception):
                await self.project.close()

    async def on_unmount(self) -> None:
        await self.shutdown()

    # -- keeping up with the database ------------------------------------------

    def _apply_scene(self, scene: Scene) -> None:
        """Show a newer copy of a scene everywhere it appears."""
        board = self.board
        if board is None:
            return
        known = scene.id in board.scenes
        board.put(scene)
        self._drafts.pop(scene.id, None)
        if known:
            self.scene_list.update_row(scene.id)
        else:
            self.scene_list.add_scene(scene.id, board.order)
            self.inspector.scene_count = len(board)
        self._refresh_counts()
        shown = self.inspector.scene
        if shown is not None and shown.id == scene.id:
            self._show_in_inspector(scene)

    def _refresh_counts(self) -> None:
        if self.board is not None:
            self.batch_bar.counts = self.board.counts() or Counts()

    def _update_list_header(self) -> None:
        scene_list = self.scene_list
        width = max(3, len(str(scene_list.total_count)))
        left = f" {'#':>{width}} I V  Narration"
        parts = []
        if scene_list.dirty_only:
            parts.append("dirty only")
        if scene_list.filter_text.strip():
            parts.append(f"“{one_line(scene_list.filter_text.strip())}”")
        shown = scene_list.shown_count
        total = scene_list.total_count
        count = f"{shown}/{total}" if shown != total else plural(total, "scene")
        self.list_columns.update(Content(left))
        self.list_count.update(Content(" · ".join([*parts, count])))

    # -- the inspector ---------------------------------------------------------

    @on(SceneList.Highlighted)
    def _highlighted(self, message: SceneList.Highlighted) -> None:
        """Follow the cursor, once it rests: holding an arrow key must not load every scene."""
        if self._inspect_timer is not None:
            self._inspect_timer.stop()
        if self.inspector.scene is None:
            self._inspect_highlighted()
        else:
            self._inspect_timer = self.set_timer(
                INSPECT_DELAY, self._inspect_highlighted, name="inspect"
            )

    def _inspect_highlighted(self) -> None:
        self._inspect_timer = None
        scene_id = self.scene_list.highlighted
        if self.board is None:
            return
        shown = self.inspector.scene
        if self._focus_in_inspector() and shown is not None and shown.id != scene_id:
            return  # never swap the scene under someone typing; enter will catch up
        self._show_in_inspector(self.board.scenes.get(scene_id) if scene_id else None)

    @on(SceneList.Selected)
    def _scene_selected(self, message: SceneList.Selected) -> None:
        self.action_edit()

    def _show_in_inspector(self, scene: Scene | None) -> None:
        inspector = self.inspector
        project = self.project
        if scene is None or project is None or self.board is None:
            inspector.scene = None
            return
        shown = scene
        draft = self._drafts.get(scene.id)
        if draft:
            shown = scene.model_copy(update=draft)
        inspector.scene = scene
        inspector.status = project.status(shown)
        inspector.reasons = project.why(shown)
        inspector.image_busy = self.jobs.busy(scene.id, AssetKind.IMAGE)
        inspector.video_busy = self.jobs.busy(scene.id, AssetKind.VIDEO)
        inspector.preview = self._previews.get(scene.id)
        inspector.media = self._media(scene)
        self._summarise(scene, inspector.reasons)

    def _summarise(self, scene: Scene, reasons: dict[AssetKind, list[str]]) -> None:
        """One or two lines under the list, for narrow screens where the inspector hides."""
        parts = [f"Scene {scene.position}"]
        for kind in AssetKind:
            lines = reasons.get(kind, [])
            if lines:
                parts.append(f"{kind.value}: {'; '.join(lines)}")
        if len(parts) == 1:
            parts.append("up to date")
        parts.append("enter to edit")
        self.summary.update(Content(plain(" · ".join(parts))))

    def _media(self, scene: Scene) -> MediaInfo:
        assert self.project is not None
        still = None
        if scene.image is not None:
            with contextlib.suppress(StoreError):
                still = self.project.asset_path(scene.image.file)
        if scene.video is None:
            return MediaInfo(still=still)
        name = Path(scene.video.file).name
        if scene.video.file in self._clip_lengths:
            measured = self._clip_lengths[scene.video.file]
            if measured is not None:
                return MediaInfo(still, name, measured, video_measured=True)
        else:
            self._measure_clip(scene.video.file)
        return MediaInfo(still, name, scene.audio_duration)

    @work(group="clips", exit_on_error=False)
    async def _measure_clip(self, relative: str) -> None:
        assert self.project is not None
        try:
            path = self.project.asset_path(relative)
        except StoreError:
            return
        seconds = await asyncio.to_thread(clip_seconds, path)
        self._clip_lengths[relative] = seconds
        current = self.inspector.scene
        if seconds is not None and current and current.video and current.video.file == relative:
            self.inspector.media = self._media(current)

    @on(Inspector.FieldDrafted)
    def _drafted(self, message: Inspector.FieldDrafted) -> None:
        """Move the markers at once, before the edit is saved."""
        board, project = self.board, self.project
        if board is None or project is None or message.scene_id not in board.scenes:
            return
        try:
            value = normalize(message.field, message.value)
        except EditError:
            return
        draft = self._drafts.setdefault(message.scene_id, {})
        draft[message.field] = value
        saved = board.scenes[message.scene_id]
        scene = saved.model_copy(update=draft)
        self.scene_list.show_draft(board.preview(scene))
        if self.inspector.scene is not None and self.inspector.scene.id == scene.id:
            self.inspector.status = project.status(scene)
            self.inspector.reasons = project.why(scene)

    @on(Inspector.SaveRequested)
    async def _save_requested(self, message: Inspector.SaveRequested) -> None:
        if self.inspector.mark_taken(message.seq):
            await self._save(message.scene_id, message.changes)

    async def _save(self, scene_id: int, changes: dict[str, Any]) -> None:
        project = self.project
        if project is None:
            return
        async with self._save_lock:
            try:
                scene = await project.edit(scene_id, changes)
            except (EditError, StoreError) as error:
                self.inspector.error = one_line(str(error))
                self._drafts.pop(scene_id, None)
                if self.board is not None and scene_id in self.board.scenes:
                    self.scene_list.update_row(scene_id)
                    if self.inspector.scene is not None and self.inspector.scene.id == scene_id:
                        self._show_in_inspector(self.board.scenes[scene_id])
                return
        if self.inspector.scene is not None and self.inspector.scene.id == scene_id:
            self.inspector.error = ""
        self._apply_scene(scene)

    async def _settle_edits(self) -> None:
        """Save what is typed now (before a regeneration, or on exit), in order."""
        for _seq, scene_id, changes in self.inspector.take_unsaved():
            await self._save(scene_id, changes)
        async with self._save_lock:  # and wait for a save already under way
            pass

    @on(Inspector.RegenerateRequested)
    async def _regenerate_requested(self, message: Inspector.RegenerateRequested) -> None:
        await self._regenerate(message.scene_id, message.kind)

    # -- engine events ---------------------------------------------------------

    def _on_engine_event(self, event: EngineEvent) -> None:
        """Called by the engine on the loop: record, and ask for one update later."""
        scene_id = self.jobs.apply(event)
        if scene_id is not None:
            self._touched.add(scene_id)
        if isinstance(event, JobPreview):
            self._previews[event.scene_id] = event.data
            self._touched.add(event.scene_id)
        elif isinstance(event, JobSucceeded):
            self._scene_updates[event.scene.id] = event.scene
        elif isinstance(event, SceneEdited):
            self._scene_updates[event.scene.id] = event.scene
        elif isinstance(event, RunnerChanged):
            self.header.runner = event.info
        elif isinstance(event, BackendChanged):
            self.header.backend = event.status
        if isinstance(event, JobSucceeded | JobFailed | JobCancelled | JobSuperseded):
            if event.job.kind is AssetKind.IMAGE:
                self._previews.pop(event.scene_id, None)
            if isinstance(event, JobFailed):
                self._failures.append(event)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_posted or self._flush_timer:
            return
        wait = self._last_flush + FRAME - time.monotonic()
        if wait > 0:
            self._flush_timer = True
            self.set_timer(wait, self._post_flush, name="engine-frame")
        else:
            self._post_flush()

    def _post_flush(self) -> None:
        self._flush_timer = False
        if not self._flush_posted:
            self._flush_posted = True
            self.post_message(self.EngineChanged())

    @on(EngineChanged)
    def _engine_changed(self, message: EngineChanged) -> None:
        self._flush_posted = False
        self._last_flush = time.monotonic()
        touched, self._touched = self._touched, set()
        updates, self._scene_updates = self._scene_updates, {}
        failures, self._failures = self._failures, []
        for scene in updates.values():
            self._apply_scene(scene)
        # When a job is queued, starts or ends, every waiting job's place moves:
        # look at every line on screen; otherwise only at the scenes touched.
        if not self.jobs.queue_moved:
            self.scene_list.limit_badge_refresh(touched)
        self.jobs.queue_moved = False
        self.scene_list.refresh_badges()
        shown = self.inspector.scene
        if shown is not None and shown.id in touched and shown.id not in updates:
            # Only the job state moved: cheap reactives, never a reload of every field.
            self.inspector.image_busy = self.jobs.busy(shown.id, AssetKind.IMAGE)
            self.inspector.video_busy = self.jobs.busy(shown.id, AssetKind.VIDEO)
            self.inspector.preview = self._previews.get(shown.id)
        for failure in failures:
            self._toast_failure(failure)
        summary = self.jobs.finish_run()
        self._show_run()
        if summary is not None and summary.succeeded + summary.failed > 1:
            made = [
                plural(count, noun)
                for count, noun in ((summary.images, "image"), (summary.videos, "video"))
                if count
            ]
            text = f"Finished: {' and '.join(made) or 'nothing'} made"
            if summary.failed:
                text += f"; {summary.failed} failed"
            self.app.notify(text, markup=False)

    def _show_run(self) -> None:
        """Give the batch bar the run's state: at once when counts move, else twice a second.

        Its bar and time left drift with every progress event; repainting the
        full-width bar 30 times a second also repaints everything between it
        and the list lines that changed.
        """
        run = self.jobs.run()
        shown = self.batch_bar.run
        now = time.monotonic()
        counts_moved = (
            run is None
            or shown is None
            or (run.images, run.videos, run.done, run.total)
            != (shown.images, shown.videos, shown.done, shown.total)
        )
        if counts_moved or now - self._run_shown_at >= RUN_REFRESH:
            self._run_shown_at = now
            self.batch_bar.run = run
        elif not self._run_timer_set:
            # A trailing update, so the bar always ends up showing the latest state.
            self._run_timer_set = True
            self.set_timer(self._run_shown_at + RUN_REFRESH - now, self._trailing_run)

    def _trailing_run(self) -> None:
        self._run_timer_set = False
        self._show_run()

    def _toast_failure(self, event: JobFailed) -> None:
        kind = event.job.kind.value.capitalize()
        where = ""
        if self.board is not None and event.scene_id in self.board.scenes:
            where = f"Scene {self.board.scenes[event.scene_id].position}"
        self.app.notify(
            f"{kind} regeneration failed: {plain(event.message, multiline=True)}",
            title=where,
            severity="error",
            markup=False,
            timeout=12,
        )

    # -- actions -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in REGEN_ACTIONS and self.client is None:
            return None  # shown, but dimmed, until the project's jobs are followed
        if action in ("edit", "back"):
            editing = self._focus_in_inspector() or self.focused is self.filter_input
            return editing if action == "back" else not editing
        return True

    def _focus_in_inspector(self) -> bool:
        focused = self.focused
        return focused is not None and self.inspector in focused.ancestors_with_self

    def _scene_name(self, scene_id: int) -> str:
        if self.board is not None and scene_id in self.board.scenes:
            return f"Scene {self.board.scenes[scene_id].position}"
        return "This scene"

    def _client_or_warn(self) -> ProjectClient | None:
        if self.client is None:
            self.app.notify("Still opening the project…", severity="warning", markup=False)
        return self.client

    def _runner_failed(self, error: RunnerError) -> None:
        self.app.notify(
            f"Queued, but the runner could not start: {error}",
            title="Jobs wait",
            severity="error",
            markup=False,
            timeout=12,
        )

    async def action_regenerate(self, kind: str) -> None:
        scene_id = self.scene_list.highlighted
        if scene_id is not None:
            await self._regenerate(scene_id, AssetKind(kind))

    async def action_new_take(self, kind: str) -> None:
        scene_id = self.scene_list.highlighted
        if scene_id is not None:
            await self._regenerate(scene_id, AssetKind(kind), force=True)

    async def _regenerate(self, scene_id: int, kind: AssetKind, *, force: bool = False) -> None:
        client = self._client_or_warn()
        if client is None or self.board is None:
            return
        await self._settle_edits()
        try:
            job = await client.regenerate(scene_id, kind, force=force)
        except Refused as refusal:
            self.app.notify(str(refusal), severity="warning", markup=False)
            return
        except RunnerError as error:
            self._runner_failed(error)
            return
        except StoreError as error:
            self.app.notify(str(error), severity="error", markup=False)
            return
        if job is not None:
            return
        name = self._scene_name(scene_id)
        known = scene_id in self.board.scenes
        if known and self.board.status(scene_id).of(kind) is AssetState.CLEAN:
            self.app.notify(
                f"{name}'s {kind.value} is up to date. For a new take, open the palette "
                f"(ctrl+p) and run “regenerate: new take of this {kind.value}”.",
                markup=False,
            )
        else:
            self.app.notify(f"{name}'s {kind.value} is already queued.", markup=False)

    async def action_batch(self, kind: str) -> None:
        await self._batch([AssetKind(kind)])

    async def action_batch_all(self) -> None:
        await self._batch([AssetKind.IMAGE, AssetKind.VIDEO])

    @on(BatchBar.BatchRequested)
    async def _batch_requested(self, message: BatchBar.BatchRequested) -> None:
        await self._batch([message.kind])

    @on(BatchBar.CancelRequested)
    async def _cancel_requested(self, message: BatchBar.CancelRequested) -> None:
        await self.action_cancel_all()

    async def _batch(self, kinds: list[AssetKind]) -> None:
        client = self._client_or_warn()
        if client is None:
            return
        await self._settle_edits()
        try:
            plan = await client.request(kinds, include_missing=True)
        except RunnerError as error:
            self._runner_failed(error)
            return
        except StoreError as error:
            self.app.notify(str(error), severity="error", markup=False)
            return
        self.app.notify(self._describe_plan(plan, kinds), markup=False)

    def _describe_plan(self, plan: Plan, kinds: list[AssetKind]) -> str:
        queued = plan.queued
        if not queued:
            nouns = " or ".join(f"{kind.value}s" for kind in kinds)
            text = f"No dirty {nouns} to regenerate."
        else:
            parts = []
            for kind in kinds:
                count = sum(1 for decision in queued if decision.kind is kind)
                if count:
                    parts.append(plural(count, f"{kind.value} regeneration"))
            text = f"Queued {' and '.join(parts)}."
        waiting = [
            decision
            for decision in plan.skipped
            if decision.kind is AssetKind.VIDEO and decision.why in WAITS_FOR_IMAGE
        ]
        if waiting:
            text += (
                f" {plural(len(waiting), 'video')} skipped: the image is stale or missing;"
                " press a to regenerate both."
            )
        return text

    async def action_cancel_scene(self) -> None:
        client = self._client_or_warn()
        scene_id = self.scene_list.highlighted
        if client is None or scene_id is None:
            return
        count = await client.cancel_scene(scene_id)
        name = self._scene_name(scene_id)
        if count:
            self.app.notify(f"Cancelled {plural(count, 'job')} for {name.lower()}.")
        else:
            self.app.notify(f"{name} has no jobs to cancel.", markup=False)

    async def action_cancel_all(self) -> None:
        client = self._client_or_warn()
        if client is None:
            return
        count = await client.cancel_all()
        self.app.notify(f"Cancelled {plural(count, 'job')}." if count else "No jobs to cancel.")

    @work(exclusive=True, group="stop-runner", exit_on_error=False)
    async def action_stop_runner(self) -> None:
        """Stop the runner, after asking: it cancels work that may have taken hours."""
        client = self._client_or_warn()
        if client is None:
            return
        if client.runner.pid is None:
            self.app.notify("The runner is not running.", markup=False)
            return
        jobs = len(client.active_jobs)
        question = (
            f"Stop the runner and cancel its {plural(jobs, 'job')}?"
            if jobs
            else "Stop the runner? It has no jobs, and would exit by itself soon."
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Stop it")):
            return
        if await client.stop_runner():
            self.app.notify(
                f"Runner stopped; {plural(jobs, 'job')} cancelled." if jobs else "Runner stopped.",
                markup=False,
            )
        else:
            self.app.notify("The runner did not stop in time.", severity="error", markup=False)

    def action_toggle_dirty_only(self) -> None:
        self.scene_list.dirty_only = not self.scene_list.dirty_only
        self._update_list_header()

    def action_filter(self) -> None:
        self.filter_input.add_class("-shown")
        self.filter_input.focus()

    def action_clear_filter(self) -> None:
        self.filter_input.value = ""
        self.filter_input.remove_class("-shown")
        self.scene_list.filter_text = ""
        self._update_list_header()
        self.scene_list.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.scene_list.filter_text = event.value
        self._update_list_header()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.filter_input.remove_class("-shown")
        self.scene_list.focus()

    def action_edit(self) -> None:
        highlighted = self.scene_list.highlighted
        if highlighted is None:
            return
        shown = self.inspector.scene
        if shown is None or shown.id != highlighted:
            # The cursor has not rested yet; never edit the scene it just left.
            if self._inspect_timer is not None:
                self._inspect_timer.stop()
            self._inspect_highlighted()
        self.inspector.focus_first()
        self._arrange_panes()

    def action_back(self) -> None:
        focused = self.focused
        if focused is self.filter_input:
            self.action_clear_filter()
            return
        self.screen.set_focus(self.scene_list)
        self._arrange_panes()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_rows()))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._arrange_panes()
        self.refresh_bindings()

    def on_resize(self) -> None:
        self._arrange_panes()

    def _arrange_panes(self) -> None:
        """Below NARROW columns the inspector takes the list's place while it has focus.

        Done with `display`, not a class on the screen, so the switch does not
        restyle every widget.
        """
        narrow = self.size.width < NARROW
        editing = self._focus_in_inspector()
        self.list_pane.display = not (narrow and editing)
        self.inspector.display = not narrow or editing

    # -- palette and help ----------------------------------------------------------

    def palette_commands(self) -> list[PaletteCommand]:
        keys = self._keys()
        return [
            PaletteCommand(
                "regenerate: image of this scene",
                f"Queue the selected scene's image ({keys['regenerate.image']})",
                "regenerate('image')",
            ),
            PaletteCommand(
                "regenerate: video of this scene",
                f"Queue the selected scene's video ({keys['regenerate.video']})",
                "regenerate('video')",
            ),
            PaletteCommand(
                "regenerate: new take of this image",
                "A new image even though it is up to date (draws a new seed)",
                "new_take('image')",
            ),
            PaletteCommand(
                "regenerate: new take of this video",
                "A new video even though it is up to date",
                "new_take('video')",
            ),
            PaletteCommand(
                "regenerate: all dirty images",
                f"Every dirty or missing image ({keys['regenerate.dirty_images']})",
                "batch('image')",
            ),
            PaletteCommand(
                "regenerate: all dirty videos",
                f"Every dirty or missing video ({keys['regenerate.dirty_videos']})",
                "batch('video')",
            ),
            PaletteCommand(
                "regenerate: everything dirty",
                f"Images first, then their videos ({keys['regenerate.all_dirty']})",
                "batch_all",
            ),
            PaletteCommand(
                "cancel: this scene's jobs",
                f"Cancel the selected scene's jobs ({keys['cancel.scene']})",
                "cancel_scene",
            ),
            PaletteCommand("cancel: all jobs", "Cancel every queued or running job", "cancel_all"),
            PaletteCommand(
                "view: dirty only",
                f"Show only scenes that need work, or all again ({keys['view.dirty_only']})",
                "toggle_dirty_only",
            ),
            PaletteCommand(
                "view: filter scenes", f"Filter by text ({keys['view.filter']})", "filter"
            ),
            PaletteCommand("view: clear filter", "Show every scene again", "clear_filter"),
            PaletteCommand(
                "edit: this scene",
                f"Edit the selected scene's prompts ({keys['edit.inspector']})",
                "edit",
            ),
            PaletteCommand(
                "runner: stop",
                "Cancel every queued and running job and stop the project's runner",
                "stop_runner",
            ),
            PaletteCommand("help: keys", f"Every key ({keys['help.show']})", "help"),
        ]

    def _keys(self) -> dict[str, str]:
        """Binding id → the key shown for it, after the user's keymap."""
        keymap = self.options.keymap
        shown: dict[str, str] = {}
        for binding in self._all_bindings():
            if binding.id is None:
                continue
            key = keymap.get(binding.id, binding.key).split(",")[0].strip()
            shown[binding.id] = self.app.get_key_display(binding.with_key(key))
        return shown

    def _all_bindings(self) -> list[Binding]:
        bindings: list[Binding] = []
        for source in (
            MainScreen.BINDINGS,
            SceneList.BINDINGS,
            type(self.app).BINDINGS,
        ):
            bindings.extend(item for item in source if isinstance(item, Binding))
        return bindings

    def help_rows(self) -> list[tuple[str, str, str]]:
        keymap = self.options.keymap
        sections = {
            "regenerate": "Regenerate",
            "cancel": "Regenerate",
            "view": "View",
            "edit": "Edit",
            "help": "App",
            "app": "App",
            "list": "Scene list",
        }
        rows: list[tuple[str, str, str]] = []
        for binding in self._all_bindings():
            if binding.id is None:
                continue
            keys = keymap.get(binding.id, binding.key)
            display = ", ".join(
                self.app.get_key_display(binding.with_key(key.strip())) for key in keys.split(",")
            )
            section = sections.get(binding.id.split(".")[0], "App")
            rows.append((section, display, binding.tooltip or binding.description))
        order = ["Scene list", "Edit", "Regenerate", "View", "App"]
        rows.sort(key=lambda row: order.index(row[0]))
        extra = ("Edit", "←/→  -/+", "Step motion strength by 0.05")
        rows.insert(next(i for i, row in enumerate(rows) if row[0] == "Edit") + 1, extra)
        return rows
