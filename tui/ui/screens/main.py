"""The main screen: layout, and actions that hand the work to the editor session.

Jobs belong to the project, not to this window: the session queues work for
the project's runner and listens, so closing the window (or losing the
terminal) never stops a batch. What moved is shown once a frame: the session
calls `on_change`, which resumes one paced timer; the timer pauses itself
when there is nothing left to show.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from tui.config import ConfigError, ImageRenderer
from tui.domain.models import AssetKind, Scene
from tui.engine.client import Launcher, ProjectClient
from tui.engine.events import JobFailed
from tui.engine.project import BackendChoice
from tui.errors import StoreError
from tui.media.playlist import PlayItem
from tui.ui import keys, wording
from tui.ui.model import Board, Counts, JobBoard, MediaInfo
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.session import Changes, EditorSession, SessionOptions, ViewState
from tui.ui.text import one_line, plain, plural
from tui.ui.widgets.batch_bar import BatchBar
from tui.ui.widgets.header import StoryHeader
from tui.ui.widgets.inspector import Inspector
from tui.ui.widgets.key_hints import KeyHints
from tui.ui.widgets.scene_list import SceneList
from tui.ui.widgets.scene_pane import ScenePane

if TYPE_CHECKING:
    from tui.ui.widgets.player import Player

FRAME = 1 / 30
"""Job events are shown at most this often.

