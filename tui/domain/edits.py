"""The editable scene fields and their rules, shared by the TUI and `storyboard set`.

Both faces of the app validate through here, so a value the CLI refuses is
refused by the inspector with the same words.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tui.domain.camera import CAMERA_NAMES, CameraMovement
from tui.domain.models import (
    SEED_LIMIT,
    Scene,
    round_duration,
    round_motion,
    scene_seconds_limit,
)

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

_ASCII_SPACE = " \t\r\n"
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
"""A plain ASCII decimal: `4.8`, `-0`, `1e3`. Not `1_000`, not `١٢`, not `inf`."""
_WHOLE = re.compile(r"[0-9]{1,12}", re.ASCII)
"""A seed as typed: ASCII digits only (SEED_LIMIT has ten)."""
_SURROGATE = re.compile("[\ud800-\udfff]")


class EditError(ValueError):
    """A refused edit; the message is one line meant for the user.

    `field` and `problem` let a caller that names the place itself (the importer:
    "scene 3, audio_duration: …") say it without repeating the field.
    """

    def __init__(self, message: str, *, field: str | None = None, problem: str | None = None):
        super().__init__(message)
        self.field = field
        self.problem = problem if problem is not None else message


def shown(raw: Any, limit: int = 40) -> str:
    """A refused value as an error message quotes it: repr (escapes made visible), cut short."""
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refuse(field: str, problem: str) -> EditError:
    return EditError(f"{field} {problem}", field=field, problem=problem)


def _number(field: str, raw: Any) -> float:
    """A finite float from a typed number or from ASCII decimal text."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _refuse(field, f"must be a number, got {shown(raw)}")
    if isinstance(raw, str):
        if _DECIMAL.fullmatch(raw.strip(_ASCII_SPACE)) is None:
            raise _refuse(field, f"must be a number, got {shown(raw)}")
        return float(raw.strip(_ASCII_SPACE))  # may overflow to inf: out of range below
    value = float(raw)
    if not math.isfinite(value):
        raise _refuse(field, f"must be a finite number, got {shown(raw)}")
    return value


def normalize(field: str, raw: Any, *, max_seconds: float | None = None) -> Any:
    """Check one field's value and return it in its stored form.

    Accepts the text a user typed (`"0.4"`, `"pan_left"`) as well as typed
    values, so the CLI, the widgets and the importer share one gate. Numbers
    are ASCII decimals only. `max_seconds` overrides the scene length limit
    (by default `scene_seconds_limit()`).
    """
    if field not in EDITABLE_FIELDS:
        raise EditError(f"unknown field {shown(field)}; fields: {', '.join(EDITABLE_FIELDS)}")
    if field in TEXT_FIELDS:
        if not isinstance(raw, str):
            raise _refuse(field, "must be text")
        if _SURROGATE.search(raw):
            raise _refuse(field, "is not valid text: it holds undecodable bytes")
        return raw
    if field == "camera":
        try:
            return CameraMovement(str(raw).strip().lower())
        except ValueError:
            raise EditError(
                f"bad camera {shown(raw)}; valid: {', '.join(CAMERA_NAMES)}",
                field=field,
                problem=f"bad camera {shown(raw)}; valid: {', '.join(CAMERA_NAMES)}",
            ) from None
    if field == "motion":
        value = _number(field, raw)
        if not 0.0 <= value <= 1.0:
            raise _refuse(field, f"must be between 0 and 1, got {shown(raw)}")
        return round_motion(value)
    if field == "audio_duration":
        limit = scene_seconds_limit() if max_seconds is None else max_seconds
        value = round_duration(_number(field, raw))
        if not 0.0 < value <= limit:  # inf from an overflowing literal lands here too
            raise _refuse(field, f"must be over 0 and at most {limit:g} seconds, got {shown(raw)}")
        return value
    # seed
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _refuse(field, f"must be a whole number, got {shown(raw)}")
    if isinstance(raw, str):
        if _WHOLE.fullmatch(raw.strip(_ASCII_SPACE)) is None:
            raise _refuse(field, f"must be a whole number, got {shown(raw)}")
        seed = int(raw.strip(_ASCII_SPACE))
    else:
        seed = raw
    if not 0 <= seed < SEED_LIMIT:
        raise _refuse(field, f"must be between 0 and {SEED_LIMIT - 1}, got {shown(raw)}")
    return seed


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split and check a CLI `FIELD=VALUE` argument."""
    field, sep, raw = text.partition("=")
    if not sep:
        raise EditError(f"expected FIELD=VALUE, got {shown(text)}")
    field = field.strip()
    return field, normalize(field, raw)


def changed_fields(scene: Scene, changes: dict[str, Any]) -> dict[str, Any]:
    """Drop the assignments that would not change anything.

    Setting a field to its current value must be a true no-op: no write, no
    new revision, no marker flicker.
    """
    return {field: value for field, value in changes.items() if getattr(scene, field) != value}
