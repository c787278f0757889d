"""A client of the project's runner: queue work, watch it, never run it.

The TUI and `storyboard regen` both use this. Queueing is a transaction on
the database (`tui.engine.requests`); then the client makes sure a runner
lives (starting a detached one if none does) and pokes it. States and errors
are read from the database, which is the truth; live progress, previews and
"started" arrive over the runner's socket. A client that cannot connect
still works from the database, polling its revision, just without previews.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.domain.jobs import Job, JobState
from tui.domain.models import AssetKind, Scene
from tui.engine.events import (
    BackendChanged,
    EngineEvent,
    JobCancelled,
    JobPreview,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
    RunnerChanged,
    RunnerInfo,
    SceneEdited,
    ended_event,
)
from tui.engine.project import BackendChoice, Project
from tui.engine.protocol import (
    FATAL,
    MAX_LINE,
    Bye,
    Changed,
    Hello,
    LivePreview,
    LiveProgress,
    LiveStarted,
    Message,
    Poke,
    ProtocolError,
    RunnerState,
    Stop,
    check_version,
    decode,
    encode,
)
from tui.engine.requests import (
    KINDS_IMAGES_FIRST,
    Plan,
    QueueContext,
    Refused,
    Request,
    cancel,
    cancel_ids,
    queue,
    scene_ids_of,
)
from tui.engine.runfiles import RunFiles, reachable
from tui.errors import StoreError
from tui.store.transaction import Tx

if TYPE_CHECKING:
    from tui.domain.jobs import CutJob
    from tui.engine.events import FilesCheck
    from tui.engine.export import CutView, ExportRequest

SPAWN_TIMEOUT = 30.0
"""Seconds a new runner may take to say it is ready (Python start-up, opening the project)."""
CONNECT_TIMEOUT = 3.0
RELAUNCH_PAUSE = 15.0
"""After a runner failed to start, wait this long before trying again by ourselves."""


class RunnerError(Exception):
    """The runner could not be started or reached; the message is one line for the user."""


Launcher = Callable[[Path, BackendChoice], Awaitable[None]]
"""Starts a runner for a project and returns once it is ready (or another one is)."""


ANSWERS = ("ready", "busy", "error: ")


def _read_answer(stream: int, timeout: float) -> str:
    """The runner's one-line answer, or everything it said before it died or went quiet."""
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            lines = data.decode(errors="replace").splitlines()
            if any(line.startswith(ANSWERS) for line in lines):
                break
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(stream, 4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def _spawn(root: Path, choice: BackendChoice) -> tuple[str, int | None]:
    command = [sys.executable, "-m", "tui", "runner", str(root), "serve", *choice.argv()]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # a crash before "ready" is still heard
        start_new_session=True,
        close_fds=True,
        cwd=root,
    )
    assert process.stdout is not None
    try:
        said = _read_answer(process.stdout.fileno(), SPAWN_TIMEOUT)
    finally:
        process.stdout.close()
    # The process we started forks the runner and exits at once; reap it.
    status = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        status = process.wait(timeout=5)
    return said, status


async def spawn_runner(root: Path, choice: BackendChoice) -> None:
    """Start a detached runner process and wait until it (or a rival) is ready."""
    said, status = await asyncio.to_thread(_spawn, root, choice)
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("ready", "busy")):
            return
        if line.startswith("error: "):
            raise RunnerError(line.removeprefix("error: "))
    log = RunFiles(root).log
    if lines:
        why = lines[-1]
    elif status not in (None, 0):
        why = f"it exited with status {status}"
    else:
        why = f"no answer in {SPAWN_TIMEOUT:.0f} s"
    raise RunnerError(f"the runner did not start ({why}); see {log}")


