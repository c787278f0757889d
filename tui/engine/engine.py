"""The engine: runs a project's queued jobs on one backend, and finishes them.

Exactly one engine per project runs at a time (it holds the runner lock); it
lives in the detached runner process (`tui.engine.runner`), or in a test.
Jobs are queued by anyone, in the database (`tui.engine.requests`); the engine
reads what changed since its last look, dispatches in order within the
backend's window, and writes every state change as a compare-and-set, so a
client that cancels a job while the engine finishes it never corrupts either.

Every job is journalled with the backend id we chose before a backend hears
of it, so after a crash every job in flight can be found and reconciled. A
job's parameters are frozen when it is queued and its result is stored with
them, so a scene edited while its job ran stays honestly dirty.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.backends.base import (
    Backend,
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
from tui.domain.models import Asset, AssetKind
from tui.domain.staleness import fingerprint, video_inputs_from
from tui.engine.assets import (
    Writer,
    atomic_write,
    content_hash,
    remove_asset,
    remove_quietly,
    sweep,
)
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
    ended_event,
)
from tui.engine.project import Project
from tui.engine.requests import (
    KINDS_IMAGES_FIRST,
    NO_IMAGE,
    TAKE_FROM_SEED,
    Plan,
    QueueContext,
    Refused,
    Request,
    asset_inputs,
    cancel,
    queue,
    scene_ids_of,
)
from tui.engine.runfiles import RunFiles, RunnerLock
from tui.errors import StoreError
from tui.folder import TEMP_PREFIX, asset_name, fsync_dir, safe_suffix
from tui.store.audio import check_audio

__all__ = ["Engine", "Refused"]

log = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Backoff while a backend is unavailable; the last delay repeats."""
SYNC_INTERVAL = 1.0
"""Seconds between looks at the database for jobs queued or cancelled elsewhere,
when no client pokes the engine."""
STOPPED_TWICE = "the runner stopped twice while making this; not trying a third time"


