"""The one small interface every renderer implements: submit, events, cancel, recover.

The engine owns the queue, the database and the asset files. A backend only
turns a job's frozen parameters into bytes and reports what happens on the
way, so the draft renderer and ComfyUI go through the same replacement path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tui.domain.models import AssetKind


class BackendUnavailable(Exception):
    """The backend cannot take the job now (a server is down); the job stays queued."""


class BackendError(Exception):
    """The backend refused the job for good (a bad workflow, a 400); the job fails."""


@dataclass(frozen=True)
class JobSpec:
    """What a backend needs to run one job; built from the job row, never from the scene."""

    job_id: int
    key: str
    """Our own id for the job, committed before submit (ComfyUI's prompt_id)."""
    kind: AssetKind
    params: Mapping[str, Any]
    scene_position: int
    project_key: str
    """Stable per project, e.g. for a per-project upload folder on a server."""
    image_path: Path | None = None
    """The still a video job animates."""
    staging: Path | None = None
    """Where a backend may stream a large output: a temp name in the folder the result
    lands in, so the engine can fsync and rename it without copying. Swept if abandoned."""


@dataclass(frozen=True)
class Started:
    key: str
    server: str | None = None


@dataclass(frozen=True)
class Progress:
    key: str
    value: int
    max: int
    fraction: float
    """Of the whole job, 0..1, monotonic."""
    node: str | None = None


@dataclass(frozen=True)
class Preview:
    key: str
    data: bytes
    mime: str = "image/jpeg"


@dataclass(frozen=True)
class Output:
    """The job succeeded; `name` is untrusted and only its extension is used.

    Small results come as `data`. A backend that streamed the result to
    `JobSpec.staging` sets `path` instead (and leaves `data` empty): the file is
    complete, and the engine fsyncs and renames it into place.
    """

    key: str
    data: bytes
    name: str
    path: Path | None = None


@dataclass(frozen=True)
class Failed:
    key: str
    message: str


@dataclass(frozen=True)
class Cancelled:
    key: str


@dataclass(frozen=True)
class Lost:
    """The backend no longer knows the job (a server restart); the engine resubmits once."""

    key: str
    reason: str = "lost by the server"


@dataclass(frozen=True)
class StatusChanged:
    """The backend's own state moved (a server went down, came back, or went silent).

    Not about one job, so it has no key; the runner passes it on to every client
    for the header, instead of clients polling a mutable status object.
    """

    status: BackendStatus


BackendEvent = Started | Progress | Preview | Output | Failed | Cancelled | Lost | StatusChanged


class Recovery(StrEnum):
    """What `recover` found for a job that was in flight when the app stopped."""

    TRACKING = "tracking"
    """The backend has it (or has already reported its end through events)."""
    RERUN = "rerun"
    """Nothing was kept (the draft renderer): queue it again, no harm done."""
    LOST = "lost"
    """A server forgot it: resubmit once, then fail."""


@dataclass(frozen=True)
class BackendStatus:
    """For a header: "draft", or "ComfyUI ● 2/2 servers · queue 3"."""

    name: str
    online: int = 1
    servers: int = 1
    queue: int = 0
    detail: str = ""
    waiting: str = ""
    """What jobs are waiting on, for the user: "waiting for ComfyUI at … (no answer for 40 s)"."""


class Backend:
    """Base class: an event queue, and the methods a backend must provide."""

    name: str = "backend"

    def __init__(self) -> None:
        self._events: asyncio.Queue[BackendEvent] = asyncio.Queue()
        self.status = BackendStatus(self.name)
        self.on_ready: Callable[[], None] | None = None
        """Set by the engine: called when capacity appears (a server came back)."""

    def emit(self, event: BackendEvent) -> None:
        self._events.put_nowait(event)

    def set_status(self, status: BackendStatus) -> None:
        """Replace the status and tell the engine, if anything changed."""
        if status != self.status:
            self.status = status
            self.emit(StatusChanged(status))

    async def events(self) -> AsyncIterator[BackendEvent]:
        """Every event, in order, for a single consumer (the engine)."""
        while True:
            yield await self._events.get()

    def workflow_id(self, kind: AssetKind) -> str:
        raise NotImplementedError

    def capacity(self) -> int:
        """How many more jobs may be submitted now; the rest wait in our own queue."""
        raise NotImplementedError

    async def start(self) -> None:
        """Connect; called once before the first submit or recover."""

    async def submit(self, spec: JobSpec) -> None:
        """Start the job; raise BackendUnavailable to retry later, BackendError to fail it."""
        raise NotImplementedError

    async def cancel(self, key: str) -> None:
        """Stop a job if it is still running or pending; a Cancelled event follows if it was."""
        raise NotImplementedError

    async def recover(self, spec: JobSpec) -> Recovery:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop everything; safe to call twice."""
