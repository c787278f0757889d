"""The regeneration engine: a durable job queue between a project and a backend.

Every job is journalled in the database, with the backend id we chose, before
a backend hears of it; so after a crash every job in flight can be found and
reconciled. A job's parameters are frozen when it is queued and its result is
stored with them, so a scene edited while its job ran stays honestly dirty.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.backends.base import (
    Backend,
    BackendError,
    BackendEvent,
    BackendUnavailable,
    Cancelled,
    Failed,
    JobSpec,
    Lost,
    Output,
    Preview,
    Progress,
    Recovery,
    Started,
    StatusChanged,
)
from tui.domain.jobs import Job, JobState
from tui.domain.models import SEED_LIMIT, Asset, AssetKind, AssetState, Scene
from tui.domain.staleness import (
    IMAGE_INPUT_KEYS,
    VIDEO_INPUT_KEYS,
    asset_state,
    fingerprint,
    image_inputs,
    video_inputs,
    video_inputs_from,
)
from tui.engine.assets import Writer, atomic_write, content_hash, remove_quietly, sweep
from tui.engine.events import (
    BackendChanged,
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
    JobSuperseded,
    SceneEdited,
)
from tui.engine.project import Project
from tui.store.errors import StoreError
from tui.store.folder import asset_name, safe_suffix

log = logging.getLogger(__name__)

LOCK_NAME = ".storyboard.lock"
KINDS_IMAGES_FIRST = (AssetKind.IMAGE, AssetKind.VIDEO)
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Backoff while a backend is unavailable; the last delay repeats."""

NO_IMAGE = "Cannot generate video without an image"


class Refused(Exception):
    """A request that cannot run, with a message meant for the user."""


class EngineBusy(Exception):
    """Another process is already running jobs for this project."""


@dataclass(frozen=True)
class Decision:
    """One (scene, kind) of a request: what will happen to it, and why."""

    scene: Scene
    kind: AssetKind
    action: str
    """"queue", "skip" or "refuse"."""
    reason: str
    job: Job | None = None


@dataclass
class Plan:
    """The outcome of a request, for a dry run, a CLI summary or a toast."""

    decisions: list[Decision] = field(default_factory=list)

    def _of(self, action: str) -> list[Decision]:
        return [d for d in self.decisions if d.action == action]

    @property
    def queued(self) -> list[Decision]:
        return self._of("queue")

    @property
    def skipped(self) -> list[Decision]:
        return self._of("skip")

    @property
    def refused(self) -> list[Decision]:
        return self._of("refuse")

    @property
    def jobs(self) -> list[Job]:
        return [d.job for d in self.queued if d.job is not None]


def _now() -> datetime:
    return datetime.now(UTC)


