"""Staleness by fingerprint: an asset is dirty exactly when its inputs differ from the scene's.

Nothing here stores a dirty flag. Every answer is derived from the snapshot an
asset was made from and the scene as it is now, so reverting an edit makes the
asset clean again and no code path can forget to set or clear a flag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.domain.camera import CameraMovement
from tui.domain.models import Asset, AssetKind, AssetState, InputSnapshot, RenderSettings, Scene

IMAGE_INPUT_KEYS = ("image_prompt", "negative_prompt", "seed", "workflow", "width", "height")
VIDEO_INPUT_KEYS = (
    "video_prompt",
    "camera",
    "motion",
    "duration",
    "fps",
    "image_hash",
    "image_inputs",
    "workflow",
)


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """A short stable hash of an input snapshot; key order never matters."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def image_inputs(scene: Scene, settings: RenderSettings) -> InputSnapshot:
    """What the scene's image should be made from now."""
    return {
        "image_prompt": scene.image_prompt,
        "negative_prompt": scene.negative_prompt,
        "seed": scene.seed,
        "workflow": settings.image_workflow,
        "width": settings.width,
        "height": settings.height,
    }


def video_inputs(scene: Scene, settings: RenderSettings) -> InputSnapshot:
    """What the scene's video should be made from now.

    It names the current still by content hash and by the fingerprint of the
    image's *intended* inputs: an image prompt edit therefore makes the video
    stale at once, and a new still keeps it stale until the video is remade.
    """
    return {
        "video_prompt": scene.video_prompt,
        "camera": CameraMovement(scene.camera).value,
        "motion": scene.motion,
        "duration": scene.audio_duration,
        "fps": settings.fps,
        "image_hash": scene.image.content_hash if scene.image else None,
        "image_inputs": fingerprint(image_inputs(scene, settings)),
        "workflow": settings.video_workflow,
    }


def video_inputs_from(scene: Scene, settings: RenderSettings, still: Asset) -> InputSnapshot:
    """The snapshot of a video made now from `still`.

    It records which still was used and what that still was made from, so the
    video is clean only while that still is current and itself clean.
    """
    inputs = video_inputs(scene, settings)
    inputs["image_hash"] = still.content_hash
    inputs["image_inputs"] = fingerprint(still.inputs)
    return inputs


def current_inputs(scene: Scene, kind: AssetKind, settings: RenderSettings) -> InputSnapshot:
    if kind is AssetKind.IMAGE:
        return image_inputs(scene, settings)
    return video_inputs(scene, settings)


def asset_state(scene: Scene, kind: AssetKind, settings: RenderSettings) -> AssetState:
    """Clean, dirty, missing (a prompt but no file) or none (no prompt)."""
    asset = scene.asset(kind)
    if asset is None:
        return AssetState.MISSING if scene.prompt(kind).strip() else AssetState.NONE
    if asset.inputs != current_inputs(scene, kind, settings):
        return AssetState.DIRTY
    return AssetState.CLEAN


@dataclass(frozen=True, slots=True)
class SceneStatus:
    """Both asset states of a scene, computed together."""

    image: AssetState
    video: AssetState

    def of(self, kind: AssetKind) -> AssetState:
        return self.image if kind is AssetKind.IMAGE else self.video


def scene_status(scene: Scene, settings: RenderSettings) -> SceneStatus:
    return SceneStatus(
        image=asset_state(scene, AssetKind.IMAGE, settings),
        video=asset_state(scene, AssetKind.VIDEO, settings),
    )


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(key: str, old: Any, new: Any) -> str:
    """One why-dirty line in the words a creator would use."""
    match key:
        case "image_prompt" | "negative_prompt" | "video_prompt":
            return f"{key.replace('_', ' ')} changed"
        case "duration":
            return f"narration now {new:.1f} s, was {old:.1f} s"
        case "motion":
            return f"motion: {old:.2f} → {new:.2f}"
        case "image_hash":
            return "image was removed" if new is None else "image was regenerated"
        case _:
            return f"{key}: {_short(old)} → {_short(new)}"


def diff_inputs(
    stored: Mapping[str, Any], current: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ, in the current snapshot's order."""
    keys = list(current) + [key for key in stored if key not in current]
    return [
        (key, stored.get(key), current.get(key))
        for key in keys
        if stored.get(key) != current.get(key)
    ]


def why(scene: Scene, settings: RenderSettings) -> dict[AssetKind, list[str]]:
    """The field-by-field reasons each asset is not clean, e.g. `camera: static → pan_left`."""
    image_lines = _why_kind(scene, AssetKind.IMAGE, settings)
    video_lines: list[str] = []
    video = scene.video
    if video is None:
        if scene.video_prompt.strip():
            video_lines.append("no video yet")
    else:
        current = video_inputs(scene, settings)
        for key, old, new in diff_inputs(video.inputs, current):
            if key == "image_inputs":
                if scene.image is not None and image_lines:
                    video_lines.append("image is stale: " + "; ".join(image_lines))
                elif video.inputs.get("image_hash") == current["image_hash"]:
                    video_lines.append("image inputs changed")
                # Otherwise the new-still line below already says it.
            else:
                video_lines.append(_describe(key, old, new))
    return {AssetKind.IMAGE: image_lines, AssetKind.VIDEO: video_lines}


def _why_kind(scene: Scene, kind: AssetKind, settings: RenderSettings) -> list[str]:
    asset = scene.asset(kind)
    if asset is None:
        return [f"no {kind.value} yet"] if scene.prompt(kind).strip() else []
    current = current_inputs(scene, kind, settings)
    return [_describe(key, old, new) for key, old, new in diff_inputs(asset.inputs, current)]
