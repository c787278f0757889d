"""The runner's files in a project's `.storyboard/` folder, and the lock that makes it one.

`runner.lock` holds an flock while a runner lives (the kernel drops it when the
process dies, however it dies) and the runner's pid; `runner.sock` is where
clients connect; `runner.log` is where a runner with no terminal writes;
`runner.json` says what the runner runs with, for clients that cannot connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_DIR = ".storyboard"
SOCKET_PATH_LIMIT = 100
"""Unix socket paths are limited to 108 bytes; longer ones are reached through /proc."""


class RunnerBusy(Exception):
    """Another process already runs this project's jobs."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"jobs are already run by process {pid or '?'}")
        self.pid = pid


@dataclass(frozen=True)
class RunFiles:
    """Paths of one project's runner files."""

    root: Path

    @property
    def folder(self) -> Path:
        return self.root / STATE_DIR

    @property
    def lock(self) -> Path:
        return self.folder / "runner.lock"

    @property
    def socket(self) -> Path:
        return self.folder / "runner.sock"

    @property
    def log(self) -> Path:
        return self.folder / "runner.log"

    @property
    def state(self) -> Path:
        return self.folder / "runner.json"

    def ensure(self) -> None:
        """Make `.storyboard/`, private to the user: the socket accepts commands."""
        self.folder.mkdir(mode=0o700, exist_ok=True)

    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def live_pid(self) -> int | None:
        """The pid of the live runner, or None when no process holds the lock."""
        try:
            fd = os.open(self.lock, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd) or -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class RunnerLock:
    """An exclusive flock: one process at a time runs a project's jobs.

    Two runners would each reconcile the other's jobs as lost and render
    everything twice. A lock left by a dead process is no lock at all: the
    kernel releases an flock when its holder dies, so a stale file is simply
    taken over. Editing and queueing need no lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise RunnerBusy(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def reachable(path: Path) -> Any:
    """A path a socket call can use, even past the 108-byte limit.

    Long project paths (deep home folders, test temp folders) are reached as
    /proc/self/fd/N/runner.sock through an open descriptor of the folder.
    """
    if len(os.fsencode(path)) < SOCKET_PATH_LIMIT:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
