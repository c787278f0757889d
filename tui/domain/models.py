"""The project's nouns: scenes, their assets and the render settings they are judged against."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tui.domain.camera import CameraMovement

JSONValue = str | int | float | bool | None
InputSnapshot = dict[str, Any]
"""The inputs an asset was made from, exactly as they were fingerprinted."""

MOTION_STEP = 0.05
SEED_LIMIT = 2**32
"""Seeds stay below 2**32: every sampler and every UI accepts that range."""
MAX_SCENE_SECONDS = 600.0
"""The default longest scene. A scene is one narrated sentence: ten minutes is far
beyond any, while milliseconds typed for seconds (4800) or 1e9 are refused before
a renderer spends hours on them."""
SCENE_SECONDS_CEILING = 86_400.0
"""No setting may raise the limit past a day."""

_scene_seconds_limit = MAX_SCENE_SECONDS


def scene_seconds_limit() -> float:
    """The longest scene accepted now, in seconds: the setting, or MAX_SCENE_SECONDS."""
    return _scene_seconds_limit


def set_scene_seconds_limit(seconds: float) -> None:
    """Apply the user's setting for the longest scene, once at start-up.

    One value per process, consulted by every gate (edits, imports, the draft
    renderer), so they can never disagree.
    """
    global _scene_seconds_limit
    value = float(seconds)
    if not 0.0 < value <= SCENE_SECONDS_CEILING:  # also refuses nan
        raise ValueError(
            f"the longest scene must be over 0 and at most {SCENE_SECONDS_CEILING:g} seconds, "
            f"got {seconds!r}"
        )
    _scene_seconds_limit = value


class AssetKind(StrEnum):
    """The two things a scene renders."""

    IMAGE = "image"
    VIDEO = "video"


class AssetState(StrEnum):
    """Where an asset stands against the scene's current inputs."""

    CLEAN = "clean"
    DIRTY = "dirty"
    MISSING = "missing"
    """There is a prompt but no file yet."""
    NONE = "none"
    """There is no prompt, so there is nothing to make."""


def round_motion(value: float) -> float:
    """Keep motion on a stable decimal so 0.1 + 0.05 compares equal to 0.15.

    Adding 0.0 turns -0.0 into 0.0, which would otherwise print as `-0.00`.
    """
    return round(float(value), 3) + 0.0


def round_duration(value: float) -> float:
    """Durations are kept to the millisecond; finer differences are noise from probes."""
    return round(float(value), 3) + 0.0


class Asset(BaseModel):
    """A file a job made, with the inputs it was made from."""

    model_config = ConfigDict(frozen=True)

    kind: AssetKind
    file: str
    """Path relative to the project folder, always under `assets/`."""
    content_hash: str
    inputs: InputSnapshot
    created: datetime
    job_id: int | None = None


class Scene(BaseModel):
    """One narrated sentence and the two visuals made for it."""

    model_config = ConfigDict(frozen=True)

    id: int
    position: int
    narration: str
    audio_file: str | None = None
    audio_duration: float = Field(ge=0.0)
    """Edits and imports keep it over 0 and within the scene limit; a stored row
    from before that rule still loads, and the renderers refuse it."""
    image_prompt: str = ""
    negative_prompt: str = ""
    seed: int = Field(default=0, ge=0, lt=SEED_LIMIT)
    video_prompt: str = ""
    camera: CameraMovement = CameraMovement.STATIC
    motion: float = Field(default=0.5, ge=0.0, le=1.0)
    image: Asset | None = None
    video: Asset | None = None
    rev: int = 0
    """The project revision of the last write to this scene; lets a viewer reload only changes."""
    audio_hash: str | None = None
    """The narration audio's content hash, when there is a file: part of the cut's inputs."""

    @field_validator("motion")
    @classmethod
    def _round_motion(cls, value: float) -> float:
        return round_motion(value)

    @field_validator("audio_duration")
    @classmethod
    def _round_duration(cls, value: float) -> float:
        return round_duration(value)

    def asset(self, kind: AssetKind) -> Asset | None:
        return self.image if kind is AssetKind.IMAGE else self.video

    def prompt(self, kind: AssetKind) -> str:
        return self.image_prompt if kind is AssetKind.IMAGE else self.video_prompt


class RenderSettings(BaseModel):
    """Project-wide inputs that every asset is judged against.

    The workflow ids come from the active backend, so switching from draft
    cards to a real ComfyUI workflow honestly marks every asset as stale.
    """

    model_config = ConfigDict(frozen=True)

    width: int = Field(default=832, ge=16, le=8192)
    height: int = Field(default=480, ge=16, le=8192)
    fps: int = Field(default=16, ge=1, le=120)
    image_workflow: str = "draft-image/1"
    video_workflow: str = "draft-video/1"


class ProjectInfo(BaseModel):
    """The project row: a name and the picture format."""

    model_config = ConfigDict(frozen=True)

    name: str
    width: int = 832
    height: int = 480
    fps: int = 16
    rev: int = 0