def asset_inputs(kind: AssetKind, params: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's parameters that staleness compares; the rest is routing."""
    keys = IMAGE_INPUT_KEYS if kind is AssetKind.IMAGE else VIDEO_INPUT_KEYS
    return {key: params[key] for key in keys}


class RunnerLock:
    """An advisory lock: one process at a time runs a project's jobs.

    Two runners would each reconcile the other's jobs as lost and render
    everything twice. Editing (a CLI `set` while the TUI is open) needs no lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EngineBusy(
                f"{self.path.parent}: jobs are already running in process {holder}; "
                "close it or wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Engine:
    """Queue, schedule and finish jobs for one project on one backend."""

    def __init__(self, project: Project, backend: Backend, *, writer: Writer = atomic_write):
        self.project = project
        self.backend = backend
        self._writer = writer
        self._jobs: dict[int, Job] = {}
        """Every active (non-final) job, by id, oldest first; mirrors the database."""
        self._by_scene: dict[int, dict[int, None]] = {}
        self._queue_index: dict[int, int] | None = None
        """Scene id → its active job ids, so per-scene lookups stay O(1) at 10,000 jobs."""
        """Every active (non-final) job, by id; mirrors the database."""
        self._by_key: dict[str, int] = {}
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._mutex = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._finishing: set[asyncio.Task[None]] = set()
        """Results being written; stop() lets them land rather than cut them off."""
        self._retry_at = 0.0
        self._failures_in_a_row = 0
        self._lock = RunnerLock(project.folder.root / LOCK_NAME)
        self._started = False
        self.resumed = 0
        """How many jobs from an earlier run were picked up again at start."""

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        """Take the runner lock, sweep leftovers, reconcile old jobs, start dispatching."""
        self._lock.acquire()
        try:
            await self._start()
        except BaseException:
            self._lock.release()
            raise
        self._started = True

    async def _start(self) -> None:
        store = self.project.store
        await asyncio.to_thread(sweep, self.project.folder, await store.asset_files())
        self.backend.on_ready = self._backend_ready
        await self.backend.start()
        self._tasks.append(asyncio.create_task(self._pump(), name="engine-events"))
        for job in await store.active_jobs():
            await self._reconcile(job)
        self._tasks.append(asyncio.create_task(self._schedule(), name="engine-dispatch"))
        self._wake.set()

    async def _reconcile(self, job: Job) -> None:
        if job.backend != self.backend.name:
            await self._finish_state(
                job,
                JobState.CANCELLED,
                f"queued for the {job.backend} backend, which is not in use now",
            )
            return
        self._track(job)
        self.resumed += 1
        if job.state is JobState.QUEUED:
            return
        outcome = await self.backend.recover(await self._spec(job))
        if outcome is Recovery.RERUN:
            await self._set_state(job.id, JobState.QUEUED)
        elif outcome is Recovery.LOST:
            await self._lost(job.id, "lost by the server")

    def _backend_ready(self) -> None:
        """A server came back: dispatch now instead of waiting out the backoff."""
        self._retry_at = 0.0
        self._failures_in_a_row = 0
        self._wake.set()

    async def stop(self, *, cancel: bool = False) -> None:
        """Stop dispatching; with `cancel`, cancel every active job first (Ctrl-C)."""
        if cancel:
            await self.cancel_all()
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.backend.close()
        if self._started:
            self._lock.release()
            self._started = False

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- listening -------------------------------------------------------------

    def subscribe(self, listener: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Call `listener` with every event, on the event loop; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def events(self) -> AsyncIterator[EngineEvent]:
        queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the queue
                log.exception("engine listener failed")

    # -- queries ---------------------------------------------------------------

    @property
    def active_jobs(self) -> list[Job]:
        return list(self._jobs.values())  # ids only grow, so insertion order is id order

    def jobs_for(self, scene_id: int, kind: AssetKind | None = None) -> list[Job]:
        return [
            job
            for job in map(self._jobs.__getitem__, self._by_scene.get(scene_id, ()))
            if kind is None or job.kind is kind
        ]

    def queue_position(self, job_id: int) -> int | None:
        """1-based place among jobs still waiting in our own queue, or None."""
        if self._queue_index is None:  # rebuilt at most once per change, not per row drawn
            waiting = (job.id for job in self._jobs.values() if job.state is JobState.QUEUED)
            self._queue_index = {queued: place for place, queued in enumerate(waiting, 1)}
        return self._queue_index.get(job_id)

    @property
    def idle(self) -> bool:
        return not self._jobs

    async def wait_idle(self) -> None:
        """Until no job is active; used by the CLI and tests."""
        done = asyncio.Event()

        def check(event: EngineEvent) -> None:
            # Only a job's end can make the engine idle; other events may arrive
            # while a job is between untracking and its final event.
            ended = JobSucceeded | JobFailed | JobCancelled | JobSuperseded
            if isinstance(event, ended) and not self._jobs:
                done.set()

        unsubscribe = self.subscribe(check)
        try:
            while self._jobs:
                done.clear()
                await done.wait()
        finally:
            unsubscribe()

    # -- requests --------------------------------------------------------------

    async def regenerate(
        self, scene_id: int, kind: AssetKind, *, force: bool = False
    ) -> Job | None:
        """`i` or `v` on one scene: returns the job, None for a no-op, or raises Refused."""
        plan = await self.request(
            [kind], scene_ids=[scene_id], include_missing=True, force=force, explicit=True
        )
        if plan.refused:
            raise Refused(plan.refused[0].reason)
        return plan.jobs[0] if plan.jobs else None

    async def request(
        self,
        kinds: Sequence[AssetKind] = KINDS_IMAGES_FIRST,
        *,
        scene_ids: Iterable[int] | None = None,
        include_missing: bool = False,
        force: bool = False,
        explicit: bool = False,
        dry_run: bool = False,
    ) -> Plan:
        """Queue every dirty (or missing, or forced) asset of `kinds`, images first.

        `explicit` means the user named the scenes, so an asset that cannot be
        made is refused with a reason instead of being skipped quietly.
        `dry_run` decides everything and queues nothing (`regen --dry-run`).
        """
        store = self.project.store
        wanted = set(scene_ids) if scene_ids is not None else None
        ordered = [kind for kind in KINDS_IMAGES_FIRST if kind in kinds]
        plan = Plan()
        async with self._mutex:
            if wanted is not None and len(wanted) <= 50:
                # One scene (a key press) must not read all 10,000 of them.
                scenes = sorted(
                    [await store.scene(scene_id) for scene_id in wanted],
                    key=lambda scene: scene.position,
                )
            else:
                scenes = await store.scenes()
                if wanted is not None:
                    scenes = [scene for scene in scenes if scene.id in wanted]
            queued_images: dict[int, int] = {}
            for kind in ordered:
                for scene in scenes:
                    if kind is AssetKind.VIDEO and scene.id in queued_images:
                        scene = await store.scene(scene.id)
                    decision = await self._decide(
                        scene, kind, include_missing, force, explicit, dry_run, queued_images
                    )
                    plan.decisions.append(decision)
                    if decision.job is not None and kind is AssetKind.IMAGE:
                        queued_images[scene.id] = decision.job.id
                    if dry_run and decision.action == "queue" and kind is AssetKind.IMAGE:
                        queued_images[scene.id] = -1
        if plan.jobs:
            self._wake.set()
        return plan

    async def _decide(
        self,
        scene: Scene,
        kind: AssetKind,
        include_missing: bool,
        force: bool,
        explicit: bool,
        dry_run: bool,
        queued_images: dict[int, int],
    ) -> Decision:
        settings = self.project.settings
        state = asset_state(scene, kind, settings)
        name = f"Scene {scene.position}"

        def skip(reason: str) -> Decision:
            return Decision(scene, kind, "refuse" if explicit else "skip", reason)

        if state is AssetState.NONE:
            return skip(f"{name} has no {kind.value} prompt")
        if state is AssetState.MISSING and not (include_missing or explicit):
            return Decision(scene, kind, "skip", "missing; include missing assets to make it")
        if state is AssetState.CLEAN and not force:
            return Decision(scene, kind, "skip", f"{name}'s {kind.value} is up to date")

        image_job = self._image_job_for(scene.id, queued_images)
        if kind is AssetKind.VIDEO and image_job is None:
            if scene.image is None:
                return skip(f"{NO_IMAGE} ({name.lower()} has none yet)")
            if asset_state(scene, AssetKind.IMAGE, settings) is AssetState.DIRTY:
                return skip(
                    f"{name}'s image is stale; regenerate the image first (or regenerate both)"
                )

        reason = "forced new take" if state is AssetState.CLEAN else self._why(scene, kind)
        if dry_run:
            return Decision(scene, kind, "queue", reason)

        if kind is AssetKind.IMAGE and state is AssetState.CLEAN and force:
            scene = await self.project.store.update_scene(
                scene.id, {"seed": random.randrange(1, SEED_LIMIT)}
            )
            self._emit(SceneEdited(scene))
        params = self._params(scene, kind)
        params_hash = fingerprint(params)
        active = self.jobs_for(scene.id, kind)
        if any(job.params_hash == params_hash for job in active):
            return Decision(scene, kind, "skip", f"{name}'s {kind.value} is already queued")
        depends_on = image_job if kind is AssetKind.VIDEO and image_job and image_job > 0 else None
        job = await self.project.store.insert_job(
            scene_id=scene.id,
            kind=kind,
            params=params,
            params_hash=params_hash,
            backend=self.backend.name,
            backend_job_id=str(uuid.uuid4()),
            depends_on=depends_on,
            supersede=[old.id for old in active],
        )
        for old in active:
            await self._retire(old, JobState.SUPERSEDED)
        if kind is AssetKind.IMAGE:
            await self._repoint_videos(scene.id, job.id)
        self._track(job)
        self._emit(JobQueued(job))
        return Decision(scene, kind, "queue", reason, job)

    def _image_job_for(self, scene_id: int, queued_images: dict[int, int]) -> int | None:
        if scene_id in queued_images:
            return queued_images[scene_id]
        active = self.jobs_for(scene_id, AssetKind.IMAGE)
        return active[-1].id if active else None

    def _why(self, scene: Scene, kind: AssetKind) -> str:
        lines = self.project.why(scene).get(kind, [])
        return "; ".join(lines) if lines else f"no {kind.value} yet"

    def _params(self, scene: Scene, kind: AssetKind) -> dict[str, Any]:
        """The frozen snapshot a job runs with: staleness inputs plus routing details."""
        settings = self.project.settings
        routing = {
            "project": self.project.name,
            "scene": scene.id,
            "position": scene.position,
            "width": settings.width,
            "height": settings.height,
        }
        if kind is AssetKind.IMAGE:
            return {**image_inputs(scene, settings), **routing}
        return {
            **video_inputs(scene, settings),
            **routing,
            "image_file": scene.image.file if scene.image else None,
        }

    async def _repoint_videos(self, scene_id: int, image_job_id: int) -> None:
        """A video still waiting in our queue now waits for the newer image instead."""
        for video in self.jobs_for(scene_id, AssetKind.VIDEO):
            if video.state is JobState.QUEUED and video.depends_on != image_job_id:
                await self.project.store.update_job(video.id, depends_on=image_job_id)
                self._jobs[video.id] = video.model_copy(update={"depends_on": image_job_id})

    # -- cancelling ------------------------------------------------------------

    async def cancel_scene(self, scene_id: int, kind: AssetKind | None = None) -> int:
        """`x`: cancel the scene's active jobs; returns how many."""
        async with self._mutex:
            jobs = self.jobs_for(scene_id, kind)
            for job in jobs:
                await self._retire(job, JobState.CANCELLED)
        self._wake.set()
        return len(jobs)

    async def cancel_all(self) -> int:
        async with self._mutex:
            jobs = self.active_jobs
            for job in jobs:
                await self._retire(job, JobState.CANCELLED)
        self._wake.set()
        return len(jobs)

    async def _retire(self, job: Job, state: JobState, error: str | None = None) -> None:
        """End a job we no longer want, and tell the backend if it has it."""
        if job.id not in self._jobs:
            return
        was = self._jobs[job.id].state
        await self._finish_state(job, state, error)
        if was in (JobState.SUBMITTED, JobState.RUNNING):
            try:
                await self.backend.cancel(job.backend_job_id)
            except Exception as err:  # the job is ours to forget either way
                log.warning("cancel of %s failed: %s", job.label, err)

    # -- state changes ---------------------------------------------------------

    def _track(self, job: Job) -> None:
        self._queue_index = None
        self._jobs[job.id] = job
        self._by_scene.setdefault(job.scene_id, {})[job.id] = None
        self._by_key[job.backend_job_id] = job.id

    def _untrack(self, job_id: int) -> Job | None:
        self._queue_index = None
        job = self._jobs.pop(job_id, None)
        if job is not None:
            on_scene = self._by_scene.get(job.scene_id, {})
            on_scene.pop(job_id, None)
            if not on_scene:
                self._by_scene.pop(job.scene_id, None)
            self._by_key.pop(job.backend_job_id, None)
        return job

    async def _set_state(self, job_id: int, state: JobState, **fields: Any) -> Job:
        await self.project.store.update_job(job_id, state=state, **fields)
        job = self._jobs[job_id].model_copy(update={"state": state, **fields})
        self._jobs[job_id] = job
        self._queue_index = None
        return job

    async def _finish_state(self, job: Job, state: JobState, error: str | None = None) -> None:
        """Move a job to a final state other than success, and deal with its dependants."""
        current = self._untrack(job.id) or job
        if state is JobState.SUPERSEDED:
            # insert_job already wrote it, in the same transaction as its successor
            final = current.model_copy(update={"state": state})
        else:
            fields: dict[str, Any] = {"state": state}
            if error is not None:
                fields["error"] = error
            await self.project.store.update_job(job.id, **fields)
            final = current.model_copy(update=fields)
        if state is JobState.FAILED:
            self._emit(JobFailed(final, error or "failed"))
        elif state is JobState.CANCELLED:
            self._emit(JobCancelled(final))
        else:
            self._emit(JobSuperseded(final))
        if job.kind is AssetKind.IMAGE and state is not JobState.SUPERSEDED:
            for video in self.jobs_for(job.scene_id, AssetKind.VIDEO):
                if video.depends_on == job.id:
                    reason = None
                    if state is JobState.FAILED:
                        reason = f"its image failed: {error}"
                    await self._finish_state(
                        video,
                        JobState.FAILED if state is JobState.FAILED else JobState.CANCELLED,
                        reason,
                    )
        self._wake.set()

    async def _lost(self, job_id: int, reason: str) -> None:
        job = self._jobs[job_id]
        if job.attempts >= 1:
            await self._finish_state(job, JobState.FAILED, "lost by the server twice")
            return
        await self._set_state(job_id, JobState.QUEUED, attempts=job.attempts + 1, progress=0.0)
        log.info("%s: %s; resubmitting", job.label, reason)
        self._wake.set()

    # -- dispatch --------------------------------------------------------------

    def _ready(self) -> Iterator[Job]:
        """Queued jobs that may start now, in order; a video waits for its scene's image.

        A generator, so a dispatch with one free slot stops at the first ready job
        instead of judging all 10,000 queued ones.
        """
        for job_id in list(self._jobs):
            job = self._jobs.get(job_id)
            if job is None or job.state is not JobState.QUEUED:
                continue
            if job.kind is AssetKind.VIDEO and self.jobs_for(job.scene_id, AssetKind.IMAGE):
                continue
            yield job

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._retry_at - loop.time()
            if delay > 0:
                loop.call_later(delay, self._wake.set)
                continue
            try:
                async with self._mutex:
                    await self._dispatch()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the queue alive; the job that broke it was failed
                log.exception("dispatch failed")

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        for job in self._ready():
            if self.backend.capacity() <= 0:
                return
            if job.kind is AssetKind.VIDEO:
                job = await self._bind_still(job)
                if job is None:
                    continue
            await self._set_state(job.id, JobState.SUBMITTED)
            try:
                await self.backend.submit(await self._spec(job))
            except BackendUnavailable as error:
                await self._set_state(job.id, JobState.QUEUED)
                delay = RETRY_DELAYS[min(self._failures_in_a_row, len(RETRY_DELAYS) - 1)]
                self._failures_in_a_row += 1
                self._retry_at = loop.time() + delay
                log.warning("backend unavailable (%s); retrying in %.0f s", error, delay)
                self._wake.set()
                return
            except BackendError as error:
                await self._finish_state(job, JobState.FAILED, str(error))
                continue
            self._failures_in_a_row = 0

    async def _bind_still(self, job: Job) -> Job | None:
        """Point a video at the scene's current still, now that no image job is pending."""
        scene = await self.project.store.scene(job.scene_id)
        still = scene.image
        if still is None:
            await self._finish_state(job, JobState.FAILED, NO_IMAGE)
            return None
        if job.params.get("image_file") == still.file and job.depends_on is None:
            return job
        params = dict(job.params)
        params.update(
            {
                key: value
                for key, value in video_inputs_from(scene, self.project.settings, still).items()
                if key in ("image_hash", "image_inputs")
            }
        )
        params["image_file"] = still.file
        params_hash = fingerprint(params)
        await self.project.store.update_job(job.id, params=params, params_hash=params_hash)
        bound = job.model_copy(update={"params": params, "params_hash": params_hash})
        self._jobs[job.id] = bound
        return bound

    async def _spec(self, job: Job) -> JobSpec:
        image_path = None
        if job.kind is AssetKind.VIDEO and job.params.get("image_file"):
            image_path = self.project.folder.resolve_asset(job.params["image_file"])
        return JobSpec(
            job_id=job.id,
            key=job.backend_job_id,
            kind=job.kind,
            params=job.params,
            scene_position=int(job.params.get("position", 0)),
            project_key=fingerprint({"project": str(self.project.folder.root)})[:12],
            image_path=image_path,
        )

    # -- backend events --------------------------------------------------------

    async def _pump(self) -> None:
        async for event in self.backend.events():
            try:
                await self._handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling %r failed", event)

    async def _handle(self, event: BackendEvent) -> None:
        if isinstance(event, StatusChanged):
            self._emit(BackendChanged(event.status))
            return
        job_id = self._by_key.get(event.key)
        if job_id is None:
            return  # a job we already retired (cancelled, superseded)
        if isinstance(event, Progress):
            job = self._jobs[job_id].model_copy(update={"progress": event.fraction})
            self._jobs[job_id] = job
            self._emit(JobProgress(job, event.value, event.max, event.fraction, event.node))
            return
        if isinstance(event, Preview):
            self._emit(JobPreview(self._jobs[job_id], event.data, event.mime))
            return
        if isinstance(event, Output):
            # Finish in its own task: one job's fsync overlaps the next one's bookkeeping.
            task = asyncio.create_task(self._finish(self._jobs[job_id], event))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
            return
        async with self._mutex:
            if job_id not in self._jobs:
                return
            job = self._jobs[job_id]
            if isinstance(event, Started):
                if job.state is not JobState.RUNNING:
                    job = await self._set_state(job_id, JobState.RUNNING, server=event.server)
                    self._emit(JobStarted(job))
            elif isinstance(event, Failed):
                await self._finish_state(job, JobState.FAILED, event.message)
            elif isinstance(event, Cancelled):
                await self._finish_state(job, JobState.CANCELLED)
            elif isinstance(event, Lost):
                await self._lost(job_id, event.reason)

    async def _finish(self, job: Job, output: Output) -> None:
        """Write the new file, point the scene at it in one transaction, delete the old one."""
        try:
            await self._store_output(job, output)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("finishing %s failed", job.label)

    async def _store_output(self, job: Job, output: Output) -> None:
        folder = self.project.folder
        try:
            suffix = safe_suffix(output.name, job.kind)
        except StoreError as error:
            async with self._mutex:
                if job.id in self._jobs:
                    await self._finish_state(job, JobState.FAILED, str(error))
            return
        position = int(job.params.get("position", 0))
        path = folder.dir_for(job.kind) / asset_name(position, job.backend_job_id, suffix)
        try:
            await asyncio.to_thread(self._writer, path, output.data)
        except OSError as error:
            message = f"could not write {folder.relative(path)}: {error.strerror or error}"
            async with self._mutex:
                if job.id in self._jobs:
                    await self._finish_state(job, JobState.FAILED, message)
            return
        asset = Asset(
            kind=job.kind,
            file=folder.relative(path),
            content_hash=content_hash(output.data),
            inputs=asset_inputs(job.kind, dict(job.params)),
            created=_now(),
            job_id=job.id,
        )
        async with self._mutex:
            if job.id not in self._jobs:  # cancelled or superseded while we wrote
                await asyncio.to_thread(remove_quietly, path)
                return
            try:
                old, scene = await self.project.store.finish_job(job.id, job.scene_id, asset)
            except BaseException:
                remove_quietly(path)
                raise
            self._untrack(job.id)
        if old is not None:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(remove_quietly, folder.resolve_asset(old))
        done = job.model_copy(update={"state": JobState.SUCCEEDED, "progress": 1.0})
        self._emit(JobSucceeded(done, scene, asset.file))
        self._wake.set()