def _now() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Run and finish the queued jobs of one project on one backend."""

    def __init__(self, project: Project, backend: Backend, *, writer: Writer = atomic_write):
        self.project = project
        self.backend = backend
        self._writer = writer
        self._jobs: dict[int, Job] = {}
        """Every active (non-final) job, by id, oldest first; mirrors the database."""
        self._by_scene: dict[int, dict[int, None]] = {}
        """Scene id → its active job ids, so per-scene lookups stay O(1) at 10,000 jobs."""
        self._by_key: dict[str, int] = {}
        self._queue_index: dict[int, int] | None = None
        """Job id → its place among waiting jobs; rebuilt at most once per change."""
        self._rev = 0
        """The job revision the engine has read up to."""
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._mutex = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stale = True
        """Something may have changed in the database: read it before dispatching."""
        self._tasks: list[asyncio.Task[None]] = []
        self._finishing: set[asyncio.Task[None]] = set()
        """Results being written; stop() lets them land rather than cut them off."""
        self._retry_at = 0.0
        self._failures_in_a_row = 0
        self.files = RunFiles(project.folder.root)
        self._lock = RunnerLock(self.files.lock)
        self._started = False
        self.resumed = 0
        """How many jobs from an earlier run were picked up again at start."""

    @property
    def context(self) -> QueueContext:
        return QueueContext(self.project.name, self.project.settings, self.backend.name)

    # -- life cycle ------------------------------------------------------------

    def acquire(self) -> None:
        """Take the runner lock; raises RunnerBusy if another process runs this project."""
        if not self._lock.held:
            self.files.ensure()
            self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    @property
    def rev(self) -> int:
        """The job revision the engine has read up to."""
        return self._rev

    async def start(self) -> None:
        """Take the runner lock, sweep leftovers, reconcile old jobs, start dispatching."""
        self.acquire()
        try:
            await self._start()
        except BaseException:
            await self._close_tasks()
            self._lock.release()
            raise
        self._started = True

    async def _start(self) -> None:
        store = self.project.store
        await store.make_writable()  # the runner writes from its first moment
        check = await check_audio(store, self.project.folder, write=True)
        for line in check.problems:
            log.warning("%s", line)
        referenced, keys = await store.asset_files(), await store.job_keys()
        await asyncio.to_thread(sweep, self.project.folder, referenced, keys)
        self.backend.on_ready = self._backend_ready
        await self.backend.start()
        self._tasks.append(asyncio.create_task(self._pump(), name="engine-events"))
        jobs, self._rev = await store.jobs_changed_since(0)
        for job in jobs:
            if job.state.is_active:
                await self._reconcile(job)
        self._tasks.append(asyncio.create_task(self._schedule(), name="engine-dispatch"))
        self._tasks.append(asyncio.create_task(self._tick(), name="engine-sync"))
        self._wake.set()

    async def _reconcile(self, job: Job) -> None:
        if job.backend != self.backend.name:
            await self._end(
                job,
                JobState.CANCELLED,
                f"queued for the {job.backend} backend, which is not in use now",
            )
            return
        self._track(job)
        self.resumed += 1
        if job.state is JobState.QUEUED:
            return
        try:
            outcome = await self.backend.recover(await self._spec(job))
        except Exception as error:  # a job that cannot even be looked at is failed, not stuck
            await self._end(job, JobState.FAILED, str(error) or type(error).__name__)
            return
        if outcome is Recovery.RERUN:
            if job.state is not JobState.RUNNING:
                # Handed over but never started: it did not stop the runner, so it is
                # not held to account; it simply goes back in line.
                await self._set_state(job.id, JobState.QUEUED)
            elif job.attempts >= 1:
                await self._end(job, JobState.FAILED, STOPPED_TWICE)
            else:
                await self._set_state(job.id, JobState.QUEUED, attempts=job.attempts + 1)
        elif outcome is Recovery.LOST:
            await self._lost(job.id, "lost by the server")

    def _backend_ready(self) -> None:
        """A server came back: dispatch now instead of waiting out the backoff."""
        self._retry_at = 0.0
        self._failures_in_a_row = 0
        self._wake.set()

    async def stop(self, *, cancel: bool = False) -> None:
        """Stop dispatching; with `cancel`, cancel every active job first."""
        if cancel:
            await self.cancel_all()
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        await self._close_tasks()
        if self._started:
            self._lock.release()
            self._started = False

    async def _close_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.backend.close()

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
        queue_: asyncio.Queue[EngineEvent] = asyncio.Queue()
        unsubscribe = self.subscribe(queue_.put_nowait)
        try:
            while True:
                yield await queue_.get()
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
        if self._queue_index is None:
            waiting = (job.id for job in self._jobs.values() if job.state is JobState.QUEUED)
            self._queue_index = {queued: place for place, queued in enumerate(waiting, 1)}
        return self._queue_index.get(job_id)

    @property
    def counts(self) -> tuple[int, int]:
        """(running, queued): running counts jobs the backend has, queued the rest."""
        queued = sum(1 for job in self._jobs.values() if job.state is JobState.QUEUED)
        return len(self._jobs) - queued, queued

    @property
    def idle(self) -> bool:
        return not self._jobs and not self._finishing

    async def wait_idle(self) -> None:
        """Until no job is active; used by tests and benchmarks."""
        done = asyncio.Event()
        ended = JobSucceeded | JobFailed | JobCancelled | JobSuperseded

        def check(event: EngineEvent) -> None:
            # Only a job's end can make the engine idle; other events may arrive
            # while a job is between untracking and its final event.
            if isinstance(event, ended) and not self._jobs:
                done.set()

        unsubscribe = self.subscribe(check)
        try:
            while self._jobs:
                done.clear()
                await done.wait()
        finally:
            unsubscribe()

    # -- requests (any process may do these; the engine's own are a convenience) --

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
        """Queue every dirty (or missing, or forced) asset of `kinds`, images first."""
        wanted = Request(
            kinds=tuple(kinds),
            scene_ids=scene_ids_of(scene_ids),
            include_missing=include_missing,
            force=force,
            explicit=explicit,
        )
        plan = await queue(self.project.store, wanted, self.context, dry_run=dry_run)
        if not dry_run:
            await self.sync()
        return plan

    async def cancel_scene(self, scene_id: int, kind: AssetKind | None = None) -> int:
        """`x`: cancel the scene's active jobs; returns how many."""
        ended = await cancel(self.project.store, scene_id, kind)
        await self.sync()
        return len(ended)

    async def cancel_all(self) -> int:
        ended = await cancel(self.project.store)
        await self.sync()
        return len(ended)

    # -- keeping up with the database ------------------------------------------

    def poke(self) -> None:
        """Something changed in the database (a client queued or cancelled): look soon."""
        self._stale = True
        self._wake.set()

    async def sync(self) -> None:
        """Read every job changed since the last look, and act on it."""
        async with self._mutex:
            await self._sync()
        self._wake.set()

    async def _sync(self) -> None:
        self._stale = False
        jobs, rev = await self.project.store.jobs_changed_since(self._rev)
        self._rev = max(self._rev, rev)
        for job in jobs:
            known = self._jobs.get(job.id)
            if job.state.is_active:
                if job.backend != self.backend.name:
                    continue  # another runner's backend; left for the start-up sweep
                if known is None:
                    self._track(job)
                    self._emit(JobQueued(job))
                elif job.state is known.state or job.state is not JobState.QUEUED:
                    # Our own write read back, or a waiting video repointed at a
                    # newer image: the database copy is as new as ours or newer.
                    self._jobs[job.id] = job.model_copy(update={"progress": known.progress})
                    self._queue_index = None
            elif known is not None:
                # Ended elsewhere: cancelled or superseded by a client.
                self._untrack(job.id)
                if known.state in (JobState.SUBMITTED, JobState.RUNNING):
                    await self._cancel_at_backend(known)
                if job.state is not JobState.SUCCEEDED:
                    self._emit(ended_event(job))

    async def _tick(self) -> None:
        """Look at the database now and then, in case a client could not poke us."""
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                rev = await self.project.store.rev()
            except StoreError as error:
                log.warning("cannot read the database: %s", error)
                continue
            if rev > self._rev:
                self.poke()

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

    async def _set_state(self, job_id: int, state: JobState, **fields: Any) -> Job | None:
        """Move an active job on; None (and forgotten) if another process ended it."""
        job = await self.project.store.update_job(job_id, state=state, **fields)
        if job is None:
            await self._forget(job_id)
            return None
        known = self._jobs.get(job_id)
        if known is not None:
            job = job.model_copy(update={"progress": known.progress})
        self._jobs[job_id] = job
        self._queue_index = None
        return job

    async def _forget(self, job_id: int) -> None:
        """A job we thought active was ended by someone else: stop it and say so."""
        known = self._untrack(job_id)
        if known is None:
            return
        if known.state in (JobState.SUBMITTED, JobState.RUNNING):
            await self._cancel_at_backend(known)
        final = await self.project.store.job(job_id)
        if final.state is not JobState.SUCCEEDED:
            self._emit(ended_event(final))

    async def _end(self, job: Job, state: JobState, error: str | None = None) -> None:
        """End a job other than by success, with the videos waiting on it."""
        ended = await self.project.store.end_job(job.id, state, error)
        if not ended:
            await self._forget(job.id)
        for final in ended:
            known = self._untrack(final.id)
            if known is not None and final.id != job.id:
                if known.state in (JobState.SUBMITTED, JobState.RUNNING):
                    await self._cancel_at_backend(known)
            self._emit(ended_event(final))
        self._wake.set()

    async def _cancel_at_backend(self, job: Job) -> None:
        try:
            await self.backend.cancel(job.backend_job_id)
        except Exception as err:  # the job is ours to forget either way
            log.warning("cancel of %s failed: %s", job.label, err)

    async def _lost(self, job_id: int, reason: str) -> None:
        job = self._jobs[job_id]
        if job.attempts >= 1:
            await self._end(job, JobState.FAILED, "lost by the server twice")
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
            try:
                async with self._mutex:
                    if self._stale:
                        await self._sync()
                    delay = self._retry_at - loop.time()
                    if delay > 0:
                        loop.call_later(delay, self._wake.set)
                        continue
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
            try:
                claimed = await self._claim(job)
                if claimed is None:
                    continue
                spec = await self._spec(claimed)
                await self.backend.submit(spec)
            except BackendUnavailable as error:
                await self._set_state(job.id, JobState.QUEUED)
                delay = RETRY_DELAYS[min(self._failures_in_a_row, len(RETRY_DELAYS) - 1)]
                self._failures_in_a_row += 1
                self._retry_at = loop.time() + delay
                log.warning("backend unavailable (%s); retrying in %.0f s", error, delay)
                self._wake.set()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Whatever broke (a refused workflow, an unreadable still, a bug),
                # the job fails with the reason and never stays half-dispatched.
                if job.id in self._jobs:
                    await self._end(self._jobs[job.id], JobState.FAILED, _message(error))
                continue
            self._failures_in_a_row = 0

    async def _claim(self, job: Job) -> Job | None:
        """Mark a job submitted; a video is first bound to its scene's current still."""
        fields: dict[str, Any] = {}
        if job.kind is AssetKind.VIDEO:
            bound = await self._bind_still(job)
            if bound is None:
                return None
            if bound is not job:
                fields = {"params": bound.params, "params_hash": bound.params_hash}
        claimed = await self.project.store.atomically(
            lambda tx: tx.set_job(
                job.id, expect={JobState.QUEUED}, state=JobState.SUBMITTED, **fields
            )
        )
        if claimed is None:
            await self._forget(job.id)
            return None
        self._jobs[job.id] = claimed
        self._queue_index = None
        return claimed

    async def _bind_still(self, job: Job) -> Job | None:
        """Point a video at the scene's current still, now that no image job is pending."""
        scene = await self.project.store.scene(job.scene_id)
        still = scene.image
        if still is None or not await asyncio.to_thread(self._on_disk, still.file):
            await self._end(job, JobState.FAILED, NO_IMAGE)
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
        return job.model_copy(update={"params": params, "params_hash": fingerprint(params)})

    def _on_disk(self, relative: str) -> bool:
        """One stat for the one still a video is about to be made from (its file may have
        been deleted since anyone listed the folder)."""
        try:
            return self.project.folder.resolve_asset(relative).is_file()
        except StoreError:
            return False

    def _staging(self, job: Job) -> Path:
        position = int(job.params.get("position", 0))
        name = asset_name(position, job.backend_job_id, ".part")
        return self.project.folder.dir_for(job.kind) / (TEMP_PREFIX + name)

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
            staging=self._staging(job),
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
            if isinstance(event, Output) and event.path is not None:
                await asyncio.to_thread(remove_quietly, event.path)
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
                    started = await self._set_state(job_id, JobState.RUNNING, server=event.server)
                    if started is not None:
                        self._emit(JobStarted(started))
            elif isinstance(event, Failed):
                await self._end(job, JobState.FAILED, event.message)
            elif isinstance(event, Cancelled):
                await self._end(job, JobState.CANCELLED)
            elif isinstance(event, Lost):
                await self._lost(job_id, event.reason)

    async def _finish(self, job: Job, output: Output) -> None:
        """Write the new file, point the scene at it in one transaction, delete the old one."""
        try:
            await self._store_output(job, output)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("finishing %s failed", job.label)
            async with self._mutex:
                if job.id in self._jobs:
                    try:
                        await self._end(job, JobState.FAILED, _message(error))
                    except StoreError as again:  # the database itself is what failed
                        log.error("cannot record that %s failed: %s", job.label, again)

    async def _fail_finish(self, job: Job, message: str) -> None:
        async with self._mutex:
            if job.id in self._jobs:
                await self._end(job, JobState.FAILED, message)

    async def _store_output(self, job: Job, output: Output) -> None:
        folder = self.project.folder
        try:
            suffix = safe_suffix(output.name, job.kind)
        except StoreError as error:
            if output.path is not None:
                await asyncio.to_thread(remove_quietly, output.path)
            await self._fail_finish(job, str(error))
            return
        position = int(job.params.get("position", 0))
        path = folder.dir_for(job.kind) / asset_name(position, job.backend_job_id, suffix)
        try:
            if output.path is not None:
                digest = await asyncio.to_thread(_move_into_place, output.path, path)
            else:
                await asyncio.to_thread(self._writer, path, output.data)
                digest = content_hash(output.data)
        except OSError as error:
            message = f"could not write {folder.relative(path)}: {error.strerror or error}"
            await self._fail_finish(job, message)
            return
        params = dict(job.params)
        asset = Asset(
            kind=job.kind,
            file=folder.relative(path),
            content_hash=digest,
            inputs=asset_inputs(job.kind, params),
            created=_now(),
            job_id=job.id,
        )
        seed = params["seed"] if TAKE_FROM_SEED in params else None
        async with self._mutex:
            if job.id not in self._jobs:  # cancelled or superseded while we wrote
                await asyncio.to_thread(remove_quietly, path)
                return
            try:
                finished = await self.project.store.finish_job(
                    job.id, job.scene_id, asset, seed=seed, seed_was=params.get(TAKE_FROM_SEED)
                )
            except BaseException:
                remove_quietly(path)
                raise
            if finished is None:  # a client ended it in the database first
                await asyncio.to_thread(remove_quietly, path)
                await self._forget(job.id)
                return
            self._untrack(job.id)
        old, scene = finished
        if old is not None:
            # Only a regular file the app named itself; a symlink is removed as a link.
            await asyncio.to_thread(remove_asset, folder, old)
        done = job.model_copy(update={"state": JobState.SUCCEEDED, "progress": 1.0})
        self._emit(JobSucceeded(done, scene, asset.file))
        self._wake.set()


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _move_into_place(staged: Path, final: Path) -> str:
    """A streamed result: hash it, fsync it, rename it to its final name."""
    digest = hashlib.sha256()
    try:
        with open(staged, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            os.fsync(handle.fileno())
        os.replace(staged, final)
    except BaseException:
        remove_quietly(staged)
        raise
    fsync_dir(final.parent)
    return digest.hexdigest()
