"""The rough cut's staleness: what went into the film, and why it no longer matches.

Like every asset, the cut keeps a snapshot of its inputs and is stale exactly
when that snapshot differs from what would go in now; nothing stores a flag.
The snapshot is the ordered list of what each scene puts on screen and under
it, plus the picture format:

- the picture: the clip's content hash, or the still's when there is no clip,
  or the narration text of the title card when there is neither;
- the duration (the narration's length, which sets the scene's slot);
- the narration audio's content hash, or None for silence;
- width, height and fps.

Scenes are keyed by id, so "why" can tell an edit from an addition, a removal
or a move. Pure: plain dicts in, plain strings out, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from tui.domain.models import Scene
from tui.domain.staleness import fingerprint as _fingerprint


class CutScene(TypedDict):
    """One scene's part of the cut's inputs."""

    id: int
    visual: str
    """"clip", "still" or "title"."""
    ref: str
    """The clip's or still's content hash, or the title card's text."""
    duration: float
    audio: str | None
    """The narration audio's content hash; None is silence."""


class CutInputs(TypedDict):
    """Everything the cut was (or would be) made from; JSON as it stands."""

    width: int
    height: int
    fps: int
    scenes: list[CutScene]


class CutState(StrEnum):
    CLEAN = "clean"
    STALE = "stale"
    MISSING = "missing"
    """There are scenes but no cut yet."""
    NONE = "none"
    """There are no scenes, so there is nothing to cut."""


VISUAL_WORDS = {"clip": "a clip", "still": "a still", "title": "a title card"}
VISUAL_NOUNS = {"clip": "clip", "still": "still", "title": "title card"}


def cut_scene(scene: Scene, audio_hash: str | None = None) -> CutScene:
    """What this scene puts into the cut now: its clip, else its still, else a title card."""
    if scene.video is not None:
        visual, ref = "clip", scene.video.content_hash
    elif scene.image is not None:
        visual, ref = "still", scene.image.content_hash
    else:
        visual, ref = "title", " ".join(scene.narration.split())
    return {
        "id": scene.id,
        "visual": visual,
        "ref": ref,
        "duration": scene.audio_duration,
        "audio": audio_hash,
    }


def cut_inputs(
    scenes: Sequence[Scene],
    *,
    width: int,
    height: int,
    fps: int,
    audio_hashes: Mapping[int, str | None] | None = None,
) -> CutInputs:
    """The cut's inputs for these scenes in position order.

    `audio_hashes` maps a scene id to its narration audio's content hash (the
    store knows it; the Scene model does not carry it).
    """
    hashes = audio_hashes or {}
    ordered = sorted(scenes, key=lambda scene: scene.position)
    return {
        "width": width,
        "height": height,
        "fps": fps,
        "scenes": [cut_scene(scene, hashes.get(scene.id)) for scene in ordered],
    }


def film_row(
    scene: Scene,
    present: Callable[[str], bool] | None = None,
    unreadable: frozenset[str] = frozenset(),
) -> CutScene:
    """What this scene puts into the film now, with its files as they are on disk.

    A clip that is gone, or that the last export found unreadable (by content
    hash), counts as no clip, so its still or a title card stands in; a still
    that is gone counts as none; narration audio that is gone is silence.
    """

    def there(file: str | None) -> bool:
        return file is not None and (present is None or present(file))

    video, image = scene.video, scene.image
    if video is not None and there(video.file) and video.content_hash not in unreadable:
        visual, ref = "clip", video.content_hash
    elif image is not None and there(image.file):
        visual, ref = "still", image.content_hash
    else:
        visual, ref = "title", " ".join(scene.narration.split())
    return {
        "id": scene.id,
        "visual": visual,
        "ref": ref,
        "duration": scene.audio_duration,
        "audio": scene.audio_hash if there(scene.audio_file) else None,
    }


def film_inputs(
    scenes: Sequence[Scene],
    *,
    width: int,
    height: int,
    fps: int,
    present: Callable[[str], bool] | None = None,
    unreadable: frozenset[str] = frozenset(),
) -> CutInputs:
    """The film's inputs now, scene by scene as `film_row` sees them."""
    rows = [
        film_row(scene, present, unreadable)
        for scene in sorted(scenes, key=lambda scene: scene.position)
    ]
    return {"width": width, "height": height, "fps": fps, "scenes": rows}


def fingerprint(inputs: CutInputs) -> str:
    """A short stable hash of the inputs; equal inputs always give equal prints."""
    return _fingerprint(dict(inputs))


def cut_state(stored: CutInputs | Mapping[str, Any] | None, current: CutInputs) -> CutState:
    if not current["scenes"]:
        return CutState.NONE
    if stored is None:
        return CutState.MISSING
    return CutState.CLEAN if _same(stored, current) else CutState.STALE


def _same(stored: Mapping[str, Any], current: CutInputs) -> bool:
    return fingerprint(_as_inputs(stored)) == fingerprint(current)


def _as_inputs(data: Mapping[str, Any]) -> CutInputs:
    """Stored JSON back as inputs; keys a newer version dropped or added compare as changed."""
    return {
        "width": data.get("width", 0),
        "height": data.get("height", 0),
        "fps": data.get("fps", 0),
        "scenes": list(data.get("scenes", [])),
    }