30 a second keeps progress within 50 ms of the server (p95, measured by
bench_runner); 20 a second cost less CPU in a flood but left p95 at 51 ms.
"""
NARROW = 100
"""Below this many columns the list and the inspector take turns."""
BAR_REFRESH = 0.5
"""Seconds between batch-bar updates while only its fraction and time left move."""
INSPECT_QUIET = 0.04
"""A key press that follows another by less than this is a held key: the inspector waits
until it is let go (the list must keep up with the repeat rate); a single press shows the
new scene at once."""
FAILURE_GATHER = 0.75
"""Seconds failures gather before they are toasted: a batch failing for one reason (a
missing model) fails job after job within a few hundred ms, and must be one toast."""
CONFIRM_OVER = 10
"""A batch of more jobs than this, started from a button, asks first: on ComfyUI a stray
Enter on a focused button would otherwise start hours of GPU work."""


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

    def session(self) -> SessionOptions:
        choice = BackendChoice(self.backend_name, tuple(self.comfyui), tuple(self.default_servers))
        return SessionOptions(
            self.project_path,
            choice,
            self.launcher,
            self.poll_interval,
            self.save_delay,
            self.clock,
        )


class MainScreen(Screen[None]):
    """Header, batch bar, scene list, inspector, footer."""

    BINDINGS: ClassVar[list[BindingType]] = keys.bindings(keys.SCREEN_COMMANDS)
    """Declared, with their help texts and palette titles, in `tui.ui.keys`."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-wide")]

    DEFAULT_CSS = """
    MainScreen {
        layout: vertical;
        & > #body { height: 1fr; }
        &.-narrow #scene-summary { display: block; }
        & Inspector {
            width: 1fr;
            border-left: vkey $panel-lighten-1;
        }
        &.-narrow #list-pane { width: 1fr; }
        &.-narrow Inspector { border-left: none; }
    }
    """

    def __init__(self, options: ScreenOptions) -> None:
        super().__init__()
        self.options = options
        self.session = EditorSession(options.session())
        self._frame: Timer | None = None
        self._bar_shown_at = 0.0
        self._failures: list[JobFailed] = []
        """Failures gathering for one toast per reason (`FAILURE_GATHER`)."""
        self._inspect_timer: Timer | None = None
        self._highlighted_at = 0.0
        self._following_playback = False
        """The list's cursor is being moved by a storyboard playback, not by the user."""
        self.header = StoryHeader(id="header")
        self.batch_bar = BatchBar(id="batch-bar")
        self.list_pane = ScenePane(id="list-pane", cursor_blink=options.cursor_blink)
        self.scene_list = self.list_pane.scene_list
        self.filter_input = self.list_pane.filter_input
        self.inspector = Inspector(
            id="inspector", renderer=options.image_renderer, cursor_blink=options.cursor_blink
        )

    @property
    def client(self) -> ProjectClient | None:
        """The runner client, once the project's jobs are followed."""
        return self.session.client

    @property
    def jobs(self) -> JobBoard:
        return self.session.jobs

    @property
    def board(self) -> Board | None:
        return self.session.board

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.batch_bar
        with Horizontal(id="body"):
            yield self.list_pane
            yield self.inspector
        yield KeyHints(id="key-hints")

    # -- life cycle ----------------------------------------------------------------

    async def on_mount(self) -> None:
        session = self.session
        self.scene_list.badge_for = session.jobs.badge
        self.scene_list.row_for = session.row
        self.scene_list.cursor_moved = self._cursor_moved
        self.inspector.drafts_for = session.drafts
        self.scene_list.focus()
        self._arrange_panes()
        try:
            project = await session.open()
        except (StoreError, ConfigError, OSError, ImportError) as error:
            self.app.exit(return_code=2, message=f"storyboard: error: {error}")
            return
        board = session.board
        assert board is not None
        self.header.project_name = project.name
        self.header.backend_name = project.backend_name
        self.inspector.scene_count = len(board)
        last = board.scenes[board.order[-1]].position if board.order else 0
        self.scene_list.set_order(board.order, last_position=last)
        self._restore_view()
        self._frame = self.set_interval(FRAME, self._show_changes, pause=True, name="frame")
        session.on_change = self._frame.resume
        self.run_worker(self._judge_all(), group="judge", exit_on_error=False)
        self._follow_jobs()

    async def _judge_all(self) -> None:
        await self.session.judge_all()
        # The project's scenes live as long as the window: moved out of the collector's
        # reach, a full collection no longer walks 10,000 of them mid-keystroke (pauses
        # of 100-120 ms, twice in 7 s of held keys in bench_tui; after: at most 24 ms).
        gc.freeze()

    @work(exclusive=True, group="client", exit_on_error=False)
    async def _follow_jobs(self) -> None:
        client = await self.session.follow_jobs()
        self.refresh_bindings()
        if client.active_jobs:
            self.app.notify(
                f"{plural(len(client.active_jobs), 'job')} of this project are queued or "
                "running; the runner carries on with them.",
                markup=False,
            )

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Errors of the screen's workers end up here, as one toast each, never a traceback."""
        if event.state is WorkerState.ERROR:
            name = event.worker.name or "A background task"
            self.app.notify(f"{name} failed: {event.worker.error}", severity="error", markup=False)

    def _restore_view(self) -> None:
        """Reopening a project comes back to the scene and filter the user left."""
        view = self.session.view
        self.list_pane.restore(view.filter_text, view.dirty_only)
        if view.scene_id is not None:
            self.scene_list.highlight(view.scene_id)

    async def shutdown(self) -> None:
        """Save what is typed and where the user was; the runner carries on."""
        self.session.view = ViewState(
            self.scene_list.highlighted,
            self.scene_list.filter_text.strip(),
            self.scene_list.dirty_only,
        )
        await self.session.close()

    async def on_unmount(self) -> None:
        await self.shutdown()
        gc.unfreeze()  # what the window held may be collected again (tests open many)

    # -- showing what changed, once a frame ------------------------------------------

    def _show_changes(self) -> None:
        session = self.session
        changes = session.take_changes()
        board = session.board
        if board is None:
            return
        if changes.added:
            self.scene_list.add_scenes(board.order)
            self.inspector.scene_count = len(board)
        for scene_id in changes.scenes:
            self.scene_list.update_row(scene_id)
        self.batch_bar.counts = board.counts() or Counts()  # O(1); equal counts repaint nothing
        if not changes.queue_moved:
            self.scene_list.limit_badge_refresh(changes.touched)
        self.scene_list.refresh_badges()
        if changes.runner is not None:
            self.header.runner = changes.runner
            self.refresh_bindings()
        if changes.backend is not None:
            self.header.backend = changes.backend
        if changes.film:
            self.header.film = (session.cut, session.exporting)
        if changes.exported is not None:
            cut = session.cut
            text, level = wording.exported_text(changes.exported, cut.file if cut else None)
            self.app.notify(text, severity=level, markup=False)
        for warning in changes.warnings:
            self.app.notify(plain(warning), severity="warning", markup=False, timeout=12)
        self._show_inspector_changes(changes)
        self._show_run()
        if changes.failures:
            if not self._failures:
                self.set_timer(FAILURE_GATHER, self._toast_failures, name="failures")
            self._failures.extend(changes.failures)
        if changes.finished is not None and (finished := wording.finished_text(changes.finished)):
            self.app.notify(finished, markup=False)
        if not changes.any and not session.jobs.active and self._frame is not None:
            self._frame.pause()

    def _toast_failures(self) -> None:
        failures, self._failures = self._failures, []
        board = self.session.board
        if board is None:
            return
        for title, failed in wording.failure_toasts(failures, board):
            self.app.notify(failed, title=title, severity="error", markup=False, timeout=12)

    def _show_inspector_changes(self, changes: Changes) -> None:
        shown = self.inspector.scene
        if shown is None:
            return
        if shown.id in changes.errors:
            self.inspector.error = one_line(changes.errors[shown.id])
        if shown.id in changes.scenes:
            self._show_in_inspector(shown.id)
        elif shown.id in changes.touched:
            self._show_jobs_in_inspector(shown.id)

    def _show_run(self) -> None:
        """The batch bar: at once when its counts move, else twice a second."""
        run, shown = self.session.jobs.run(), self.batch_bar.run
        counts = (run.images, run.videos, run.done, run.total) if run else None
        was = (shown.images, shown.videos, shown.done, shown.total) if shown else None
        now = time.monotonic()
        if counts != was or now - self._bar_shown_at >= BAR_REFRESH:
            self._bar_shown_at = now
            self.batch_bar.run = run

    # -- the list and the inspector --------------------------------------------------

    @on(ScenePane.ShownChanged)
    def _shown_changed(self, message: ScenePane.ShownChanged) -> None:
        self.inspector.empty_text = message.empty_text

    def _cursor_moved(self, scene_id: int | None) -> None:
        """Follow the cursor: at once for a single press, once let go for a held key."""
        now = time.monotonic()
        held = now - self._highlighted_at < INSPECT_QUIET
        self._highlighted_at = now
        if self._inspect_timer is not None:
            self._inspect_timer.stop()
            self._inspect_timer = None
        if held:
            self._inspect_timer = self.set_timer(INSPECT_QUIET, self._inspect_highlighted)
        else:
            self._inspect_highlighted()

    def _inspect_highlighted(self) -> None:
        self._inspect_timer = None
        scene_id = self.scene_list.highlighted
        if self.inspector.playing and not self._following_playback:
            self.inspector.stop_playing()  # moving to another scene stops a clip
        shown = self.inspector.scene
        if self._focus_in_inspector() and shown is not None and shown.id != scene_id:
            return  # never swap the scene under someone typing; enter will catch up
        if shown is not None and shown.id != scene_id:
            self.session.flush()
            self.inspector.error = ""
        self._show_in_inspector(scene_id)

    @on(SceneList.Selected)
    def _scene_selected(self, message: SceneList.Selected) -> None:
        self.action_edit()

    def _show_in_inspector(self, scene_id: int | None) -> None:
        session, inspector = self.session, self.inspector
        saved = session.board.scenes.get(scene_id) if session.board and scene_id else None
        if saved is None:
            inspector.scene = None
            return
        shown = session.scene(saved.id) or saved
        reasons = session.reasons(shown)
        inspector.show(
            saved,
            status=session.status(shown),
            reasons=reasons,
            failures=session.failures_of(saved.id),
            image_busy=session.jobs.busy(saved.id, AssetKind.IMAGE),
            video_busy=session.jobs.busy(saved.id, AssetKind.VIDEO),
            media=self._media_of(saved),
        )
        self.list_pane.summarise(
            saved, {kind: [r.text for r in lines] for kind, lines in reasons.items()}
        )

    def _show_jobs_in_inspector(self, scene_id: int) -> None:
        """Only the job state moved: cheap flags, and the media only if its preview moved."""
        session, inspector = self.session, self.inspector
        inspector.image_busy = session.jobs.busy(scene_id, AssetKind.IMAGE)
        inspector.video_busy = session.jobs.busy(scene_id, AssetKind.VIDEO)
        inspector.failures = session.failures_of(scene_id)
        scene = inspector.scene
        if scene is None:
            return
        shown = (inspector.media.preview, inspector.media.preview_label)
        if session.live_preview(scene_id) != shown:  # the files are looked up only then
            inspector.media = self._media_of(scene)

    def _media_of(self, scene: Scene) -> MediaInfo:
        media = self.session.media_of(scene)
        if media.video_name is not None and not media.video_measured:
            self._measure_clip(scene)
        return media

    @work(group="clips", exit_on_error=False)
    async def _measure_clip(self, scene: Scene) -> None:
        if await self.session.clip_length(scene) is not None:
            current = self.inspector.scene
            if current is not None and current.id == scene.id and current.video == scene.video:
                self.inspector.media = self._media_of(current)

    @on(Inspector.Edited)
    def _edited(self, message: Inspector.Edited) -> None:
        """Markers move at once; the session saves after a pause."""
        self.session.edit(message.scene_id, message.field, message.value)
        scene = self.session.scene(message.scene_id)
        if scene is not None and self.inspector.scene is not None:
            if self.inspector.scene.id == scene.id:
                self.inspector.status = self.session.status(scene)
                self.inspector.reasons = self.session.reasons(scene)
                self.inspector.failures = self.session.failures_of(scene.id)

    @on(Inspector.Blurred)
    def _blurred(self) -> None:
        self.session.flush()

    @on(Inspector.RegenerateRequested)
    async def _regenerate_requested(self, message: Inspector.RegenerateRequested) -> None:
        await self._regenerate(message.scene_id, message.kind)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in keys.RUNNER_ACTIONS and self.session.client is None:
            return None  # shown, but dimmed, until the project's jobs are followed
        if action == "filter":  # `/` is text in a field, and opens the filter elsewhere
            return not isinstance(self.focused, (Input, TextArea))
        if action == "edit":  # enter presses a button, moves on from a prompt
            return self.focused is self.scene_list
        if action == "back":
            return (
                self.focused is not self.scene_list
                or self.list_pane.filtered
                or self.inspector.playing
            )
        if action == "pause":
            return self.inspector.playing
        return True

    def _focus_in_inspector(self) -> bool:
        focused = self.focused
        return focused is not None and self.inspector in focused.ancestors_with_self

    async def action_regenerate(self, kind: str) -> None:
        if (scene_id := self.scene_list.highlighted) is not None:
            await self._regenerate(scene_id, AssetKind(kind))

    async def action_new_take(self, kind: str) -> None:
        if (scene_id := self.scene_list.highlighted) is not None:
            await self._regenerate(scene_id, AssetKind(kind), force=True)

    async def _regenerate(self, scene_id: int, kind: AssetKind, *, force: bool = False) -> None:
        result = await self.session.regenerate(scene_id, kind, force=force)
        text = wording.regenerate_text(result, self.session.scene_name(scene_id), kind)
        if text is not None:
            self.app.notify(text, severity=wording.severity(result), markup=False)

    async def action_regenerate_both(self) -> None:
        """`b`: this scene's image (if it needs one), then its video from it."""
        if (scene_id := self.scene_list.highlighted) is None:
            return
        result = await self.session.both(scene_id)
        text = wording.both_text(result, self.session.scene_name(scene_id))
        if text is not None:
            self.app.notify(text, severity=wording.severity(result), markup=False)

    async def action_retry_failed(self) -> None:
        result = await self.session.retry_failed()
        self.app.notify(wording.retry_text(result), severity=wording.severity(result), markup=False)

    async def action_batch(self, kind: str) -> None:
        await self._batch([AssetKind(kind)])

    async def action_batch_all(self) -> None:
        await self._batch([AssetKind.IMAGE, AssetKind.VIDEO])

    @on(BatchBar.BatchRequested)
    @work(exclusive=True, group="batch-button", exit_on_error=False)
    async def _batch_requested(self, message: BatchBar.BatchRequested) -> None:
        self.set_focus(self.scene_list)  # a stray Enter after this must not start more work
        size = await self.session.batch_size([message.kind])
        if size > CONFIRM_OVER:
            question = f"Queue {plural(size, message.kind.value + ' regeneration')}?"
            if not await self.app.push_screen_wait(ConfirmScreen(question, yes="Queue them")):
                return
        await self._batch([message.kind])

    @on(BatchBar.CancelRequested)
    async def _cancel_requested(self, message: BatchBar.CancelRequested) -> None:
        self.set_focus(self.scene_list)
        await self.action_cancel_all()

    async def _batch(self, kinds: list[AssetKind]) -> None:
        result = await self.session.batch(kinds)
        self.app.notify(
            wording.batch_text(result, kinds), severity=wording.severity(result), markup=False
        )

    async def action_export(self, force: bool = False) -> None:
        """`e`: the rough cut, made by the runner; a no-op that says so when nothing moved."""
        result = await self.session.export(force=force)
        self.app.notify(
            wording.export_text(result), severity=wording.severity(result), markup=False
        )

    async def action_cancel_export(self) -> None:
        if await self.session.cancel_export():
            self.app.notify("Cancelling the export…", markup=False)
        else:
            self.app.notify("No export is under way in this window.", markup=False)

    async def action_cancel_scene(self) -> None:
        if (scene_id := self.scene_list.highlighted) is None:
            return
        count = await self.session.cancel(scene_id)
        name = self.session.scene_name(scene_id)
        if count:
            self.app.notify(f"Cancelled {plural(count, 'job')} for {name.lower()}.")
        else:
            self.app.notify(f"{name} has no jobs to cancel.", markup=False)

    async def action_cancel_all(self) -> None:
        count = await self.session.cancel()
        self.app.notify(f"Cancelled {plural(count, 'job')}." if count else "No jobs to cancel.")

    @work(exclusive=True, group="stop-runner", exit_on_error=False)
    async def action_stop_runner(self) -> None:
        """Stop the runner, after asking: it cancels work that may have taken hours."""
        client = self.session.client
        if client is None or client.runner.pid is None:
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
        if await self.session.stop_runner():
            done = (
                f"Runner stopped; {plural(jobs, 'job')} cancelled." if jobs else "Runner stopped."
            )
            self.app.notify(done, markup=False)
        else:
            self.app.notify("The runner did not stop in time.", severity="error", markup=False)

    def action_play(self) -> None:
        """`p`: the selected scene's clip, looping, in the inspector's picture area."""
        scene = self._highlighted_scene()
        if scene is None:
            return
        clip = self.session.clip_path(scene)
        if clip is None or not clip.is_file():
            self.app.notify(f"Scene {scene.position} has no clip yet.", markup=False)
            return
        self._start_playing([PlayItem(clip=clip, scene_id=scene.id)], loop=True)

    def action_play_all(self) -> None:
        """`P`: every scene from the selected one on; missing clips show stills or titles."""
        board, start = self.session.board, self._highlighted_scene()
        if board is None or start is None:
            return
        items = self.session.play_items(self.scene_list.shown_ids[self.scene_list.cursor :])
        self._start_playing(items, loop=False)

    def _start_playing(self, items: list[PlayItem], *, loop: bool) -> None:
        self._following_playback = not loop
        if self.size.width < NARROW:
            self.inspector.display = True
            self.list_pane.display = False
        if (why := self.inspector.play(items, loop=loop)) is not None:
            self.app.notify(f"Cannot play: {why}.", severity="warning", markup=False)

    def action_pause(self) -> None:
        if self.inspector.playing:
            self.inspector.toggle_pause()

    def on_player_item_started(self, message: Player.ItemStarted) -> None:
        """A storyboard playback reached the next scene: the list's cursor follows."""
        if self._following_playback and message.scene_id is not None:
            self.scene_list.highlight(message.scene_id)

    def on_player_stopped(self, message: Player.Stopped) -> None:
        self._following_playback = False
        self._arrange_panes()
        if message.error:
            self.app.notify(f"Playback stopped: {message.error}", severity="warning", markup=False)

    def _highlighted_scene(self) -> Scene | None:
        board, scene_id = self.session.board, self.scene_list.highlighted
        return board.scenes.get(scene_id) if board is not None and scene_id else None

    def action_toggle_dirty_only(self) -> None:
        self.list_pane.toggle_dirty_only()

    def action_filter(self) -> None:
        self.list_pane.open_filter()

    def action_clear_filter(self) -> None:
        self.list_pane.clear_filter()

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
        """Esc: stop playback; from a field (or the bar) back to the list; on the list,
        clear the filter."""
        if self.inspector.playing:
            self.inspector.stop_playing()
            return
        if self.focused is self.filter_input or (
            self.focused is self.scene_list and self.list_pane.filtered
        ):
            self.list_pane.clear_filter(dirty_only_too=True)
            return
        self.set_focus(self.scene_list)
        self._arrange_panes()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_rows()))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._arrange_panes()
        self.refresh_bindings()

    def on_resize(self) -> None:
        self._arrange_panes()
        if self.has_class("-narrow") and self.inspector.scene is not None:
            self._show_in_inspector(self.inspector.scene.id)  # the summary was not kept up

    def _arrange_panes(self) -> None:
        """Below NARROW columns the inspector takes the list's place while it has focus.

        Done with `display`, not a class on the screen, so the switch does not
        restyle every widget.
        """
        narrow = self.size.width < NARROW
        editing = self._focus_in_inspector()
        self.list_pane.display = not (narrow and editing)
        self.inspector.display = not narrow or editing

    # -- palette and help (from tui.ui.keys) ----------------------------------------

    def palette_commands(self) -> list[keys.PaletteCommand]:
        return keys.palette_commands(self.app, self.options.keymap)

    def help_rows(self) -> list[tuple[str, str, str]]:
        return keys.help_rows(self.app, self.options.keymap)
