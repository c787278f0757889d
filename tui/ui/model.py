"""The screen's view of a project: scenes, their states, and the jobs in flight.

Plain Python, no Textual, so it is cheap to test and to keep for 10,000
scenes. The screen feeds it the engine's events and its own edits; the
widgets read from it. Everything here is O(1) or O(log n) per event, so a
flood of progress messages never walks the whole project.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tui.domain.jobs import Job, JobState
from tui.domain.models import AssetKind, AssetState, Scene
from tui.domain.staleness import SceneStatus
from tui.engine.events import (
    BackendChanged,
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
    JobSuperseded,
    RunnerChanged,
    SceneEdited,
)
from tui.ui.text import one_line

NEEDS_WORK = frozenset({AssetState.DIRTY, AssetState.MISSING})


@dataclass(frozen=True)
class MediaInfo:
    """What the inspector says about the files, worked out by the editor session."""

    still: Path | None = None
    preview: bytes | None = None
    """A running job's live frame; shown in its own place, not over the still."""
    preview_label: str = ""
    """ "video preview, step 12/20"."""
    video_name: str | None = None
    video_seconds: float | None = None
    video_measured: bool = False
    """True when the length was read from the file rather than taken from the narration."""
    video: Path | None = None
    """The clip itself, for its thumbnails and for playing it."""


@dataclass(frozen=True, slots=True)
class Row:
    """What the scene list draws for one scene, apart from its jobs."""

    scene_id: int
    position: int
    narration: str
    """One line, control characters made visible."""
    image: AssetState
    video: AssetState
    haystack: str
    """Lower-cased narration and prompts, for the `/` filter."""
    image_failed: bool = False
    """The image's last job failed, and nothing about it changed since."""
    video_failed: bool = False

    @property
    def needs_work(self) -> bool:
        return (
            self.image in NEEDS_WORK
            or self.video in NEEDS_WORK
            or self.image_failed
            or self.video_failed
        )

    def failed(self, kind: AssetKind) -> bool:
        return self.image_failed if kind is AssetKind.IMAGE else self.video_failed


def make_row(scene: Scene, status: SceneStatus) -> Row:
    haystack = "\n".join((scene.narration, scene.image_prompt, scene.video_prompt)).lower()
    return Row(
        scene_id=scene.id,
        position=scene.position,
        narration=one_line(scene.narration),
        image=status.image,
        video=status.video,
        haystack=haystack,
    )


@dataclass(frozen=True, slots=True)
class Counts:
    """How many assets need making, for the batch bar."""

    dirty_images: int = 0
    missing_images: int = 0
    dirty_videos: int = 0
    missing_videos: int = 0

    def of(self, kind: AssetKind) -> tuple[int, int]:
        """(dirty, missing) for one kind."""
        if kind is AssetKind.IMAGE:
            return self.dirty_images, self.missing_images
        return self.dirty_videos, self.missing_videos

    @property
    def any(self) -> bool:
        return bool(
            self.dirty_images or self.missing_images or self.dirty_videos or self.missing_videos
        )


def statuses_of(
    scenes: Iterable[Scene], status_of: Callable[[Scene], SceneStatus]
) -> dict[int, SceneStatus]:
    """Every scene's status; pure, so it can run in a thread while the list is already up."""
    return {scene.id: status_of(scene) for scene in scenes}


