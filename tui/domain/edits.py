"""The editable scene fields and their rules, shared by the TUI and `storyboard set`.

Both faces of the app validate through here, so a value the CLI refuses is
refused by the inspector with the same words.
"""

from __future__ import annotations

import math
from typing import Any

from tui.domain.camera import CAMERA_NAMES, CameraMovement
from tui.domain.models import SEED_LIMIT, Scene, round_duration, round_motion

EDITABLE_FIELDS: tuple[str, ...] = (
    "narration",
    "audio_duration",
    "image_prompt",
    "negative_prompt",
    "video_prompt",
    "camera",
    "motion",
    "seed",
)
TEXT_FIELDS = frozenset({"narration", "image_prompt", "negative_prompt", "video_prompt"})


class EditError(ValueError):
    """A refused edit; the message is one line meant for the user."""


def _number(field: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise EditError(f"{field} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise EditError(f"{field} must be a finite number, got {raw!r}")
    return value


def normalize(field: str, raw: Any) -> Any:
    """Check one field's value and return it in its stored form.

    Accepts the text a user typed (`"0.4"`, `"pan_left"`) as well as typed
    values, so the CLI and the widgets share one gate.
    """
    if field not in EDITABLE_FIELDS:
        raise EditError(f"unknown field {field!r}; fields: {', '.join(EDITABLE_FIELDS)}")
    if field in TEXT_FIELDS:
        if not isinstance(raw, str):
            raise EditError(f"{field} must be text")
        return raw
    if field == "camera":
        try:
            return CameraMovement(str(raw).strip().lower())
        except ValueError:
            raise EditError(f"bad camera {raw!r}; valid: {', '.join(CAMERA_NAMES)}") from None
    if field == "motion":
        value = _number(field, raw)
        if not 0.0 <= value <= 1.0:
            raise EditError(f"motion must be between 0 and 1, got {raw!r}")
        return round_motion(value)
    if field == "audio_duration":
        value = _number(field, raw)
        if value < 0:
            raise EditError(f"audio_duration must be 0 or more seconds, got {raw!r}")
        return round_duration(value)
    # seed
    if isinstance(raw, bool):
        raise EditError(f"seed must be a whole number, got {raw!r}")
    try:
        seed = int(str(raw).strip())
    except ValueError:
        raise EditError(f"seed must be a whole number, got {raw!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise EditError(f"seed must be between 0 and {SEED_LIMIT - 1}, got {raw!r}")
    return seed


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split and check a CLI `FIELD=VALUE` argument."""
    field, sep, raw = text.partition("=")
    if not sep:
        raise EditError(f"expected FIELD=VALUE, got {text!r}")
    field = field.strip()
    return field, normalize(field, raw)


def changed_fields(scene: Scene, changes: dict[str, Any]) -> dict[str, Any]:
    """Drop the assignments that would not change anything.

    Setting a field to its current value must be a true no-op: no write, no
    new revision, no marker flicker.
    """
    return {field: value for field, value in changes.items() if getattr(scene, field) != value}