class ProjectClient:
    """One window (a TUI, a CLI) onto a project's jobs."""

    def __init__(
        self,
        project: Project,
        *,
        role: str = "tui",
        launcher: Launcher | None = None,
        poll_interval: float = 1.0,
        auto_start: bool = True,
    ) -> None:
        self.project = project
        self.auto_start = auto_start
        """Start a runner when jobs wait and none lives (a runner killed mid-batch).
        Off for clients that only look (`runner status`) or stop it."""
        self.files = RunFiles(project.folder.root)
        self.role = role
        self._launch = launcher or spawn_runner
        self.poll_interval = poll_interval
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._active: dict[int, Job] = {}
        """Every active job, by id, as of the last look at the database."""
        self._rev = 0
        self._refreshing: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._refresh_lock = asyncio.Lock()
        self._writer: asyncio.StreamWriter | None = None
        self._poke_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._launch_failed_at: float | None = None
        self._fatal: str | None = None
        """Why the runner stopped itself (its `Bye`): no runner is started again."""
        self._preflight_cache: Any = None
        """Per-server ComfyUI checks, kept until a server restarts (made on first use)."""
        self.runner = RunnerInfo("not running")

    @property
    def context(self) -> QueueContext:
        return QueueContext(self.project.name, self.project.settings, self.project.backend_name)

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Read the jobs in flight and start following the runner."""
        store = self.project.store
        jobs, self._rev = await store.read(lambda tx: (tx.active_jobs(), tx.current_rev()))
        self._active = {job.id: job for job in jobs}
        self._tasks.append(asyncio.create_task(self._keep_connected(), name="runner-link"))
        self._tasks.append(asyncio.create_task(self._poll(), name="runner-poll"))

    async def close(self) -> None:
        """Stop following; the runner and its jobs go on without us."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._preflight_cache is not None:
            await self._preflight_cache.close()
            self._preflight_cache = None

    async def __aenter__(self) -> ProjectClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- listening -------------------------------------------------------------------

    def subscribe(self, listener: Callable[[EngineEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    @property
    def active_jobs(self) -> list[Job]:
        return list(self._active.values())

    @property
    def connected(self) -> bool:
        return self._writer is not None

    # -- requests ------------------------------------------------------------------------

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
        """Queue work (one transaction), then make sure a runner will do it."""
        wanted = Request(
            kinds=tuple(kinds),
            scene_ids=scene_ids_of(scene_ids),
            include_missing=include_missing,
            force=force,
            explicit=explicit,
        )
        if not dry_run:
            self._check_runner_backend()
            await self._preflight(wanted)
        plan = await queue(self.project.store, wanted, self.context, dry_run=dry_run)
        if plan.jobs:
            await self.refresh()
            await self.ensure_runner()
        return plan

    async def failures(self) -> list[Job]:
        """Each asset's last job, where that job failed (shown until it is made or edited)."""
        from tui.store.history import latest_failures

        return await self.project.store.read(latest_failures)

    async def regenerate(
        self, scene_id: int, kind: AssetKind, *, force: bool = False
    ) -> Job | None:
        """`i` or `v` on one scene: the job, None for a no-op, or raises Refused."""
        plan = await self.request(
            [kind], scene_ids=[scene_id], include_missing=True, force=force, explicit=True
        )
        if plan.refused:
            raise Refused(plan.refused[0].reason)
        return plan.jobs[0] if plan.jobs else None

    async def cancel_scene(self, scene_id: int, kind: AssetKind | None = None) -> int:
        ended = await cancel(self.project.store, scene_id, kind)
        await self._after_cancel(ended)
        return len(ended)

    async def cancel_all(self) -> int:
        ended = await cancel(self.project.store)
        await self._after_cancel(ended)
        return len(ended)

    async def cancel_jobs(self, job_ids: Iterable[int]) -> int:
        ended = await cancel_ids(self.project.store, job_ids)
        await self._after_cancel(ended)
        return len(ended)

    async def _after_cancel(self, ended: list[Job]) -> None:
        if ended:
            await self.refresh()
            self._poke()

    async def stop_runner(self, timeout: float = 10.0) -> bool:
        """Ask the runner to cancel its jobs and exit; True once it has gone."""
        self.auto_start = False  # we asked it to stop: do not start another
        if self._writer is None:
            return self.files.live_pid() is None
        self._writer.write(encode(Stop()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.files.live_pid() is not None:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        await self.refresh()
        return True

    async def _preflight(self, wanted: Request) -> None:
        """Refuse a ComfyUI batch that cannot succeed (a model missing on every server)
        with one message, instead of queueing N jobs that would each fail with it."""
        if self.project.backend_name != "comfyui":
            return
        from tui.backends.comfyui.doctor import PreflightCache, load_workflow_map, preflight

        plan = await queue(self.project.store, wanted, self.context, dry_run=True)
        kinds = [kind for kind in KINDS_IMAGES_FIRST if any(d.kind is kind for d in plan.queued)]
        if not kinds:
            return
        if self._preflight_cache is None:
            self._preflight_cache = PreflightCache()
        config = self.project.config
        message = await preflight(
            config.comfyui.servers,
            load_workflow_map(self.project.folder, config),
            kinds,
            timeout=config.comfyui.timeout,
            cache=self._preflight_cache,
        )
        if message is not None:
            raise Refused(message)

    def _check_runner_backend(self) -> None:
        """Refuse to queue for one renderer while the live runner renders with another."""
        if self.files.live_pid() is None:
            return
        state = self.files.read_state()
        backend, servers = state.get("backend"), tuple(state.get("servers") or ())
        if backend is None:
            return
        if (backend, servers) != (self.project.backend_name, self.project.servers):
            used = backend + (f" ({', '.join(servers)})" if servers else "")
            raise RunnerError(
                f"this project's runner renders with {used}; stop it "
                f"(storyboard runner {self.project.folder.root} stop) to use "
                f"{self.project.backend_name}"
            )

    @property
    def broken(self) -> str | None:
        """Why no runner may run this project now (a damaged database), or None.

        A runner that finds the file damaged stops, since every write could make it
        worse; starting another would fail the same way, every second.
        """
        damage = self.project.store.damage
        return self._fatal or (str(damage) if damage is not None else None)

    async def ensure_runner(self) -> None:
        """Make sure a runner lives and knows there is work; start one if none does."""
        if (broken := self.broken) is not None:
            raise RunnerError(broken)
        if self._writer is not None:
            self._poke()
            return
        self._poke_pending = True
        if self.files.live_pid() is None:
            self.runner = RunnerInfo("starting")
            self._emit(RunnerChanged(self.runner))
            try:
                await self._launch(self.project.folder.root, self.project.choice)
            except RunnerError as error:
                self._launch_failed_at = asyncio.get_running_loop().time()
                self._set_runner(RunnerInfo("not running", note=str(error)))
                raise
            self._launch_failed_at = None
        self._wake.set()

    def _poke(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(Poke()))
        else:
            self._poke_pending = True
            self._wake.set()

    # -- the database -------------------------------------------------------------------

    def refresh_soon(self) -> None:
        """Read the database's changes in the background, coalescing bursts."""
        if self._refreshing is not None and not self._refreshing.done():
            self._refresh_again = True
            return
        self._refreshing = asyncio.create_task(self._refresh_loop(), name="runner-refresh")

    async def _refresh_loop(self) -> None:
        while True:
            self._refresh_again = False
            with contextlib.suppress(StoreError):
                await self.refresh()
            if not self._refresh_again:
                return

    async def refresh(self) -> None:
        """Turn every job and scene change since the last look into events."""
        async with self._refresh_lock:  # one look at a time, so no change is told twice
            await self._refresh()

    async def _refresh(self) -> None:
        since = self._rev
        jobs, scenes, rev = await self.project.store.read(
            lambda tx: (
                tx.jobs_changed_since(since),
                tx.scenes_changed_since(since),
                tx.current_rev(),
            )
        )
        if rev <= self._rev:
            return
        self._rev = rev
        changed = {scene.id: scene for scene in scenes}
        delivered: set[int] = set()
        for job in jobs:
            self._apply_job(job, changed, delivered)
        for scene in scenes:
            if scene.id not in delivered:
                self._emit(SceneEdited(scene))
        self._update_counts()

    def _apply_job(self, job: Job, scenes: dict[int, Scene], delivered: set[int]) -> None:
        known = self._active.get(job.id)
        if job.state.is_active:
            self._active[job.id] = (
                job if known is None else job.model_copy(update={"progress": known.progress})
            )
            if known is None:
                self._emit(JobQueued(job))
                if job.state is JobState.RUNNING:
                    self._emit(JobStarted(job))
            elif job.state is JobState.RUNNING and known.state is not JobState.RUNNING:
                self._emit(JobStarted(job))
            return
        if known is None:
            self._emit(JobQueued(job))  # came and went between two looks
        self._active.pop(job.id, None)
        if job.state is JobState.SUCCEEDED:
            scene = scenes.get(job.scene_id)
            asset = scene.asset(job.kind) if scene is not None else None
            if scene is not None and asset is not None:
                delivered.add(scene.id)
                self._emit(JobSucceeded(job, scene, asset.file))
            else:
                self._emit(JobCancelled(job))  # made, then replaced by a newer take
        else:
            self._emit(ended_event(job))

    def _update_counts(self) -> None:
        """Counts from the journal, for when the runner cannot say: connected, its own
        `RunnerState` is the truth (it counts an export too, which scene jobs do not)."""
        if self._writer is not None:
            return
        running = sum(1 for job in self._active.values() if job.state is not JobState.QUEUED)
        queued = len(self._active) - running
        info = self.runner
        if (info.running, info.queued) != (running, queued):
            state = info.state
            if state in ("idle", "running"):
                state = "running" if self._active else "idle"
            self._set_runner(RunnerInfo(state, info.pid, running, queued, info.note))

    def _set_runner(self, info: RunnerInfo) -> None:
        if info != self.runner:
            self.runner = info
            self._emit(RunnerChanged(info))

    async def _poll(self) -> None:
        """Look at the database's revision now and then: the fallback for every hint."""
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if await self.project.store.rev() != self._rev:
                    self.refresh_soon()
            except StoreError:
                continue

    # -- the socket --------------------------------------------------------------------

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            pid = self.files.live_pid()
            if pid is None and (broken := self.broken) is not None:
                self._writer = None
                self._set_runner(RunnerInfo("stopped", None, *self._counts(), broken))
                await self._nap(30.0)
                continue
            if pid is None:
                self._writer = None
                info = self.runner
                note = info.note if info.state == "not running" else ""
                self._set_runner(RunnerInfo("not running", None, *self._counts(), note))
                failed = self._launch_failed_at
                may_launch = self.auto_start and (
                    failed is None or loop.time() - failed > RELAUNCH_PAUSE
                )
                if may_launch and self._active:
                    await self.refresh()  # the jobs may have ended with the last runner
                if may_launch and self._active:
                    # Jobs wait and nobody runs them (the runner was killed): start one.
                    with contextlib.suppress(RunnerError):
                        await self.ensure_runner()
                        continue
                await self._nap(1.0)
                continue
            try:
                await self._listen(pid)
            except ProtocolError as error:
                self._set_runner(RunnerInfo("unreachable", pid, *self._counts(), str(error)))
                await self._nap(30.0)
            except (OSError, TimeoutError) as error:
                note = f"cannot connect to the runner: {error}"
                self._set_runner(RunnerInfo("unreachable", pid, *self._counts(), note))
                await self._nap(1.0)
            finally:
                self._writer = None
            self.refresh_soon()

    def _counts(self) -> tuple[int, int]:
        running = sum(1 for job in self._active.values() if job.state is not JobState.QUEUED)
        return running, len(self._active) - running

    async def _nap(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that lands as the event fires, and close() would hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _listen(self, pid: int) -> None:
        with reachable(self.files.socket) as where:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(where, limit=MAX_LINE)
        try:
            writer.write(encode(Hello(os.getpid(), self.role)))
            async with asyncio.timeout(CONNECT_TIMEOUT):
                hello = decode(await reader.readline())
            if not isinstance(hello, Hello):
                raise ProtocolError("the runner did not say hello")
            check_version(hello)
            self._writer = writer
            self._set_runner(RunnerInfo("idle", hello.pid, *self._counts()))
            if self._poke_pending:
                self._poke_pending = False
                writer.write(encode(Poke()))
            await self.refresh()
            while line := await reader.readline():
                self._on_message(decode(line))
        finally:
            self._writer = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _on_message(self, message: Message) -> None:
        if isinstance(message, LiveProgress):
            job = self._active.get(message.job)
            if job is None:
                self.refresh_soon()  # a job we have not read yet
                return
            job = job.model_copy(update={"progress": message.fraction})
            self._active[job.id] = job
            self._emit(JobProgress(job, message.value, message.max, message.fraction, message.node))
        elif isinstance(message, LiveStarted):
            job = self._active.get(message.job)
            if job is None:
                self.refresh_soon()
                return
            if job.state is not JobState.RUNNING:
                job = job.model_copy(update={"state": JobState.RUNNING, "server": message.server})
                self._active[job.id] = job
                self._emit(JobStarted(job))
        elif isinstance(message, LivePreview):
            job = self._active.get(message.job)
            if job is not None:
                self._emit(JobPreview(job, message.data, message.mime))
        elif isinstance(message, Changed):
            self.refresh_soon()
        elif isinstance(message, RunnerState):
            state = "running" if message.running or message.queued else "idle"
            pid = self.runner.pid
            self._set_runner(RunnerInfo(state, pid, message.running, message.queued))
            self._emit(BackendChanged(message.backend))
        elif isinstance(message, Bye):
            if message.reason.startswith(FATAL):
                self._fatal = message.reason.removeprefix(FATAL)
            self.refresh_soon()

    async def ended(self, job_ids: Sequence[int]) -> list[EngineEvent]:
        """The events of those jobs that already ended (one read for all of them): what a
        follower that started listening late missed."""

        def read(tx: Tx) -> list[EngineEvent]:
            found: list[EngineEvent] = []
            for job_id in job_ids:
                job = tx.job(job_id)
                if job is None or not job.state.is_final:
                    continue
                if job.state is JobState.SUCCEEDED:
                    scene = tx.scene(job.scene_id)
                    asset = scene.asset(job.kind)
                    found.append(JobSucceeded(job, scene, asset.file if asset else "?"))
                else:
                    found.append(ended_event(job))
            return found

        return await self.project.store.read(read)

    # -- the rough cut and files on disk (added for the export; the TUI calls these) -----

    async def export(
        self, force: bool = False, *, output: Path | None = None, subtitles: bool = False
    ) -> ExportRequest:
        """Queue the rough cut for the runner, or say it is up to date (no job then).

        `output` defaults to `exports/<project name>.mp4` in the project; it is
        checked (an .mp4 in a writable folder) before anything is queued, and
        StoreError says why not in one line. The runner makes the film, so a
        dropped link or a closed window never stops it; follow it with
        `follow_export`.
        """
        from tui.engine.export import check_output, default_output, request_export

        if output is None:
            output = default_output(self.project.folder, self.project.name)
            with contextlib.suppress(OSError):  # a read-only project is refused just below
                output.parent.mkdir(exist_ok=True)
        target = check_output(output)
        answer = await request_export(self.project, output=target, subtitles=subtitles, force=force)
        if answer.job is not None:
            await self.ensure_runner()
        return answer

    async def follow_export(
        self,
        job_id: int,
        on_update: Callable[[CutJob], None] | None = None,
        *,
        interval: float = 0.2,
    ) -> CutJob:
        """Until the export ends: its row read every `interval` seconds (`on_update` hears
        each change of state or progress); returns the final row.

        If the runner is gone while the export waits (killed, or never started
        because the link dropped), another one is started, as for any job.
        """
        from tui.engine.export import cut_job

        seen: tuple[str, float] | None = None
        last_launch = 0.0
        loop = asyncio.get_running_loop()
        while True:
            job = await cut_job(self.project.store, job_id)
            now = (job.state.value, job.progress)
            if now != seen:
                seen = now
                if on_update is not None:
                    on_update(job)
            if job.state.is_final:
                return job
            if self.files.live_pid() is None and loop.time() - last_launch > RELAUNCH_PAUSE:
                last_launch = loop.time()
                with contextlib.suppress(RunnerError):
                    await self.ensure_runner()
            await asyncio.sleep(interval)

    async def cancel_export(self, job_id: int) -> bool:
        """Cancel an export still waiting or running (the runner stops it); True if it was."""
        from tui.engine.export import cancel_export

        cancelled = await cancel_export(self.project.store, job_id)
        if cancelled:
            self._poke()
        return cancelled

    async def cut_status(self) -> CutView:
        """The film's state, why it is stale and its file: for the header (one read of
        every scene, so call it when scenes or jobs change, not per frame)."""
        from tui.engine.export import cut_status

        return await cut_status(self.project)

    async def check_files(self) -> FilesCheck:
        """The change poll's look at the disk: asset folders whose mtime moved are listed
        again, and narration files that changed are measured again (new lengths are
        stored, so their scenes arrive as SceneEdited with the next refresh).

        Cheap when nothing changed (a `stat` per asset folder and per narration
        file): call it every second or two, and on focus. Returns the stored asset
        names that appeared or vanished (judge their scenes again) and one line per
        narration file that cannot be decoded.
        """
        from tui.engine.events import FilesCheck
        from tui.store.audio import check_audio

        flipped = await self.project.refresh_files()
        audio = await check_audio(self.project.store, self.project.folder, write=True)
        if audio.changes:
            await self.refresh()
        return FilesCheck(flipped, tuple(audio.problems))
