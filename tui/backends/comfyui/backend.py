"""The ComfyUI backend: jobs spread over one or more servers, watched through websockets.

The websocket is a hint and `/history` is the truth. Messages are lost while a
socket is down and a restarted server forgets its queue without saying so, so
every (re)connect and every start-up reconciles each job in flight against
`/queue` and `/history`: what finished is fetched from history, what is queued
is watched, and what the server no longer knows is reported `Lost` for the
engine to resubmit (once) on whichever server is up.

Each server keeps a small window of our jobs (`window_running + window_queued`),
and a job goes to the least-loaded server with room, so another GPU box adds
throughput. Server text is untrusted: output names only go back to the server
that gave them (`/view`) and never become paths here.

Nothing waits forever (issue 10): every call has a deadline, downloads are
capped and streamed to the engine's staging file, a server that stays silent
past `silence_limit` has its jobs checked against `/queue` and failed when it
does not answer, and while we wait `status.waiting` says on whom. A server
that floods the socket is slowed by TCP (a bounded frame queue), and of its
previews only the newest per job reaches the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tui.backends.base import (
    Backend,
    BackendError,
    BackendEvent,
    BackendStatus,
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
)
from tui.backends.comfyui.client import (
    DOWNLOAD_DEADLINE,
    MAX_DOWNLOAD,
    ClientError,
    ComfyClient,
    DownloadFailed,
    Refused,
    Unreachable,
    duration_text,
    size_text,
)
from tui.backends.comfyui.protocol import (
    HistoryResult,
    OutputFile,
    ProgressTracker,
    clean,
    decode_preview,
    execution_error_message,
    no_output_message,
    parse_history,
    parse_message,
    pick_output,
)
from tui.backends.comfyui.workflows import (
    BoundWorkflow,
    Problem,
    WorkflowError,
    find_problems,
    load_workflow,
    refusal,
)
from tui.config import ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.errors import StoreError
from tui.folder import ProjectFolder, safe_suffix

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Seconds between reconnect attempts; the last one repeats."""
HISTORY_RETRIES = (0.05, 0.2, 0.5)
"""A finished prompt may reach `/history` a moment after its last message."""
START_WAIT = 5.0
"""At most this long at start for every server's first connection attempt."""
FOREIGN_POLL = 2.0
"""How often jobs from an earlier run (whose messages go to its client id) are checked."""
UPLOAD_PREFIX = "storyboard-"
SILENCE_LIMIT = 600.0
"""Default `silence_limit`: a server with our jobs that sends no message for this long
is asked about them; a job it is not running (or that it cannot say) ends."""
WATCH_INTERVAL = 5.0
"""How often silence is looked at, unanswered results are asked for again and
`status.waiting` is refreshed."""
PREVIEW_LIMIT = 16 * 1024 * 1024
"""A preview frame over this is dropped (with one log line per connection)."""
RECHECK_AFTER = 5.0
"""A refusal for missing models re-reads `/object_info` if its check is older than this,
so a checkpoint put in place is noticed without restarting anything."""


class Where(Enum):
    """Where a prompt was found on one server."""

    RUNNING = "running"
    PENDING = "pending"
    FINISHED = "finished"
    """In `/history`; `Location.result` says how it ended."""
    ABSENT = "absent"
    """Neither queued nor in history: the server does not know it."""
    UNKNOWN = "unknown"
    """The server did not answer."""


@dataclass(frozen=True)
class Location:
    """What asking one server about one prompt found."""

    where: Where
    result: HistoryResult | None = None


@dataclass(eq=False)
class _Job:
    """One of our prompts on one server."""

    spec: JobSpec
    server: _Server
    progress: ProgressTracker
    posted: bool = False
    """`POST /prompt` succeeded; before that, reconciling must not call it lost."""
    running: bool = False
    started: bool = False
    """`Started` was emitted."""
    concluding: bool = False
    """The server is done with it; its result is being fetched."""
    foreign: bool = False
    """Submitted by an earlier run: its messages go to that run's client id, not ours."""
    waiting_since: float | None = None
    """When a call for its result first went unanswered while the server stayed connected."""
    stall: str = ""
    """What that call said (e.g. "timed out"), for the failure if it never answers."""


@dataclass(eq=False)
class _Orphan:
    """A job found nowhere at start while some servers could not be asked."""

    spec: JobSpec
    unchecked: set[_Server]


