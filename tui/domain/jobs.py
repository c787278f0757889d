"""Jobs as data: what a regeneration was asked to make and where it stands."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from tui.domain.models import AssetKind


class JobState(StrEnum):
    """`queued → submitted → running → succeeded | failed | cancelled | superseded`."""

    QUEUED = "queued"
    """Waiting in our own queue; the backend has not seen it."""
    SUBMITTED = "submitted"
    """Handed to the backend, which may still be holding it in its own queue."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    """A newer request for the same scene and kind replaced it."""

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        return not self.is_final


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SUPERSEDED}
)
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING})


class Job(BaseModel):
    """One regeneration, with the parameters it was queued with.

    `params` is a frozen snapshot: nothing re-reads the scene after the job is
    queued, so a result is always stored with the inputs that really made it.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    scene_id: int
    kind: AssetKind
    params: dict[str, Any]
    params_hash: str
    backend: str
    backend_job_id: str
    """Chosen by us and committed before the backend hears of the job (a ComfyUI prompt_id)."""
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    """Fraction of the whole job, 0..1."""
    error: str | None = None
    depends_on: int | None = None
    """The image job a video waits for; its still becomes this job's input."""
    attempts: int = 0
    server: str | None = None
    created: datetime
    updated: datetime

    @property
    def label(self) -> str:
        return f"{self.kind.value} job {self.id}"


class CutJob(BaseModel):
    """Assembling the rough cut: a job of the whole project, not of one scene.

    It shares the job journal (the same states, compare-and-set moves and
    revisions), so an export survives a dropped link and a killed runner the
    way a regeneration does; it has no scene, kind or backend of its own.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    params: dict[str, Any]
    """`output` (the film's path), `subtitles` (write an .srt beside it), `force`."""
    key: str
    """Chosen when queued; names the export's temp file, so a rerun finds its leftovers."""
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    error: str | None = None
    attempts: int = 0
    created: datetime
    updated: datetime

    @property
    def output(self) -> str:
        return str(self.params.get("output", ""))

    @property
    def subtitles(self) -> bool:
        return bool(self.params.get("subtitles", False))

    @property
    def force(self) -> bool:
        return bool(self.params.get("force", False))
