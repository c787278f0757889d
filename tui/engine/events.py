"""What the engine tells its listeners (the TUI, the CLI) about jobs.

Every event carries the job row as it is after the change, so a listener
never has to ask the database what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.backends.base import BackendStatus

__all__ = [
    "BackendChanged",
    "BackendStatus",
    "EngineEvent",
    "FilesCheck",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobPreview",
    "JobProgress",
    "JobQueued",
    "JobStarted",
    "JobSucceeded",
    "JobSuperseded",
    "RunnerChanged",
    "RunnerInfo",
    "SceneEdited",
    "ended_event",
]
from tui.domain.jobs import Job, JobState
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


def ended_event(job: Job) -> JobFailed | JobCancelled | JobSuperseded:
    """The event for a job that ended other than by success."""
    if job.state is JobState.FAILED:
        return JobFailed(job, job.error or "failed")
    if job.state is JobState.SUPERSEDED:
        return JobSuperseded(job)
    return JobCancelled(job)


@dataclass(frozen=True)
class SceneEdited:
    """The engine changed a scene itself (a forced take drew a new seed)."""

    scene: Scene


@dataclass(frozen=True)
class BackendChanged:
    """The backend's state moved: servers online, queue, what jobs wait on."""

    status: BackendStatus


@dataclass(frozen=True)
class RunnerInfo:
    """What a client knows of the project's runner, for a header or `runner status`."""

    state: str
    """"not running", "starting", "idle", "running" or "unreachable"."""
    pid: int | None = None
    running: int = 0
    queued: int = 0
    note: str = ""
    """Why it is not running or not reachable, when that is not the normal idle exit."""

    def describe(self) -> str:
        """ "runner: idle", "runner: 3 running, 14 queued", "runner: not running"."""
        if self.state == "running" or (self.state == "idle" and (self.running or self.queued)):
            parts = [f"{self.running} running"] if self.running else []
            if self.queued:
                parts.append(f"{self.queued} queued")
            return "runner: " + ", ".join(parts or ["idle"])
        return f"runner: {self.state}"


@dataclass(frozen=True)
class RunnerChanged:
    """The runner started, stopped, or its job counts moved."""

    info: RunnerInfo


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
    | RunnerChanged
)


@dataclass(frozen=True)
class FilesCheck:
    """What a look at the disk found (`ProjectClient.check_files`)."""

    flipped: frozenset[str]
    """Stored asset names (`assets/images/…`) that appeared or vanished: judge their scenes."""
    problems: tuple[str, ...] = ()
    """One line per narration file that cannot be decoded; its scene keeps its length."""