class Board:
    """Every scene, its status and its list row.

    Statuses and rows are worked out lazily, so 10,000 scenes show at once;
    `complete` fills in the rest (computed off the loop) for the counts and
    the filters.
    """

    def __init__(self, status_of: Callable[[Scene], SceneStatus]) -> None:
        self.status_of = status_of
        self.scenes: dict[int, Scene] = {}
        self.order: list[int] = []
        """Scene ids by position."""
        self._statuses: dict[int, SceneStatus] = {}
        self._rows: dict[int, Row] = {}
        self._tally: dict[tuple[AssetKind, AssetState], int] = {}
        self._complete = False

    def load(self, scenes: Iterable[Scene]) -> None:
        """Take every scene; cheap, nothing is judged yet."""
        self.scenes = {scene.id: scene for scene in scenes}
        self.order = sorted(self.scenes, key=lambda scene_id: self.scenes[scene_id].position)
        self._statuses.clear()
        self._rows.clear()
        self._tally.clear()
        self._complete = False

    def complete(self, statuses: dict[int, SceneStatus], judged: dict[int, Scene]) -> None:
        """Adopt statuses computed elsewhere for the scenes `judged` (unless changed since)."""
        for scene_id, scene in self.scenes.items():
            if scene_id not in self._statuses:
                known = statuses.get(scene_id)
                if known is not None and judged.get(scene_id) is scene:
                    self._statuses[scene_id] = known
                else:
                    self._statuses[scene_id] = self.status_of(scene)
        self._tally.clear()
        for status in self._statuses.values():
            self._count(status, +1)
        self._complete = True

    @property
    def is_complete(self) -> bool:
        return self._complete

    def _count(self, status: SceneStatus, sign: int) -> None:
        for kind in AssetKind:
            key = (kind, status.of(kind))
            self._tally[key] = self._tally.get(key, 0) + sign

    def status(self, scene_id: int) -> SceneStatus:
        status = self._statuses.get(scene_id)
        if status is None:
            status = self._statuses[scene_id] = self.status_of(self.scenes[scene_id])
            if self._complete:
                self._count(status, +1)
        return status

    def row(self, scene_id: int) -> Row:
        row = self._rows.get(scene_id)
        if row is None:
            row = self._rows[scene_id] = make_row(self.scenes[scene_id], self.status(scene_id))
        return row

    def put(self, scene: Scene) -> Row:
        """Take a newer copy of a scene (an edit, a finished job, another process)."""
        known = self.scenes.get(scene.id)
        old = self._statuses.pop(scene.id, None)
        if old is not None and self._complete:
            self._count(old, -1)
        self._rows.pop(scene.id, None)
        self.scenes[scene.id] = scene
        if known is None:
            bisect.insort(self.order, scene.id, key=lambda sid: self.scenes[sid].position)
        elif known.position != scene.position:
            self.order.sort(key=lambda sid: self.scenes[sid].position)
        return self.row(scene.id)

    def preview(self, scene: Scene) -> Row:
        """The row a draft (unsaved) version of a scene would have; changes nothing."""
        return make_row(scene, self.status_of(scene))

    def counts(self) -> Counts | None:
        """None until every scene has been judged."""
        if not self._complete:
            return None
        tally = self._tally
        return Counts(
            dirty_images=tally.get((AssetKind.IMAGE, AssetState.DIRTY), 0),
            missing_images=tally.get((AssetKind.IMAGE, AssetState.MISSING), 0),
            dirty_videos=tally.get((AssetKind.VIDEO, AssetState.DIRTY), 0),
            missing_videos=tally.get((AssetKind.VIDEO, AssetState.MISSING), 0),
        )

    def __len__(self) -> int:
        return len(self.order)


@dataclass(frozen=True, slots=True)
class Badge:
    """The job a scene row shows: its place in the queue, or how far it has got."""

    kind: AssetKind
    queue_position: int | None
    """1-based, while it waits; None once it runs."""
    fraction: float
    more: int = 0
    """How many more jobs the scene has waiting behind this one."""


