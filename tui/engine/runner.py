"""The runner: one detached process per project that runs its jobs.

Jobs belong to the project, not to a window. A TUI or `storyboard regen`
queues work in the database and, finding no runner alive, starts one (see
`tui.engine.client`). The runner holds the lock, the backend and its server
connections, finishes jobs, and tells every connected client about progress
over a Unix socket in `.storyboard/`. It has no terminal: a dropped SSH link
or a closed laptop lid never stops a batch. It exits by itself once it has
had no job and no client for `idle_exit` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.handlers
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tui.backends.base import Backend, BackendStatus
from tui.backends.registry import create_backend
from tui.engine.engine import Engine
from tui.engine.events import (
    BackendChanged,
    EngineEvent,
    JobPreview,
    JobProgress,
    JobStarted,
)
from tui.engine.export import Exporter
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
from tui.engine.runfiles import RunFiles, RunnerBusy, reachable
from tui.errors import StoreError

log = logging.getLogger(__name__)

HINT_DELAY = 0.02
"""Database-changed hints and state updates are coalesced to one per this many seconds."""
SLOW_CLIENT_BYTES = 4 * 1024 * 1024
"""A client this far behind misses live progress and previews, never state hints."""
HANDSHAKE_TIMEOUT = 5.0
LOG_BYTES = 1024 * 1024
LOG_BACKUPS = 3


class _Client:
    """One connected TUI or CLI."""

    def __init__(self, writer: asyncio.StreamWriter, hello: Hello) -> None:
        self.writer = writer
        self.hello = hello

    def send(self, message: Message, *, live: bool = False) -> None:
        self.send_line(encode(message), live=live)

    def send_line(self, line: bytes, *, live: bool = False) -> None:
        if self.writer.is_closing():
            return
        if live and self.writer.transport.get_write_buffer_size() > SLOW_CLIENT_BYTES:
            return  # only the newest progress matters; the database has the rest
        self.writer.write(line)


class Runner:
    """An engine, a socket for clients, and the rule for when to exit."""

    def __init__(self, project: Project, backend: Backend, *, idle_exit: float = 30.0) -> None:
        self.project = project
        self.files = RunFiles(project.folder.root)
        self.engine = Engine(project, backend)
        self.exporter = Exporter(project, on_change=self._hint)
        """Makes the rough cut when a client queues an export."""
        self.idle_exit = idle_exit
        self._clients: set[_Client] = set()
        self._progress: dict[int, LiveProgress] = {}
        """The latest progress of each running job, for clients that connect late."""
        self._server: asyncio.base_events.Server | None = None
        self._stopping = asyncio.Event()
        self._cancel_on_stop = False
        self._hint_pending = False
        self._backend_status: BackendStatus = backend.status
        self._idle_since: float | None = time.monotonic()
        self._fatal: str | None = None
        """Why the runner stopped by itself (a damaged database), for its clients."""

    # -- life cycle ------------------------------------------------------------

    async def open(self) -> None:
        """Take the lock and open the socket; raises RunnerBusy if another runner lives."""
        self.files.ensure()
        self.engine.acquire()
        try:
            await self._listen()
        except BaseException:
            self.engine.release()
            raise
        self._write_state()

    async def serve(self) -> None:
        """Run jobs until stopped or idle long enough; then close everything."""
        self.engine.subscribe(self._on_event)
        unsubscribe = self.project.store.on_damage(self._on_damage)
        try:
            await self.engine.start()
            await self.exporter.start()
            self._watch_idle_task = asyncio.create_task(self._watch_idle(), name="runner-idle")
            await self._stopping.wait()
        finally:
            unsubscribe()
            await self._close()

    def _on_damage(self, error: StoreError) -> None:
        """A damaged database: every further write could make it worse, so stop, and say why."""
        log.error("%s; the runner stops", error)
        self._fatal = str(error)
        self.stop()

    def stop(self, *, cancel: bool = False) -> None:
        """Ask the runner to exit; with `cancel`, every active job is cancelled first."""
        self._cancel_on_stop = self._cancel_on_stop or cancel
        self._stopping.set()

    async def _close(self) -> None:
        task = getattr(self, "_watch_idle_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
        reason = "stopped" if self._cancel_on_stop else "idle"
        if self._fatal is not None:
            reason = FATAL + self._fatal
        for client in list(self._clients):
            client.send(Bye(reason))
        cancel = self._cancel_on_stop and self._fatal is None
        with contextlib.suppress(Exception):
            await self.exporter.stop(cancel=cancel)
        with contextlib.suppress(Exception):
            await self.engine.stop(cancel=cancel)
        for client in list(self._clients):
            client.writer.close()
        self._clients.clear()
        with contextlib.suppress(OSError):
            self.files.state.unlink()
        with contextlib.suppress(OSError):
            if self.files.socket.is_socket():
                self.files.socket.unlink()
        self.engine.release()

    async def _watch_idle(self) -> None:
        """Exit after `idle_exit` seconds with no job and no client."""
        while True:
            await asyncio.sleep(min(0.5, max(0.05, self.idle_exit / 4)))
            busy = not self.engine.idle or not self.exporter.idle or bool(self._clients)
            now = time.monotonic()
            if busy:
                self._idle_since = None
                continue
            if self._idle_since is None:
                self._idle_since = now
            if now - self._idle_since >= self.idle_exit:
                await self.engine.sync()  # a job queued by a client that could not poke us
                exports = await self.project.store.read(lambda tx: tx.active_cut_jobs())
                if self.engine.idle and not exports and not self._clients:
                    log.info("idle for %.0f s with no clients; exiting", self.idle_exit)
                    self.stop()
                    return
                self._idle_since = None

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "backend": self.project.backend_name,
            "servers": list(self.project.servers),
            "started": time.time(),
        }
        temp = self.files.state.with_suffix(".tmp")
        temp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temp, self.files.state)

    # -- the socket --------------------------------------------------------------

    async def _listen(self) -> None:
        path = self.files.socket
        # We hold the lock, so whatever is at the socket's path is stale or foreign.
        with contextlib.suppress(FileNotFoundError):
            if path.is_dir() and not path.is_symlink():
                raise OSError(f"{path} is a folder; remove it to let the runner listen")
            path.unlink()
        with reachable(path) as where:
            self._server = await asyncio.start_unix_server(
                self._serve_client, where, limit=MAX_LINE
            )
        os.chmod(path, 0o600)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client: _Client | None = None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                line = await reader.readline()
            hello = decode(line)
            if not isinstance(hello, Hello):
                raise ProtocolError("a client must start with hello")
            writer.write(encode(self._hello()))
            check_version(hello)
            client = _Client(writer, hello)
            for progress in list(self._progress.values()):
                client.send(progress)
            client.send(self._state())
            self._clients.add(client)
            self._idle_since = None
            while line := await reader.readline():
                message = decode(line)
                if isinstance(message, Poke):
                    self.engine.poke()
                    self.exporter.poke()
                elif isinstance(message, Stop):
                    log.info("stop requested by process %s", hello.pid)
                    self.stop(cancel=True)
        except (ProtocolError, TimeoutError, ValueError) as error:
            log.warning("client dropped: %s", error)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if client is not None:
                self._clients.discard(client)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _hello(self) -> Hello:
        return Hello(
            pid=os.getpid(),
            role="runner",
            backend=self.project.backend_name,
            servers=self.project.servers,
        )

    def _state(self) -> RunnerState:
        """Job counts for headers: the export, when there is one, counts as a job."""
        running, queued = self.engine.counts
        exporting, waiting = self.exporter.counts
        return RunnerState(
            running + exporting, queued + waiting, self._backend_status, len(self._clients)
        )

    def _broadcast(self, message: Message, *, live: bool = False) -> None:
        if not self._clients:
            return
        line = encode(message)  # once, however many clients listen
        for client in list(self._clients):
            try:
                client.send_line(line, live=live)
            except (ConnectionError, RuntimeError):
                self._clients.discard(client)

    # -- engine events -------------------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, JobProgress):
            job = event.job
            progress = LiveProgress(
                job.id, job.scene_id, job.kind, event.value, event.max, event.fraction, event.node
            )
            self._progress[job.id] = progress
            self._broadcast(progress, live=True)
            return
        if isinstance(event, JobPreview):
            job = event.job
            preview = LivePreview(job.id, job.scene_id, job.kind, event.data, event.mime)
            self._broadcast(preview, live=True)
            return
        if isinstance(event, BackendChanged):
            self._backend_status = event.status
        elif isinstance(event, JobStarted):
            job = event.job
            self._broadcast(LiveStarted(job.id, job.scene_id, job.kind, job.server))
        else:
            job_event_job = getattr(event, "job", None)
            if job_event_job is not None and job_event_job.state.is_final:
                self._progress.pop(job_event_job.id, None)
        self._hint()

    def _hint(self) -> None:
        """Tell clients the database moved, at most once per HINT_DELAY."""
        if self._hint_pending:
            return
        self._hint_pending = True
        asyncio.get_running_loop().call_later(HINT_DELAY, self._send_hint)

    def _send_hint(self) -> None:
        self._hint_pending = False
        self._broadcast(Changed(self.engine.rev))
        self._broadcast(self._state())


# -- the detached process ------------------------------------------------------------


def _log_to(files: RunFiles) -> None:
    handler = logging.handlers.RotatingFileHandler(
        files.log, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore", "websockets", "aiosqlite", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _detach_output(files: RunFiles, announce: IO[str]) -> None:
    """After the ready line, stdout and stderr go to the log: no terminal, no pipe."""
    announce.flush()
    fd = os.open(files.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


async def run_detached(
    root: Path,
    choice: BackendChoice,
    *,
    idle_exit: float,
    announce: IO[str] = sys.stdout,
    make_backend: Callable[[Project], Backend] | None = None,
) -> int:
    """The runner process: say "ready", "busy" or "error: …" on one line, then run."""
    files = RunFiles(root)
    try:
        project = await Project.open(root, choice=choice)
    except Exception as error:
        announce.write(f"error: {error}\n")
        announce.flush()
        return 2
    try:
        try:
            files.ensure()
            backend = (
                make_backend(project)
                if make_backend
                else create_backend(project.backend_name, project.folder, project.config)
            )
            runner = Runner(project, backend, idle_exit=idle_exit)
            await runner.open()
        except RunnerBusy as busy:
            announce.write(f"busy {busy.pid or ''}\n")
            announce.flush()
            return 0
        except Exception as error:
            announce.write(f"error: cannot start the runner: {error}\n")
            announce.flush()
            return 2
        _log_to(files)
        log.info("runner %d started for %s (%s)", os.getpid(), root, project.backend_name)
        announce.write(f"ready {os.getpid()}\n")
        if announce is sys.stdout:
            _detach_output(files, announce)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # no terminal to lose
        try:
            await runner.serve()
        except StoreError as error:
            log.error("runner %d cannot go on: %s", os.getpid(), error)
            return 2
        log.info("runner %d exiting", os.getpid())
        return 0
    finally:
        await project.close()