@dataclass(eq=False)
class _Server:
    """One configured server: its connection, our jobs on it, and what it lacks."""

    config: ServerConfig
    client: ComfyClient
    window: int
    index: int
    jobs: dict[str, _Job] = field(default_factory=dict)
    online: bool = False
    reason: str = "not connected yet"
    problems: dict[AssetKind, list[Problem]] = field(default_factory=dict)
    checked_at: float = 0.0
    """When `problems` was worked out (each connect; again before a refusal)."""
    version: str | None = None
    current: str | None = None
    """The prompt now executing, for messages that do not name it."""
    socket: ClientConnection | None = None
    offline_since: float | None = None
    tried: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    foreign_check: asyncio.Task[None] | None = None
    checking_foreign: bool = False
    heard: float = 0.0
    """When its websocket last sent anything (monotonic seconds)."""
    checking_silence: bool = False
    dropped_previews: int = 0
    """Previews over PREVIEW_LIMIT on this connection; only the first is logged."""

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def load(self) -> int:
        """Jobs that hold a place in this server's window."""
        return sum(1 for job in self.jobs.values() if not job.concluding)

    @property
    def room(self) -> int:
        return self.window - self.load


class ComfyUIBackend(Backend):
    """Render through ComfyUI servers; see the module docstring for the rules."""

    name = "comfyui"

    def __init__(
        self,
        folder: ProjectFolder,
        config: ProjectConfig,
        *,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
        lost_after: float | None = None,
        max_download: int | None = None,
        download_deadline: float | None = None,
        silence_limit: float | None = None,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.config = config
        settings = config.comfyui
        self.max_download = int(
            _setting(settings, "max_download_bytes", MAX_DOWNLOAD, max_download)
        )
        """Bytes one output may have; more fails the job (`[comfyui] max_download_bytes`)."""
        self.download_deadline = float(
            _setting(settings, "download_deadline", DOWNLOAD_DEADLINE, download_deadline)
        )
        """Seconds one download may take in all (`[comfyui] download_deadline`)."""
        self.silence_limit = float(
            _setting(settings, "silence_limit", SILENCE_LIMIT, silence_limit)
        )
        """Seconds without a message before a server is asked about its jobs."""
        self.watch_interval = watch_interval
        self.client_id = uuid.uuid4().hex
        """One per app run: ComfyUI sends a prompt's messages to the client id it came with."""
        self.reconnect_delays = reconnect_delays or RECONNECT_DELAYS
        self.lost_after = settings.timeout if lost_after is None else lost_after
        """A server down this long has lost its jobs as far as we are concerned."""
        window = settings.window_running + settings.window_queued
        self.servers = [
            _Server(
                server,
                ComfyClient(server, client_id=self.client_id, timeout=settings.timeout),
                window,
                index,
            )
            for index, server in enumerate(settings.servers)
        ]
        self._jobs: dict[str, _Job] = {}
        self._orphans: dict[str, _Orphan] = {}
        self._cancelled: set[str] = set()
        self._uncertain: dict[str, _Server] = {}
        """Keys whose POST may have landed before its connection failed."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._previews: dict[str, Preview] = {}
        """The newest preview per job whose first one is still in the event queue."""
        self._watcher: asyncio.Task[None] | None = None
        self._starved_since: float | None = None
        """A submit found no server online at this time; cleared when one is back."""
        self._workflows: dict[AssetKind, BoundWorkflow] = {}
        self._workflow_errors: dict[AssetKind, str] = {}
        for kind in AssetKind:
            try:
                self._workflows[kind] = load_workflow(kind, folder, config)
            except WorkflowError as error:
                self._workflow_errors[kind] = str(error)
        self._opened = False
        self._closed = False
        self.on_ready: Callable[[], None] | None = None
        """Called when a server comes (back) online: jobs held back as "unavailable" can go.

        The engine retries an unavailable backend on its own backoff (up to 30 s);
        an engine that sets this can dispatch at once instead.
        """
        self.status = BackendStatus("ComfyUI", online=0, servers=len(self.servers))
        self._update_status()

    # -- the Backend interface ---------------------------------------------------------

    async def events(self) -> AsyncIterator[BackendEvent]:
        """As the base class, but a job's preview is always its newest (issue 10 item 7).

        A server can send previews faster than the engine and its clients draw
        them. Only one preview per job waits in the queue at a time, and frames
        that arrive meanwhile replace its content, so memory holds at most one
        preview per job however fast they come.
        """
        while True:
            event = await self._events.get()
            if isinstance(event, Preview):
                newest = self._previews.pop(event.key, None)
                if newest is None:
                    continue
                event = newest
            yield event

    def workflow_id(self, kind: AssetKind) -> str:
        if kind in self._workflow_errors:
            raise BackendError(self._workflow_errors[kind])
        return self._workflows[kind].workflow_id

    def capacity(self) -> int:
        """Free places on online servers; with none online, 1, so that `submit` is tried.

        The engine only dispatches when something happens; a server coming back
        is not an event it hears of, so it must be told "unavailable" at submit
        and retry with its backoff, rather than wait for a capacity change.
        """
        if not any(server.online for server in self.servers):
            return 1
        return sum(max(0, server.room) for server in self.servers if server.online)

    async def start(self) -> None:
        """Connect to every server; wait a little for each first attempt, not for success."""
        if self._opened:
            return
        self._opened = True
        if not self.servers:
            self._update_status()
            return
        for server in self.servers:
            server.task = asyncio.create_task(
                self._keep_linked(server), name=f"comfyui {server.url}"
            )
        self._watcher = asyncio.create_task(self._watch(), name="comfyui watch")
        waits = [server.tried.wait() for server in self.servers]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), min(START_WAIT, self._timeout))

    async def submit(self, spec: JobSpec) -> None:
        if self._closed:
            raise BackendUnavailable("the ComfyUI backend is closed")
        workflow = self._workflow(spec.kind)
        if spec.key in self._uncertain and await self._adopt_uncertain(spec):
            return
        try:
            server = await self._choose(spec.kind)
        except BackendUnavailable:
            if self._starved_since is None and not any(s.online for s in self.servers):
                self._starved_since = _now()
                self._update_status()
            raise
        job = _Job(spec, server, ProgressTracker(len(workflow.graph)))
        self._track(job)
        self._cancelled.discard(spec.key)
        try:
            uploaded = None
            if spec.kind is AssetKind.VIDEO:
                uploaded = await self._upload(server, spec)
            graph = workflow.build(spec.params, uploaded_image=uploaded)
            await server.client.submit(graph, spec.key)
        except Unreachable as error:
            self._untrack(job)
            if error.maybe_sent:
                self._uncertain[spec.key] = server
            self._lost_contact(server, str(error))
            raise BackendUnavailable(str(error)) from None
        except Refused as error:
            self._untrack(job)
            raise BackendError(f"ComfyUI refused the {workflow.label}: {error}") from None
        except WorkflowError as error:
            self._untrack(job)
            raise BackendError(str(error)) from None
        except BaseException:
            self._untrack(job)
            raise
        job.posted = True
        self._uncertain.pop(spec.key, None)

    async def cancel(self, key: str) -> None:
        """Pending: delete from the server's queue. Running: interrupt it."""
        orphan = self._orphans.pop(key, None)
        if orphan is not None:
            self.emit(Cancelled(key))
            self._update_status()
            return
        job = self._jobs.get(key)
        if job is None or job.concluding:
            return
        self._cancelled.add(key)
        client = job.server.client
        try:
            if not job.running:
                await client.delete([key])
                running, _pending = await client.queue()
                job.running = job.running or key in running
            if job.running:
                await client.interrupt(key)  # `execution_interrupted` ends it
                return
        except ClientError as error:
            log.warning("cancel of %s on %s: %s", key, job.server.url, error)
        if self._jobs.get(key) is job and not job.concluding:
            self._untrack(job)
            self.emit(Cancelled(key))

    async def recover(self, spec: JobSpec) -> Recovery:
        """Find a job from an earlier run on any server: history, then queue, else lost."""
        if spec.key in self._jobs or spec.key in self._orphans:
            return Recovery.TRACKING
        if not self.servers:
            return Recovery.LOST
        found = await asyncio.gather(*(self._locate(server, spec.key) for server in self.servers))
        unknown: set[_Server] = set()
        for server, location in zip(self.servers, found, strict=True):
            if location.where is Where.UNKNOWN:
                unknown.add(server)
            elif location.where is not Where.ABSENT:
                self._adopt(spec, server, location)
                return Recovery.TRACKING
        if not unknown:
            return Recovery.LOST
        self._orphans[spec.key] = _Orphan(spec, unknown)
        for server in unknown:
            if server.online:  # a passing failure: ask again soon
                self._watch_foreign(server)
        self._update_status()
        return Recovery.TRACKING

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = [server.task for server in self.servers if server.task is not None]
        tasks += [s.foreign_check for s in self.servers if s.foreign_check is not None]
        tasks += [self._watcher] if self._watcher is not None else []
        tasks += list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self.servers:
            if server.socket is not None:
                with contextlib.suppress(Exception):
                    await server.socket.close()
            await server.client.aclose()
            server.online = False
            server.reason = "closed"
        self._update_status()

    # -- choosing a server -------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        return self.config.comfyui.timeout

    def _workflow(self, kind: AssetKind) -> BoundWorkflow:
        if kind in self._workflow_errors:
            raise BackendError(self._workflow_errors[kind])
        return self._workflows[kind]

    def _least_loaded(self, kind: AssetKind) -> _Server:
        """The least-loaded online server with room whose node types fit the workflow."""
        if not self.servers:
            raise BackendError("no ComfyUI servers configured; add [comfyui] servers = [...]")
        online = [server for server in self.servers if server.online]
        if not online:
            reasons = "; ".join(f"{s.url}: {s.reason}" for s in self.servers)
            raise BackendUnavailable(f"no ComfyUI server is reachable ({reasons})")
        fit = [server for server in online if not server.problems.get(kind)]
        if not fit:
            raise BackendError(self._refusal(kind))
        free = [server for server in fit if server.room > 0]
        if not free:
            raise BackendUnavailable("every ComfyUI server's window is full")
        return min(free, key=lambda server: (server.load, server.index))

    def _refusal(self, kind: AssetKind) -> str:
        """Why no online server can run `kind`: the same line the pre-batch check gives."""
        return refusal({s.url: s.problems.get(kind, []) for s in self.servers if s.online})

    async def _choose(self, kind: AssetKind) -> _Server:
        """`_least_loaded`, but a refusal first re-reads `/object_info` if its check is old.

        Results are kept per connection (a restart reconnects and checks again);
        only a refusal looks again sooner, so a model put in place after the
        check is found without restarting the server or the app.
        """
        try:
            return self._least_loaded(kind)
        except BackendError:
            now = _now()
            stale = [
                server
                for server in self.servers
                if server.online
                and server.problems.get(kind)
                and now - server.checked_at >= RECHECK_AFTER
            ]
            if not stale:
                raise
        await asyncio.gather(*(self._recheck(server) for server in stale))
        return self._least_loaded(kind)

    async def _recheck(self, server: _Server) -> None:
        try:
            await self._survey(server)
        except ClientError as error:
            log.info("%s: cannot check the workflows again: %s", server.url, error)
        self._update_status()

    def _track(self, job: _Job) -> None:
        self._jobs[job.spec.key] = job
        job.server.jobs[job.spec.key] = job
        self._update_status()

    def _untrack(self, job: _Job) -> None:
        key = job.spec.key
        if self._jobs.get(key) is job:
            del self._jobs[key]
        if job.server.jobs.get(key) is job:
            del job.server.jobs[key]
        if job.server.current == key:
            job.server.current = None
        self._update_status()

    async def _upload(self, server: _Server, spec: JobSpec) -> str:
        """Send the still into a per-project input folder; the name is ours (its hash)."""
        if spec.image_path is None:
            raise BackendError("a video job needs its still, and this one has none")
        try:
            data = await asyncio.to_thread(spec.image_path.read_bytes)
        except OSError as error:
            raise BackendError(
                f"cannot read the still {spec.image_path.name}: {error.strerror or error}"
            ) from None
        name = hashlib.sha256(data).hexdigest()[:24] + spec.image_path.suffix.lower()
        return await server.client.upload_image(
            data, name, UPLOAD_PREFIX + spec.project_key, deadline=self.download_deadline
        )

    async def _adopt_uncertain(self, spec: JobSpec) -> bool:
        """A resubmit after a POST that may have landed: take the server's copy if it has one."""
        server = self._uncertain[spec.key]
        if not server.online:
            return False
        found = await self._locate(server, spec.key)
        if found.where is Where.UNKNOWN:
            return False
        del self._uncertain[spec.key]
        if found.where is Where.ABSENT:
            return False
        self._adopt(spec, server, found, foreign=False)
        return True

    # -- finding jobs again ------------------------------------------------------------

    async def _locate(self, server: _Server, key: str) -> Location:
        """Where `key` is on `server`.

        The queue is read before the history, so a job that finishes in between is
        still found (in the history); the other order could miss it.
        """
        try:
            running, pending = await server.client.queue()
            if key in running:
                return Location(Where.RUNNING)
            if key in pending:
                return Location(Where.PENDING)
            result = parse_history(await server.client.history(key), key)
        except ClientError as error:
            log.info("cannot ask %s about %s: %s", server.url, key, error)
            return Location(Where.UNKNOWN)
        return Location(Where.ABSENT) if result is None else Location(Where.FINISHED, result)

    def _adopt(
        self, spec: JobSpec, server: _Server, found: Location, *, foreign: bool = True
    ) -> None:
        """Track a job the server already has (running, pending or finished)."""
        workflow = self._workflows.get(spec.kind)
        nodes = len(workflow.graph) if workflow is not None else 1
        job = _Job(spec, server, ProgressTracker(nodes), posted=True, foreign=foreign)
        self._track(job)
        if found.result is not None:
            self._conclude_soon(job, found.result)
        elif found.where is Where.RUNNING:
            job.running = True
            server.current = spec.key
            self._mark_started(job)
        if foreign:
            self._watch_foreign(server)

    def _has_foreign(self, server: _Server) -> bool:
        """Jobs here that our socket will not hear about: an earlier run's, or orphans."""
        return any(job.foreign for job in server.jobs.values()) or any(
            server in orphan.unchecked for orphan in self._orphans.values()
        )

    def _watch_foreign(self, server: _Server) -> None:
        """Poll jobs whose messages go to another client id until they end.

        `status` broadcasts (every queue change) trigger a check too; the poll is
        the fallback for a server that says nothing.
        """
        if server.foreign_check is None or server.foreign_check.done():
            server.foreign_check = asyncio.create_task(self._poll_foreign(server))

    async def _poll_foreign(self, server: _Server) -> None:
        while self._has_foreign(server):
            await asyncio.sleep(FOREIGN_POLL)
            await self._check_foreign(server)

    async def _check_foreign(self, server: _Server) -> None:
        if server.checking_foreign or not server.online:
            return
        server.checking_foreign = True
        try:
            await self._reconcile(server, foreign_only=True)
        except ClientError as error:
            log.info("%s: cannot check earlier jobs: %s", server.url, error)
        finally:
            server.checking_foreign = False

    async def _reconcile(self, server: _Server, *, foreign_only: bool = False) -> None:
        """Check every job in flight on `server` (and orphans) against its queue and history."""
        jobs = [
            job
            for job in server.jobs.values()
            if job.posted and not job.concluding and (job.foreign or not foreign_only)
        ]
        orphans = [o for o in self._orphans.values() if server in o.unchecked]
        if not jobs and not orphans:
            return
        running, pending = await server.client.queue()
        for job in jobs:
            key = job.spec.key
            if key in running:
                job.running = True
                server.current = key
                self._mark_started(job)
            elif key not in pending:
                result = parse_history(await server.client.history(key), key)
                if self._jobs.get(key) is not job or job.concluding:
                    continue
                if result is not None:
                    self._conclude_soon(job, result)
                else:
                    self._lose(job, f"lost by the server ({server.url} no longer knows it)")
        for orphan in orphans:
            key = orphan.spec.key
            if self._orphans.get(key) is not orphan:
                continue
            location: Location | None = None
            if key in running:
                location = Location(Where.RUNNING)
            elif key in pending:
                location = Location(Where.PENDING)
            else:
                result = parse_history(await server.client.history(key), key)
                if self._orphans.get(key) is not orphan:
                    continue  # another check got there first
                if result is not None:
                    location = Location(Where.FINISHED, result)
            if location is not None:
                del self._orphans[key]
                self._adopt(orphan.spec, server, location)
                continue
            orphan.unchecked.discard(server)
            if not orphan.unchecked:
                del self._orphans[key]
                self.emit(Lost(key, "lost by the server (no server knows it)"))
        self._update_status()

    def _lose(self, job: _Job, reason: str) -> None:
        self._untrack(job)
        self.emit(Lost(job.spec.key, reason))

    def _expire(self, server: _Server, now: float) -> None:
        """A server down past `lost_after` has lost its jobs; others may run them."""
        if server.offline_since is None or now - server.offline_since < self.lost_after:
            return
        for job in list(server.jobs.values()):
            if job.posted:
                self._lose(job, f"lost by the server ({server.url} is down: {server.reason})")
        for key, orphan in list(self._orphans.items()):
            orphan.unchecked.discard(server)
            if not orphan.unchecked:
                del self._orphans[key]
                self.emit(Lost(key, "lost by the server (no server knows it)"))

    # -- connection --------------------------------------------------------------------

    def _delay(self, attempt: int) -> float:
        return self.reconnect_delays[min(attempt, len(self.reconnect_delays) - 1)]

    async def _keep_linked(self, server: _Server) -> None:
        """Keep one socket open to `server`, reconnecting with backoff, until closed."""
        attempt = 0
        while not self._closed:
            try:
                socket = await self._open_socket(server)
            except ClientError as error:
                server.tried.set()
                self._set_offline(server, _reason(error), _now())
                self._expire(server, _now())
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
                continue
            attempt = 0
            server.socket = socket
            server.online = True
            server.reason = ""
            server.offline_since = None
            server.heard = _now()
            server.dropped_previews = 0
            server.tried.set()
            self._starved_since = None
            self._update_status()
            if self.on_ready is not None:
                try:
                    self.on_ready()
                except Exception:  # the listener's bug, not a reason to drop the server
                    log.exception("on_ready failed")
            reason = await self._session(server, socket)
            self._set_offline(server, reason, _now())
            await asyncio.sleep(self._delay(0))

    async def _open_socket(self, server: _Server) -> ClientConnection:
        socket = await server.client.connect()
        try:
            await self._survey(server)
        except BaseException:
            with contextlib.suppress(Exception):
                await socket.close()
            raise
        return socket

    async def _session(self, server: _Server, socket: ClientConnection) -> str:
        """Reconcile, then handle messages until the socket closes; returns why it did."""
        reason = "connection lost"
        try:
            await self._reconcile(server)
            async for frame in socket:
                server.heard = _now()
                try:
                    if isinstance(frame, str):
                        self._on_text(server, frame)
                    else:
                        self._on_binary(server, frame)
                except Exception:  # a bad message must not end the link
                    log.exception("%s: cannot handle a message", server.url)
        except ConnectionClosed as closed:
            reason = f"connection lost (code {closed.rcvd.code if closed.rcvd else 1006})"
        except ClientError as error:
            reason = _reason(error)
        except Exception as error:  # a bug here must not leave the server offline for good
            log.exception("%s: the connection failed", server.url)
            reason = f"internal error ({type(error).__name__})"
        finally:
            server.socket = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 1.0)
        return reason

    async def _survey(self, server: _Server) -> None:
        """What this server offers: its version, and what it lacks for our workflows."""
        info, stats = await asyncio.gather(
            server.client.object_info(), server.client.system_stats()
        )
        system = stats.get("system")
        version = system.get("comfyui_version") if isinstance(system, dict) else None
        server.version = clean(version, 40) if isinstance(version, str) else None
        server.problems = {}
        server.checked_at = _now()
        for kind, workflow in self._workflows.items():
            try:
                problems = find_problems(workflow, info)
            except Exception as error:  # an /object_info shaped like nothing we know
                log.exception("%s: cannot check the %s", server.url, workflow.label)
                text = f"{workflow.label}: cannot check it against this server ({error})"
                problems = [Problem(text)]
            if problems:
                server.problems[kind] = problems
                log.warning("%s cannot run the %s: %s", server.url, workflow.label, problems[0])

    def _set_offline(self, server: _Server, reason: str, now: float) -> None:
        if server.online or server.offline_since is None:
            server.offline_since = now
        server.online = False
        server.reason = reason
        server.current = None
        self._update_status()

    def _lost_contact(self, server: _Server, reason: str) -> None:
        """A REST call found the server gone: stop sending there; the link reconnects."""
        self._set_offline(server, reason.removeprefix(f"{server.url}: "), _now())
        if server.socket is not None:
            self._spawn(server.socket.close())

    # -- messages ----------------------------------------------------------------------

    def _on_text(self, server: _Server, raw: str) -> None:
        parsed = parse_message(raw)
        if parsed is None:
            return
        kind, data = parsed
        if kind == "status":
            if self._has_foreign(server):
                self._spawn(self._check_foreign(server))
            return
        prompt_id = data.get("prompt_id")
        if prompt_id is None and kind == "executing":
            prompt_id = server.current  # after a reconnect: `executing {node}` alone
        if not isinstance(prompt_id, str):
            return
        job = server.jobs.get(prompt_id)
        if job is None:
            if kind == "execution_start" and prompt_id in self._cancelled:
                self._spawn(server.client.interrupt(prompt_id))  # deleted too late
            return
        if job.concluding:
            return
        tracker = job.progress
        if kind == "progress":
            tracker.on_progress(data.get("node"), data.get("value"), data.get("max"))
            self._progress(job)
        elif kind == "progress_state":
            tracker.on_state(data.get("nodes"))
            self._progress(job)
        elif kind == "executing":
            node = data.get("node")
            if node is None:
                if server.current == prompt_id:
                    server.current = None
                self._conclude_soon(job)
            elif isinstance(node, str):
                server.current = prompt_id
                self._mark_started(job)
                tracker.on_executing(node)
                self._progress(job)
        elif kind == "execution_start":
            server.current = prompt_id
            self._mark_started(job)
            if prompt_id in self._cancelled:
                self._spawn(server.client.interrupt(prompt_id))
        elif kind == "execution_cached":
            tracker.on_cached(data.get("nodes"))
        elif kind == "execution_error":
            self._end_job(job, Failed(prompt_id, execution_error_message(data)))
        elif kind == "execution_interrupted":
            self._end_job(job, Cancelled(prompt_id))
        # `executed` and `execution_success` are hints; the result is read from /history
        # after the final `executing {node: null}`, which comes once history has it.

    def _on_binary(self, server: _Server, frame: bytes) -> None:
        if len(frame) > PREVIEW_LIMIT:
            server.dropped_previews += 1
            if server.dropped_previews == 1:
                log.warning(
                    "%s: dropped a %s preview, over the %s limit "
                    "(more on this connection are dropped without a word)",
                    server.url,
                    size_text(len(frame)),
                    size_text(PREVIEW_LIMIT),
                )
            return
        preview = decode_preview(frame)
        if preview is None:
            return
        key = preview.prompt_id or server.current
        job = server.jobs.get(key) if key is not None else None
        if job is not None and not job.concluding:
            self._offer(Preview(job.spec.key, preview.data, preview.mime))

    def _offer(self, preview: Preview) -> None:
        """Queue a preview, or replace the one of that job still waiting in the queue."""
        waiting = preview.key in self._previews
        self._previews[preview.key] = preview
        if not waiting:
            self.emit(preview)

    def _mark_started(self, job: _Job) -> None:
        job.running = True
        if not job.started:
            job.started = True
            self.emit(Started(job.spec.key, server=job.server.url))

    def _progress(self, job: _Job) -> None:
        fraction = job.progress.update()
        if fraction is not None:
            tracker = job.progress
            self.emit(Progress(job.spec.key, tracker.value, tracker.max, fraction, tracker.node))

    def _end_job(self, job: _Job, event: Failed | Cancelled | Output | Lost) -> None:
        job.concluding = True
        self._untrack(job)
        self.emit(event)

    # -- results -----------------------------------------------------------------------

    def _conclude_soon(self, job: _Job, result: HistoryResult | None = None) -> None:
        """The server is done with `job`: free its place and fetch the result."""
        if job.concluding:
            return
        job.concluding = True
        self._spawn(self._conclude(job, result))

    async def _conclude(self, job: _Job, result: HistoryResult | None) -> None:
        key = job.spec.key
        server = job.server
        asked = _now()
        try:
            if result is None:
                result = await self._result(job)
            if result is None:
                running, pending = await server.client.queue()
                if key in running or key in pending:
                    job.concluding = False  # a stray `executing null`; keep watching
                    return
                self._lose(job, f"lost by the server ({server.url} has no record of it)")
                return
            await self._deliver(job, result)
        except Unreachable as error:
            log.info("%s: result of %s must wait: %s", server.url, key, error)
            job.concluding = False
            if server.online:  # connected but unanswered: asked again by the watch
                if job.waiting_since is None:
                    job.waiting_since = asked
                job.stall = _reason(error)
                self._update_status()
            # else: reconciled when the server is back
        except ClientError as error:
            self._end_job(job, Failed(key, f"{server.url}: {error}"))

    async def _result(self, job: _Job) -> HistoryResult | None:
        key = job.spec.key
        for delay in (0.0, *HISTORY_RETRIES):
            if delay:
                await asyncio.sleep(delay)
            result = parse_history(await job.server.client.history(key), key)
            if result is not None:
                return result
        return None

    async def _deliver(self, job: _Job, result: HistoryResult) -> None:
        key, kind = job.spec.key, job.spec.kind
        if result.interrupted:
            self._end_job(job, Cancelled(key))
            return
        if not result.succeeded:
            self._end_job(job, Failed(key, result.error or "ComfyUI reported an error"))
            return
        chosen = pick_output(result.files, kind)
        if chosen is None:
            self._end_job(job, Failed(key, no_output_message(kind, result)))
            return
        try:
            suffix = safe_suffix(chosen.filename, kind)
        except StoreError as error:
            self._end_job(job, Failed(key, f"{job.server.url}: {error}"))
            return
        staging = job.spec.staging
        try:
            data = await job.server.client.download(
                chosen.filename,
                chosen.subfolder,
                chosen.type,
                name=f"scene-{job.spec.scene_position:04d}{suffix}",
                dest=staging,
                limit=self.max_download,
                deadline=self.download_deadline,
            )
        except Refused as error:
            self._end_job(job, Failed(key, _download_failure(chosen, result, error)))
            return
        except DownloadFailed as error:
            self._end_job(job, Failed(key, str(error)))
            return
        self._end_job(job, Output(key, data, chosen.filename, path=staging))

    # -- waiting and silence -------------------------------------------------------------

    async def _watch(self) -> None:
        """Every `watch_interval`: retry unanswered results, question silent servers."""
        while not self._closed:
            await asyncio.sleep(self.watch_interval)
            try:
                self._tick(_now())
            except Exception:  # the watch must outlive a bug in one round
                log.exception("comfyui watch failed")

    def _tick(self, now: float) -> None:
        for server in self.servers:
            if not server.online:
                continue
            busy = [job for job in server.jobs.values() if job.posted]
            for job in busy:
                if job.waiting_since is None or job.concluding:
                    continue
                if now - job.waiting_since >= self.silence_limit:
                    limit = duration_text(self.silence_limit)
                    message = f"no answer from ComfyUI at {server.url} for {limit}"
                    self._end_job(job, Failed(job.spec.key, f"{message} ({job.stall})"))
                else:
                    self._conclude_soon(job)
            watched = [job for job in busy if not job.concluding and job.waiting_since is None]
            silent = now - server.heard >= self.silence_limit
            if watched and silent and not server.checking_silence:
                server.checking_silence = True
                self._spawn(self._check_silent(server))
        self._update_status()

    async def _check_silent(self, server: _Server) -> None:
        """The socket said nothing for `silence_limit`: ask `/queue` and `/history`.

        A job the server runs or holds in its queue is kept (it may be waiting
        behind a long render); one it finished is fetched; one it forgot is lost,
        as after a reconnect; and if it does not answer, its jobs fail.
        """
        quiet = _now() - server.heard
        try:
            await self._reconcile(server)
        except ClientError as error:
            if server.online:
                reason = (
                    f"ComfyUI at {server.url} has sent nothing for {duration_text(quiet)} "
                    f"and does not answer ({_reason(error)})"
                )
                for job in list(server.jobs.values()):
                    if job.posted and not job.concluding:
                        self._end_job(job, Failed(job.spec.key, reason))
        finally:
            server.checking_silence = False

    def _waiting(self, now: float) -> str:
        """What jobs are waiting on, per server, for `status.waiting`."""
        lines: list[str] = []
        starved = self._starved_since is not None
        for server in self.servers:
            busy = [job for job in server.jobs.values() if job.posted]
            if not server.online:
                if (busy or starved) and server.offline_since is not None:
                    gone = int(now - server.offline_since)
                    lines.append(
                        f"waiting for ComfyUI at {server.url} ({server.reason} for {gone} s)"
                    )
                continue
            stuck = [now - job.waiting_since for job in busy if job.waiting_since is not None]
            if stuck and max(stuck) >= 1:
                lines.append(
                    f"waiting for ComfyUI at {server.url} (no answer for {int(max(stuck))} s)"
                )
            elif busy and now - server.heard >= max(1.0, 2 * self.watch_interval):
                quiet = int(now - server.heard)
                lines.append(f"waiting for ComfyUI at {server.url} (no message for {quiet} s)")
        return "; ".join(lines)

    # -- bookkeeping -------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if not isinstance(error, ClientError):
                log.error("comfyui task failed", exc_info=error)

    def _update_status(self) -> None:
        """Work out the status afresh; `set_status` tells the engine only when it changed."""
        notes: list[str] = list(self._workflow_errors.values())
        for server in self.servers:
            if not server.online and server.tried.is_set():
                notes.append(f"{server.url}: {server.reason}")
        for kind in AssetKind:
            line = refusal({s.url: s.problems.get(kind, []) for s in self.servers})
            if line:
                notes.append(line)
        if not self.servers:
            notes.append("no ComfyUI servers configured ([comfyui] servers)")
        self.set_status(
            BackendStatus(
                "ComfyUI",
                online=sum(1 for server in self.servers if server.online),
                servers=len(self.servers),
                queue=len(self._jobs) + len(self._orphans),
                detail="; ".join(notes),
                waiting=self._waiting(_now()),
            )
        )


def _reason(error: ClientError) -> str:
    return str(error).split(": ", 1)[-1] if ": " in str(error) else str(error)


def _now() -> float:
    """Monotonic seconds (the event loop's clock too), usable before a loop runs."""
    return time.monotonic()


def _setting(settings: object, name: str, default: float, given: float | None) -> float:
    """A constructor value, else `[comfyui] name` when the config has that field, else default.

    Read with getattr so the backend works before `ComfyUIConfig` grows the field.
    """
    if given is not None:
        return given
    value = getattr(settings, name, None)
    return default if value is None else float(value)


def _download_failure(chosen: OutputFile, result: HistoryResult, error: Refused) -> str:
    name = clean(chosen.filename, 120)
    if error.status == 404 and chosen.node in result.cached:
        return (
            f"ComfyUI answered from its cache with {name!r}, which is no longer on the server, "
            "so there is no new output; change the seed or prompt to get a new take"
        )
    if error.status == 404:
        return f"ComfyUI reported {name!r} but the server has no such file (HTTP 404)"
    return f"could not download {name!r}: {error}"