@dataclass(frozen=True, slots=True)
class RunView:
    """Where the current run of jobs stands, for the batch bar."""

    images: int
    """Image jobs still active."""
    videos: int
    done: int
    total: int
    fraction: float
    seconds_left: float | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a finished run did, for one closing toast."""

    images: int
    """Images made."""
    videos: int
    failed: int
    cancelled: int

    @property
    def succeeded(self) -> int:
        return self.images + self.videos


@dataclass
class _TrackedJob:
    id: int
    scene_id: int
    kind: AssetKind
    started: bool
    fraction: float = 0.0


@dataclass
class _Run:
    started_at: float
    total: int = 0
    images: int = 0
    videos: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def done(self) -> int:
        return self.images + self.videos + self.failed + self.cancelled


@dataclass
class JobBoard:
    """The active jobs, by scene, with their queue order and the run's totals."""

    clock: Callable[[], float]
    jobs: dict[int, _TrackedJob] = field(default_factory=dict)
    by_scene: dict[int, list[int]] = field(default_factory=dict)
    _waiting: list[int] = field(default_factory=list)
    """Ids of jobs not started yet; ids grow, so this is the queue's order."""
    _run: _Run | None = None
    _images: int = 0
    """Active image jobs; kept as events arrive, so a flood never walks every job."""
    _partial: float = 0.0
    """Sum of the active jobs' fractions."""
    queue_moved: bool = False
    """A job was queued, started or ended since the flag was last cleared: every
    waiting job's place may have changed, not just the touched scenes'."""

    def seed(self, jobs: Iterable[Job]) -> set[int]:
        """Pick up jobs already active when the screen starts (resumed from a crash)."""
        scenes: set[int] = set()
        for job in jobs:
            self._add(job)
            scenes.add(job.scene_id)
        return scenes

    def _add(self, job: Job) -> None:
        if self._run is None:
            self._run = _Run(started_at=self.clock())
        self._run.total += 1
        started = job.state is JobState.RUNNING
        self.jobs[job.id] = _TrackedJob(job.id, job.scene_id, job.kind, started, job.progress)
        self._partial += job.progress
        if job.kind is AssetKind.IMAGE:
            self._images += 1
        self.by_scene.setdefault(job.scene_id, []).append(job.id)
        if not started:
            bisect.insort(self._waiting, job.id)

    def _unwait(self, job_id: int) -> None:
        index = bisect.bisect_left(self._waiting, job_id)
        if index < len(self._waiting) and self._waiting[index] == job_id:
            del self._waiting[index]

    def _remove(self, job_id: int) -> _TrackedJob | None:
        tracked = self.jobs.pop(job_id, None)
        if tracked is None:
            return None
        self._partial -= tracked.fraction
        if tracked.kind is AssetKind.IMAGE:
            self._images -= 1
        if not self.jobs:
            self._partial = 0.0  # no drift from float sums
        self._unwait(job_id)
        ids = self.by_scene.get(tracked.scene_id, [])
        if job_id in ids:
            ids.remove(job_id)
        if not ids:
            self.by_scene.pop(tracked.scene_id, None)
        return tracked

    def apply(self, event: EngineEvent) -> int | None:
        """Take one engine event; returns the scene whose row it changes, if any."""
        if isinstance(event, SceneEdited):
            return event.scene.id
        if isinstance(event, BackendChanged | RunnerChanged):
            return None
        job = event.job
        if not isinstance(event, JobProgress):
            self.queue_moved = True
        if isinstance(event, JobQueued):
            self._add(job)
        elif isinstance(event, JobStarted):
            tracked = self.jobs.get(job.id)
            if tracked is not None and not tracked.started:
                tracked.started = True
                self._unwait(job.id)
        elif isinstance(event, JobProgress):
            tracked = self.jobs.get(job.id)
            if tracked is None:
                return None
            if not tracked.started:
                tracked.started = True
                self._unwait(job.id)
            fraction = max(0.0, min(1.0, event.fraction))
            self._partial += fraction - tracked.fraction
            tracked.fraction = fraction
        elif isinstance(event, JobSucceeded | JobFailed | JobCancelled | JobSuperseded):
            if self._remove(job.id) is None:
                return job.scene_id
            run = self._run
            if run is not None:
                if isinstance(event, JobSucceeded) and job.kind is AssetKind.IMAGE:
                    run.images += 1
                elif isinstance(event, JobSucceeded):
                    run.videos += 1
                elif isinstance(event, JobFailed):
                    run.failed += 1
                elif isinstance(event, JobCancelled):
                    run.cancelled += 1
                else:
                    run.total -= 1  # its successor was counted when it was queued
        else:
            return None
        return job.scene_id

    def finish_run(self) -> RunSummary | None:
        """Close the run once nothing is active; returns what it did."""
        if self.jobs or self._run is None:
            return None
        run, self._run = self._run, None
        return RunSummary(run.images, run.videos, run.failed, run.cancelled)

    # -- queries -------------------------------------------------------------

    def busy(self, scene_id: int, kind: AssetKind) -> bool:
        return any(self.jobs[job_id].kind is kind for job_id in self.by_scene.get(scene_id, ()))

    def queue_position(self, job_id: int) -> int | None:
        index = bisect.bisect_left(self._waiting, job_id)
        if index < len(self._waiting) and self._waiting[index] == job_id:
            return index + 1
        return None

    def badge(self, scene_id: int) -> Badge | None:
        ids = self.by_scene.get(scene_id)
        if not ids:
            return None
        jobs = sorted((self.jobs[job_id] for job_id in ids), key=lambda job: job.id)
        shown = next((job for job in jobs if job.started), jobs[0])
        position = None if shown.started else self.queue_position(shown.id)
        return Badge(shown.kind, position, shown.fraction, more=len(jobs) - 1)

    @property
    def active(self) -> bool:
        return bool(self.jobs)

    def run(self) -> RunView | None:
        run = self._run
        if run is None or run.total <= 0:
            return None
        images = self._images
        videos = len(self.jobs) - images
        fraction = min(1.0, max(0.0, (run.done + self._partial) / run.total))
        elapsed = self.clock() - run.started_at
        left = None
        if fraction >= 0.02 and elapsed >= 1.0:
            left = elapsed * (1 - fraction) / fraction
        return RunView(images, videos, run.done, run.total, fraction, left)
