"""The editor session: one window's work on a project, in plain Python (no Textual).

It owns what a screen would otherwise juggle: opening the project, following
its jobs through the runner client, the one buffer of unsaved edits (typed
text is saved after a pause, on blur, before a regeneration, on quit and on
hang-up), and the view model (`Board`, `JobBoard`) the widgets draw from.
Widgets post messages; the screen hands them to the session and, once a
frame, asks it what changed. So the rules are tested without a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.domain.edits import EditError, normalize
from tui.domain.jobs import CutJob, Job, JobState
from tui.domain.models import AssetKind, AssetState, Scene
from tui.domain.staleness import Reason, SceneStatus, current_inputs, fingerprint, reasons
from tui.engine.client import Launcher, ProjectClient, RunnerError
from tui.engine.events import (
    BackendChanged,
    BackendStatus,
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobQueued,
    JobSucceeded,
    JobSuperseded,
    RunnerChanged,
    RunnerInfo,
    SceneEdited,
)
from tui.engine.project import BackendChoice, Project
from tui.engine.requests import WAITS_FOR_IMAGE, Plan, Refused, asset_inputs
from tui.engine.runfiles import RunFiles
from tui.errors import StoreError
from tui.media.playlist import PlayItem
from tui.ui.model import Board, JobBoard, MediaInfo, Row, RunSummary, statuses_of

if TYPE_CHECKING:
    from tui.engine.export import CutView


CUT_BUSY = 10.0
"""While jobs run, the cut is judged again at most this often: a batch stales it anyway,
and judging reads every scene (about 0.1 s of CPU at 10,000 scenes)."""


def clip_seconds(path: Path) -> float | None:
    """A clip's length from its container header; cheap, and None if unreadable."""
    import av  # only when a clip is shown: PyAV is slow to import

    try:
        with av.open(str(path)) as container:
            if container.duration:
                return float(container.duration / 1_000_000)
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, OSError, IndexError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class Failure:
    """An asset's last job failed: why, when, and from which inputs."""

    message: str
    when: datetime
    inputs: str
    """The fingerprint of what the failed job was asked to make; an edit moves the
    scene's inputs away from it, and the failure is no longer shown."""

    @classmethod
    def of(cls, job: Job, message: str | None = None) -> Failure:
        inputs = fingerprint(asset_inputs(job.kind, dict(job.params)))
        return cls(message or job.error or "failed", job.updated, inputs)


@dataclass(frozen=True)
class LivePreview:
    """A running job's latest preview frame, and how far the job had got."""

    kind: AssetKind
    data: bytes
    value: int = 0
    max: int = 0


class Outcome(StrEnum):
    """How a request from the keyboard went; the screen words it."""

    QUEUED = "queued"
    UP_TO_DATE = "up_to_date"
    ALREADY_QUEUED = "already_queued"
    REFUSED = "refused"
    RUNNER_FAILED = "runner_failed"
    ERROR = "error"


@dataclass(frozen=True)
class RequestResult:
    """A request's outcome, its plan (for batches) and the message behind a refusal."""

    outcome: Outcome
    plan: Plan | None = None
    message: str = ""

    @property
    def waiting_videos(self) -> int:
        """Videos skipped because their image is stale or missing."""
        if self.plan is None:
            return 0
        return sum(
            1
            for decision in self.plan.skipped
            if decision.kind is AssetKind.VIDEO and decision.why in WAITS_FOR_IMAGE
        )


@dataclass
class Changes:
    """What moved since the screen last looked; taken once a frame."""

    scenes: dict[int, Scene] = field(default_factory=dict)
    """Newer copies of scenes, already on the board."""
    added: bool = False
    """A scene the board did not know appeared (the order changed)."""
    touched: set[int] = field(default_factory=set)
    """Scenes whose job badge may have changed."""
    queue_moved: bool = False
    """A job was queued, started or ended: every waiting job's place may have moved."""
    failures: list[JobFailed] = field(default_factory=list)
    runner: RunnerInfo | None = None
    backend: BackendStatus | None = None
    finished: RunSummary | None = None
    """The run that just ended, if one did."""
    errors: dict[int, str] = field(default_factory=dict)
    """Scene id → why its last edit could not be saved ("" once one saves)."""
    film: bool = False
    """The cut's state or the export under way moved (`EditorSession.cut`, `.exporting`)."""
    exported: CutJob | None = None
    """An export this window followed has ended (done, failed or cancelled)."""
    warnings: list[str] = field(default_factory=list)
    """One line each, to show once: a narration file that cannot be decoded, say."""

    @property
    def any(self) -> bool:
        return bool(
            self.scenes
            or self.added
            or self.touched
            or self.queue_moved
            or self.failures
            or self.runner
            or self.backend
            or self.errors
            or self.film
            or self.exported
            or self.warnings
        )