def _seconds(value: float) -> str:
    """4.2 → "4.2", 3 → "3.0", 4.25 → "4.25": as many decimals as the value has, at least one."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _scene_lines(position: int, old: Mapping[str, Any], new: CutScene) -> list[str]:
    lines: list[str] = []
    where = f"scene {position}"
    if old.get("visual") != new["visual"]:
        was = VISUAL_WORDS.get(str(old.get("visual")), "something else")
        lines.append(f"{where} now {VISUAL_WORDS[new['visual']]}, was {was}")
    elif old.get("ref") != new["ref"]:
        lines.append(f"{where} {VISUAL_NOUNS[new['visual']]} changed")
    old_duration = old.get("duration")
    if old_duration != new["duration"]:
        was = _seconds(float(old_duration)) if isinstance(old_duration, int | float) else "unknown"
        lines.append(f"{where} narration now {_seconds(new['duration'])} s, was {was} s")
    old_audio = old.get("audio")
    if old_audio != new["audio"]:
        if old_audio is None:
            lines.append(f"{where} narration audio added")
        elif new["audio"] is None:
            lines.append(f"{where} narration audio removed")
        else:
            lines.append(f"{where} narration audio changed")
    return lines


def why_cut(
    old: CutInputs | Mapping[str, Any] | None,
    new: CutInputs,
    positions: Mapping[int, int] | None = None,
) -> list[str]:
    """Why the cut made from `old` is not the cut `new` would make, in the creator's words.

    E.g. "scene 3 clip changed", "scene 6 narration now 4.2 s, was 3.1 s",
    "scene 7 added", "scene 4 removed", "scenes reordered", "fps 16 → 24".
    `positions` maps scene id → position as the creator sees it now; by
    default a scene's place in `new` (1-based). Removed scenes are named by
    their old place. Empty when nothing changed.
    """
    if old is None:
        return ["no cut yet"] if new["scenes"] else []
    previous = _as_inputs(old)
    lines: list[str] = []
    if (previous["width"], previous["height"]) != (new["width"], new["height"]):
        lines.append(
            f"size {previous['width']}×{previous['height']} → {new['width']}×{new['height']}"
        )
    if previous["fps"] != new["fps"]:
        lines.append(f"fps {previous['fps']} → {new['fps']}")
    place = {scene["id"]: index + 1 for index, scene in enumerate(new["scenes"])}
    if positions:
        place.update({key: value for key, value in positions.items() if key in place})
    old_by_id: dict[Any, Mapping[str, Any]] = {}
    old_place: dict[Any, int] = {}
    for index, scene in enumerate(previous["scenes"]):
        old_by_id[scene.get("id")] = scene
        old_place[scene.get("id")] = index + 1
    kept_old = [scene.get("id") for scene in previous["scenes"] if scene.get("id") in place]
    kept_new = [scene["id"] for scene in new["scenes"] if scene["id"] in old_by_id]
    if kept_old != kept_new:
        lines.append("scenes reordered")
    for scene in new["scenes"]:
        before = old_by_id.get(scene["id"])
        if before is None:
            lines.append(f"scene {place[scene['id']]} added")
        else:
            lines.extend(_scene_lines(place[scene["id"]], before, scene))
    for scene_id, position in old_place.items():
        if scene_id not in place:
            lines.append(f"scene {position} removed")
    return lines


def cut_status_line(
    old: CutInputs | Mapping[str, Any] | None,
    new: CutInputs,
    positions: Mapping[int, int] | None = None,
    *,
    limit: int = 3,
) -> str:
    """`status`'s line, e.g. "cut: stale (scene 3 clip changed, scene 6 narration now 4.2 s,
    was 3.1 s)"; past `limit` reasons it ends "and N more"."""
    state = cut_state(old, new)
    if state is CutState.NONE:
        return "cut: none (no scenes)"
    if state is CutState.MISSING:
        return "cut: missing (not exported yet)"
    if state is CutState.CLEAN:
        return "cut: up to date"
    reasons = why_cut(old, new, positions) or ["inputs changed"]
    shown = reasons[:limit]
    if len(reasons) > limit:
        shown.append(f"and {len(reasons) - limit} more")
    return f"cut: stale ({', '.join(shown)})"


@dataclass(frozen=True)
class CutRecord:
    """The current film, as the database keeps it: like an asset, with what it was made from."""

    file: str
    """Relative to the project folder when inside it (`exports/film.mp4`), else absolute."""
    content_hash: str
    inputs: Mapping[str, Any]
    """The `CutInputs` it was made from, plus `unreadable`: clips it found corrupt and
    replaced with their stills (so those scenes count as stills until the clip changes)."""
    subtitles: str | None = None
    how: str = ""
    """Whether the video was copied or re-encoded, and why, in words."""
    notes: tuple[str, ...] = ()
    """What the export had to work around, one line each (an unreadable clip)."""
    job_id: int | None = None
    created: datetime | None = None

    @property
    def unreadable(self) -> frozenset[str]:
        found = self.inputs.get("unreadable", [])
        return frozenset(str(item) for item in found) if isinstance(found, list) else frozenset()
