"""What the engine tells its listeners (the TUI, the CLI) about jobs.

Every event carries the job row as it is after the change, so a listener
never has to ask the database what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.backends.base import BackendStatus
from tui.domain.jobs import Job
from tui.domain.models import Scene


@dataclass(frozen=True)
class JobEvent:
    job: Job

    @property
    def scene_id(self) -> int:
        return self.job.scene_id


@dataclass(frozen=True)
class JobQueued(JobEvent):
    pass


@dataclass(frozen=True)
class JobStarted(JobEvent):
    pass


@dataclass(frozen=True)
class JobProgress(JobEvent):
    value: int
    max: int
    fraction: float
    """Of the whole job, 0..1."""
    node: str | None = None


@dataclass(frozen=True)
class JobPreview(JobEvent):
    data: bytes
    mime: str = "image/jpeg"


@dataclass(frozen=True)
class JobSucceeded(JobEvent):
    scene: Scene
    """The scene after the new asset was stored."""
    file: str
    """The new file, relative to the project folder."""


@dataclass(frozen=True)
class JobFailed(JobEvent):
    message: str


@dataclass(frozen=True)
class JobCancelled(JobEvent):
    pass


@dataclass(frozen=True)
class JobSuperseded(JobEvent):
    pass


@dataclass(frozen=True)
class SceneEdited:
    """The engine changed a scene itself (a forced take drew a new seed)."""

    scene: Scene


@dataclass(frozen=True)
class BackendChanged:
    """The backend's state moved: servers online, queue, what jobs wait on."""

    status: BackendStatus


EngineEvent = (
    JobQueued
    | JobStarted
    | JobProgress
    | JobPreview
    | JobSucceeded
    | JobFailed
    | JobCancelled
    | JobSuperseded
    | SceneEdited
    | BackendChanged
)
