"""What a playback plays, kept apart from the player so the editor can build one
even where the player (and the terminal graphics it needs) cannot load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PlayItem:
    """One scene of a playback: its clip, or its still, or a title card with its narration."""

    clip: Path | None = None
    still: Path | None = None
    narration: str = ""
    seconds: float | None = None
    """How long the scene lasts (its narration). A clip is cut or its last frame held to
    fit; None plays a clip to its own end. A still or a title card needs it."""
    scene_id: int | None = None