@dataclass(frozen=True)
class ViewState:
    """Where the user was: restored when the project is opened again."""

    scene_id: int | None = None
    filter_text: str = ""
    dirty_only: bool = False

    @classmethod
    def load(cls, path: Path) -> ViewState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                scene_id=int(data["scene_id"]) if data.get("scene_id") is not None else None,
                filter_text=str(data.get("filter_text", "")),
                dirty_only=bool(data.get("dirty_only", False)),
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()  # no file, or not ours: start at the top, unfiltered

    def save(self, path: Path) -> None:
        with contextlib.suppress(OSError):  # a read-only project just forgets
            path.parent.mkdir(mode=0o700, exist_ok=True)
            temp = path.with_suffix(".tmp")
            temp.write_text(json.dumps(dataclasses.asdict(self)), encoding="utf-8")
            os.replace(temp, path)


@dataclass(frozen=True)
class SessionOptions:
    project_path: Path
    choice: BackendChoice = field(default_factory=BackendChoice)
    launcher: Launcher | None = None
    poll_interval: float = 1.0
    save_delay: float = 0.5
    clock: Callable[[], float] = time.monotonic


class EditorSession:
    """A project open for editing in one window."""

    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.project: Project | None = None
        self.board: Board | None = None
        self.jobs = JobBoard(clock=options.clock)
        self.client: ProjectClient | None = None
        self.previews: dict[int, LivePreview] = {}
        """Scene id → the last live preview of a job running for it."""
        self.failures: dict[tuple[int, AssetKind], Failure] = {}
        """The assets whose last job failed (shown while the scene still asks for the same)."""
        self._steps: dict[int, tuple[int, int]] = {}
        """Scene id → (value, max) of its running job's last progress, for the preview label."""
        self.on_change: Callable[[], None] = lambda: None
        """Called (on the loop) whenever there is something to show; the screen paces it."""
        self._changes = Changes()
        self._drafts: dict[int, dict[str, Any]] = {}
        """Scene id → edited fields not saved yet (normalized values)."""
        self._invalid: dict[int, dict[str, Any]] = {}
        """Scene id → edited fields whose value is refused (saved to say why)."""
        self._in_flight: dict[int, dict[str, Any]] = {}
        """Scene id → the valid fields being written right now. They are still unsaved:
        shown over the saved scene, or the markers (and a field just left) would show
        the old values for as long as the write takes."""
        self._save_handle: asyncio.TimerHandle | None = None
        self._saving = asyncio.Lock()
        self._clip_lengths: dict[str, float | None] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._file_watch: asyncio.Task[None] | None = None
        self.cut: CutView | None = None
        """The film: clean, stale (and why), missing or none; None until first judged."""
        self.exporting: CutJob | None = None
        """The export this window follows while it waits or runs."""
        self._export_task: asyncio.Task[None] | None = None
        self._cut_due = True
        """Something the cut depends on may have moved: judge it again at the next look."""
        self._cut_judged = -CUT_BUSY
        self._warned: set[str] = set()
        self._closed = False
        self.view = ViewState()
        """Where the user was last time; the screen restores it and hands it back on quit."""

    # -- life cycle ------------------------------------------------------------------

    async def open(self) -> Project:
        """Open the project and load its scenes (statuses are judged lazily)."""
        project = await Project.open(self.options.project_path, choice=self.options.choice)
        self.project = project
        self.board = Board(project.status)
        self.board.load(await project.scenes())
        self.view = ViewState.load(self._view_path(project))
        if self.view.scene_id not in self.board.scenes:
            self.view = dataclasses.replace(self.view, scene_id=None)
        return project

    @staticmethod
    def _view_path(project: Project) -> Path:
        return RunFiles(project.folder.root).folder / "view.json"

    async def judge_all(self) -> None:
        """Every scene's status, worked out off the loop, for the batch counts."""
        board = self.board
        if board is None:
            return
        judged = dict(board.scenes)
        statuses = await asyncio.to_thread(statuses_of, list(judged.values()), board.status_of)
        board.complete(statuses, judged)
        self._changed()

    async def follow_jobs(self) -> ProjectClient:
        """Start following the project's jobs through its runner."""
        assert self.project is not None
        client = ProjectClient(
            self.project, launcher=self.options.launcher, poll_interval=self.options.poll_interval
        )
        self._unsubscribe = client.subscribe(self._on_event)
        await client.start()
        self.client = client
        for job in await client.failures():
            self.failures[(job.scene_id, job.kind)] = Failure.of(job)
            self._mark(job.scene_id)
        self._changes.touched |= self.jobs.seed(client.active_jobs)
        self._file_watch = asyncio.create_task(self._watch_disk(), name="disk-watch")
        self._changes.runner = client.runner
        self._changed()
        return client

    async def close(self) -> None:
        """Save what is typed and let go of the project; the runner carries on. Safe twice."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self.settle()
        if self.project is not None:
            await asyncio.to_thread(self.view.save, self._view_path(self.project))
        for task in (self._file_watch, self._export_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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

    # -- reading ------------------------------------------------------------------------

    def scene(self, scene_id: int) -> Scene | None:
        """The scene as the user sees it: the saved one with unsaved edits on top."""
        if self.board is None or scene_id not in self.board.scenes:
            return None
        saved = self.board.scenes[scene_id]
        draft = self._unsaved(scene_id)
        return saved.model_copy(update=draft) if draft else saved

    def _unsaved(self, scene_id: int) -> dict[str, Any]:
        return {**self._in_flight.get(scene_id, {}), **self._drafts.get(scene_id, {})}

    def drafts(self, scene_id: int) -> Mapping[str, Any]:
        """Fields of the scene edited but not saved yet (being written counts as not yet)."""
        return {**self._unsaved(scene_id), **self._invalid.get(scene_id, {})}

    def row(self, scene_id: int) -> Row:
        """The list line for a scene, markers following unsaved edits and failures at once."""
        assert self.board is not None
        if self._drafts.get(scene_id) or self._in_flight.get(scene_id):
            shown = self.scene(scene_id)
            assert shown is not None
            row = self.board.preview(shown)
        else:
            row = self.board.row(scene_id)
        if not self.failures:
            return row
        image = self.failure(scene_id, AssetKind.IMAGE) is not None
        video = self.failure(scene_id, AssetKind.VIDEO) is not None
        if image or video:
            return dataclasses.replace(row, image_failed=image, video_failed=video)
        return row

    def failure(self, scene_id: int, kind: AssetKind) -> Failure | None:
        """The asset's last failure, while the scene still asks for what failed."""
        failure = self.failures.get((scene_id, kind))
        if failure is None or self.project is None:
            return None
        scene = self.scene(scene_id)
        if scene is None:
            return None
        wanted = fingerprint(current_inputs(scene, kind, self.project.settings))
        return failure if wanted == failure.inputs else None

    def failed_assets(self) -> list[tuple[int, AssetKind]]:
        """Every asset whose failure is still shown, for "retry failed"."""
        return [key for key in self.failures if self.failure(*key) is not None]

    def preview_label(self, scene_id: int) -> str:
        """ "video preview, step 12/20": which job the live picture belongs to."""
        preview = self.previews.get(scene_id)
        if preview is None:
            return ""
        label = f"{preview.kind.value} preview"
        value, total = self._steps.get(scene_id, (preview.value, preview.max))
        return f"{label}, step {value}/{total}" if total else label

    def status(self, scene: Scene) -> SceneStatus:
        assert self.project is not None
        return self.project.status(scene)

    def why(self, scene: Scene) -> dict[AssetKind, list[str]]:
        assert self.project is not None
        return self.project.why(scene)

    def reasons(self, scene: Scene) -> dict[AssetKind, list[Reason]]:
        """Why each asset is not clean, in words, each with its technical detail."""
        assert self.project is not None
        return reasons(scene, self.project.settings, self.project.has_file)

    def failures_of(self, scene_id: int) -> dict[AssetKind, Failure]:
        found = {kind: self.failure(scene_id, kind) for kind in AssetKind}
        return {kind: failure for kind, failure in found.items() if failure is not None}

    def still_path(self, scene: Scene) -> Path | None:
        if scene.image is None or self.project is None:
            return None
        try:
            return self.project.asset_path(scene.image.file)
        except StoreError:
            return None

    def clip_path(self, scene: Scene) -> Path | None:
        if scene.video is None or self.project is None:
            return None
        try:
            return self.project.asset_path(scene.video.file)
        except StoreError:
            return None

    async def clip_length(self, scene: Scene) -> float | None:
        """The clip's real length, read once per file (off the loop)."""
        if scene.video is None or self.project is None:
            return None
        relative = scene.video.file
        if relative not in self._clip_lengths:
            try:
                path = self.project.asset_path(relative)
            except StoreError:
                return None
            self._clip_lengths[relative] = await asyncio.to_thread(clip_seconds, path)
        return self._clip_lengths[relative]

    def known_clip_length(self, scene: Scene) -> float | None:
        if scene.video is None:
            return None
        return self._clip_lengths.get(scene.video.file)

    def live_preview(self, scene_id: int) -> tuple[bytes | None, str]:
        """A running job's live picture and its label; cheap, for every progress frame."""
        live = self.previews.get(scene_id)
        return (live.data if live is not None else None), self.preview_label(scene_id)

    def media_of(self, scene: Scene) -> MediaInfo:
        """The files the inspector shows for a scene, and a running job's live picture.

        The clip's length is the narration's until `clip_length` has read the file.
        """
        still = self.still_path(scene)
        preview, label = self.live_preview(scene.id)
        if scene.video is None:
            return MediaInfo(still, preview, label)
        measured = self.known_clip_length(scene)
        seconds = measured if measured is not None else scene.audio_duration
        name = Path(scene.video.file).name
        return MediaInfo(
            still, preview, label, name, seconds, measured is not None, self.clip_path(scene)
        )

    def play_items(self, scene_ids: Sequence[int]) -> list[PlayItem]:
        """A storyboard of these scenes: each one's clip, or while it has none its still
        (or a title card) for the narration's length."""
        items = []
        board = self.board
        for scene_id in scene_ids:
            if board is None or (scene := board.scenes.get(scene_id)) is None:
                continue
            clip = self.clip_path(scene)
            items.append(
                PlayItem(
                    clip=clip if clip is not None and clip.is_file() else None,
                    still=self.still_path(scene),
                    narration=scene.narration,
                    seconds=scene.audio_duration,
                    scene_id=scene.id,
                )
            )
        return items

    def take_changes(self) -> Changes:
        """Everything that moved since the last call; the screen shows it in one go."""
        changes, self._changes = self._changes, Changes()
        changes.queue_moved = changes.queue_moved or self.jobs.queue_moved
        self.jobs.queue_moved = False
        changes.finished = self.jobs.finish_run()
        return changes

    def _changed(self) -> None:
        if not self._closed:
            self.on_change()

    # -- editing ------------------------------------------------------------------------

    def edit(self, scene_id: int, field_name: str, value: Any) -> None:
        """Take one field's new value; it is saved after `save_delay` of quiet.

        A value that is not valid yet (a seed being typed, an emptied seed)
        does not move the markers; it is still saved, so the refusal and its
        reason reach the user instead of the old value staying silently.
        """
        if self.board is None or scene_id not in self.board.scenes:
            return
        try:
            self._drafts.setdefault(scene_id, {})[field_name] = normalize(field_name, value)
            self._invalid.get(scene_id, {}).pop(field_name, None)
        except EditError:
            self._drafts.get(scene_id, {}).pop(field_name, None)
            self._invalid.setdefault(scene_id, {})[field_name] = value
        self._changes.touched.add(scene_id)
        self._changes.scenes.setdefault(scene_id, self.board.scenes[scene_id])
        self._schedule_save()
        self._changed()

    def _schedule_save(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
        loop = asyncio.get_running_loop()
        self._save_handle = loop.call_later(
            self.options.save_delay, lambda: asyncio.ensure_future(self.save())
        )

    def flush(self) -> None:
        """Save now rather than after the pause (focus left a field)."""
        if self._drafts or self._invalid:
            if self._save_handle is not None:
                self._save_handle.cancel()
                self._save_handle = None
            asyncio.ensure_future(self.save())

    async def save(self) -> None:
        """Write every pending edit, one transaction per scene, in order."""
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        async with self._saving:
            while self._drafts or self._invalid:
                scene_id = next(iter(self._drafts or self._invalid))
                valid = self._drafts.pop(scene_id, {})
                changes = {**valid, **self._invalid.pop(scene_id, {})}
                self._in_flight[scene_id] = valid
                try:
                    await self._save_scene(scene_id, changes)
                finally:
                    del self._in_flight[scene_id]

    async def _save_scene(self, scene_id: int, changes: dict[str, Any]) -> None:
        project, board = self.project, self.board
        if project is None or board is None:
            return
        try:
            scene = await project.edit(scene_id, changes)
        except (EditError, StoreError) as error:
            self._changes.errors[scene_id] = str(error)
            if scene_id in board.scenes:
                self._changes.scenes[scene_id] = board.scenes[scene_id]
            self._changed()
            return
        self._changes.errors[scene_id] = ""
        self._take_scene(scene)
        self._changed()

    async def settle(self) -> None:
        """Save what is typed and wait for it (before a regeneration, on quit, on hang-up)."""
        await self.save()

    # -- events from the runner -----------------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        scene_id = self.jobs.apply(event)
        changes = self._changes
        if scene_id is not None:
            changes.touched.add(scene_id)
        if isinstance(event, JobPreview):
            value, total = self._steps.get(event.scene_id, (0, 0))
            self.previews[event.scene_id] = LivePreview(event.job.kind, event.data, value, total)
            changes.touched.add(event.scene_id)
        elif isinstance(event, JobProgress):
            self._steps[event.scene_id] = (event.value, event.max)
        elif isinstance(event, JobQueued):
            self.failures.pop((event.scene_id, event.job.kind), None)  # being retried
        elif isinstance(event, JobSucceeded | SceneEdited):
            self._take_scene(event.scene)
        elif isinstance(event, RunnerChanged):
            changes.runner = event.info
            if event.info.state == "stopped" and event.info.note not in self._warned:
                self._warned.add(event.info.note)  # a damaged database: said once, loudly
                changes.warnings.append(f"The runner stopped: {event.info.note}")
        elif isinstance(event, BackendChanged):
            changes.backend = event.status
        if isinstance(event, JobSucceeded | JobFailed | JobCancelled | JobSuperseded):
            self.previews.pop(event.scene_id, None)
            self._steps.pop(event.scene_id, None)
            key = (event.scene_id, event.job.kind)
            if isinstance(event, JobSucceeded):
                self.failures.pop(key, None)
            if isinstance(event, JobFailed):
                self.failures[key] = Failure.of(event.job, event.message)
                changes.failures.append(event)
                self._mark(event.scene_id)
        self._changed()

    async def _watch_disk(self) -> None:
        """The change poll: what moved on disk behind our back, and the cut's state.

        A still or clip deleted outside the app turns its scene `missing`; a
        narration file replaced in `assets/audio/` is measured again, and its new
        length arrives as an edit of the scene. A look costs a `stat` per asset
        folder and per narration file unless something changed, so it runs every
        `poll_interval` rather than on every key press; the cut (one read of every
        scene) is judged again only after something it depends on moved.
        """
        while True:
            client, board = self.client, self.board
            if client is not None and board is not None:
                with contextlib.suppress(OSError, StoreError, RunnerError):
                    await self._look_at_disk(client, board)
                busy = self.jobs.active and self.options.clock() - self._cut_judged < CUT_BUSY
                if self._cut_due and not busy:
                    await self.judge_cut()
            await asyncio.sleep(self.options.poll_interval)

    async def _look_at_disk(self, client: ProjectClient, board: Board) -> None:
        found = await client.check_files()
        for problem in found.problems:
            if problem not in self._warned:
                self._warned.add(problem)
                self._changes.warnings.append(problem)
        if found.flipped:
            self._cut_due = True
            for scene in board.scenes.values():
                files = {asset.file for asset in (scene.image, scene.video) if asset is not None}
                if files & found.flipped:
                    board.put(scene)  # judged again against the files on disk
                    self._mark(scene.id)
        if found.flipped or found.problems:
            self._changed()

    async def judge_cut(self) -> None:
        """The film's state again, now (after an export, or when its inputs moved)."""
        if self.client is None:
            return
        self._cut_due = False
        self._cut_judged = self.options.clock()
        try:
            cut = await self.client.cut_status()
        except (OSError, StoreError):
            return
        if cut != self.cut:
            self.cut = cut
            self._changes.film = True
            self._changed()

    def _mark(self, scene_id: int) -> None:
        """The scene's line must be drawn again (a failure came or went)."""
        if self.board is not None and scene_id in self.board.scenes:
            self._changes.scenes.setdefault(scene_id, self.board.scenes[scene_id])

    def _take_scene(self, scene: Scene) -> None:
        """A newer saved copy of a scene (ours, the runner's, another window's)."""
        board = self.board
        if board is None:
            return
        if scene.id not in board.scenes:
            self._changes.added = True
        board.put(scene)
        self._changes.scenes[scene.id] = scene
        self._cut_due = True

    # -- requests ------------------------------------------------------------------------

    def scene_name(self, scene_id: int) -> str:
        if self.board is not None and scene_id in self.board.scenes:
            return f"Scene {self.board.scenes[scene_id].position}"
        return "This scene"

    async def regenerate(
        self, scene_id: int, kind: AssetKind, *, force: bool = False
    ) -> RequestResult:
        """`i` or `v`: queue one asset, after saving what is typed."""
        client = self.client
        if client is None or self.board is None:
            return RequestResult(Outcome.ERROR, message="still opening the project")
        await self.settle()
        try:
            job = await client.regenerate(scene_id, kind, force=force)
        except Refused as refusal:
            return RequestResult(Outcome.REFUSED, message=str(refusal))
        except RunnerError as error:
            return RequestResult(Outcome.RUNNER_FAILED, message=str(error))
        except StoreError as error:
            return RequestResult(Outcome.ERROR, message=str(error))
        if job is not None:
            return RequestResult(Outcome.QUEUED)
        known = scene_id in self.board.scenes
        if known and self.board.status(scene_id).of(kind) is AssetState.CLEAN:
            return RequestResult(Outcome.UP_TO_DATE)
        return RequestResult(Outcome.ALREADY_QUEUED)

    async def batch(self, kinds: Sequence[AssetKind]) -> RequestResult:
        """Every dirty or missing asset of `kinds`, images first."""
        client = self.client
        if client is None:
            return RequestResult(Outcome.ERROR, message="still opening the project")
        await self.settle()
        try:
            plan = await client.request(kinds, include_missing=True)
        except Refused as refusal:
            return RequestResult(Outcome.REFUSED, message=str(refusal))
        except RunnerError as error:
            return RequestResult(Outcome.RUNNER_FAILED, message=str(error))
        except StoreError as error:
            return RequestResult(Outcome.ERROR, message=str(error))
        outcome = Outcome.QUEUED if plan.queued else Outcome.UP_TO_DATE
        return RequestResult(outcome, plan)

    async def both(self, scene_id: int) -> RequestResult:
        """`b`: the scene's image if it needs one, and its video (after that image)."""
        client = self.client
        if client is None:
            return RequestResult(Outcome.ERROR, message="still opening the project")
        await self.settle()
        try:
            plan = await client.request(
                [AssetKind.IMAGE, AssetKind.VIDEO],
                scene_ids=[scene_id],
                include_missing=True,
                explicit=True,
            )
        except Refused as refusal:
            return RequestResult(Outcome.REFUSED, message=str(refusal))
        except RunnerError as error:
            return RequestResult(Outcome.RUNNER_FAILED, message=str(error))
        if plan.queued:
            return RequestResult(Outcome.QUEUED, plan)
        if plan.refused:
            return RequestResult(Outcome.REFUSED, plan, "; ".join(d.reason for d in plan.refused))
        return RequestResult(Outcome.UP_TO_DATE, plan)

    async def batch_size(self, kinds: Sequence[AssetKind]) -> int:
        """How many jobs a batch would queue (a dry run), to ask before a big one."""
        if self.client is None:
            return 0
        plan = await self.client.request(kinds, include_missing=True, dry_run=True)
        return len(plan.queued)

    async def retry_failed(self) -> RequestResult:
        """Queue every asset whose last job failed, as if named one by one."""
        client = self.client
        failed = self.failed_assets()
        if client is None or not failed:
            return RequestResult(Outcome.UP_TO_DATE)
        await self.settle()
        plans = Plan()
        try:
            for kind in (AssetKind.IMAGE, AssetKind.VIDEO):
                scene_ids = [scene_id for scene_id, of in failed if of is kind]
                if scene_ids:
                    plan = await client.request(
                        [kind], scene_ids=scene_ids, include_missing=True, force=True
                    )
                    plans.decisions.extend(plan.decisions)
        except Refused as refusal:
            return RequestResult(Outcome.REFUSED, message=str(refusal))
        except RunnerError as error:
            return RequestResult(Outcome.RUNNER_FAILED, message=str(error))
        return RequestResult(Outcome.QUEUED if plans.queued else Outcome.UP_TO_DATE, plans)

    async def cancel(self, scene_id: int | None = None) -> int:
        """Cancel one scene's jobs, or every job; returns how many."""
        if self.client is None:
            return 0
        if scene_id is None:
            return await self.client.cancel_all()
        return await self.client.cancel_scene(scene_id)

    # -- the rough cut ---------------------------------------------------------------------

    async def export(self, *, force: bool = False) -> RequestResult:
        """`e`: queue the rough cut on the runner and follow it; a no-op when nothing moved."""
        client = self.client
        if client is None:
            return RequestResult(Outcome.ERROR, message="still opening the project")
        await self.settle()
        try:
            answer = await client.export(force)
        except RunnerError as error:
            return RequestResult(Outcome.RUNNER_FAILED, message=str(error))
        except (OSError, StoreError) as error:
            return RequestResult(Outcome.ERROR, message=str(error))
        if answer.job is None:
            outcome = Outcome.UP_TO_DATE if answer.up_to_date else Outcome.REFUSED
            return RequestResult(outcome, message=answer.message)
        already = self.exporting is not None and self.exporting.id == answer.job.id
        self._follow_export(answer.job)
        return RequestResult(
            Outcome.ALREADY_QUEUED if already else Outcome.QUEUED, message=answer.message
        )

    def _follow_export(self, job: CutJob) -> None:
        following = self.exporting
        if self._export_task is not None and following is not None and following.id == job.id:
            return
        if self._export_task is not None:
            self._export_task.cancel()  # replaced by this one (another file, or --force)
        self.exporting = job
        self._changes.film = True
        self._export_task = asyncio.create_task(self._follow(job), name="export")
        self._changed()

    async def _follow(self, job: CutJob) -> None:
        client = self.client
        assert client is not None

        def update(now: CutJob) -> None:
            self.exporting = now
            self._changes.film = True
            self._changed()

        final: CutJob | None
        try:
            final = await client.follow_export(job.id, update)
        except (OSError, StoreError, RunnerError) as error:
            final = job.model_copy(update={"state": JobState.FAILED, "error": str(error)})
        self.exporting = None
        self._export_task = None
        self._changes.exported = final
        self._changes.film = True
        await self.judge_cut()
        self._changed()

    async def cancel_export(self) -> bool:
        """Stop the export this window follows; False if there is none."""
        if self.client is None or self.exporting is None:
            return False
        return await self.client.cancel_export(self.exporting.id)

    async def stop_runner(self) -> bool:
        return self.client is not None and await self.client.stop_runner()
