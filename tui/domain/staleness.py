"""Staleness by fingerprint: an asset is dirty exactly when its inputs differ from the scene's.

Nothing here stores a dirty flag. Every answer is derived from the snapshot an
asset was made from and the scene as it is now, so reverting an edit makes the
asset clean again and no code path can forget to set or clear a flag.

Leading and trailing whitespace is not part of a prompt's identity: the
snapshots compare prompts trimmed, so an Enter at the end of a prompt (or a
snapshot stored before this rule, with the whitespace in it) dirties nothing.

A scene with an empty (or whitespace-only) prompt has state `none` for that
asset, file or not: there is nothing to make. An existing file is kept and
still shown; "why" says so in one line.

An asset whose file is gone from disk is `missing`, like one never made. The
domain does no I/O: callers pass `present`, a check of a stored file name
(the store answers it from a listing of the asset folders, not a stat per
scene). Without it, every stored file counts as present.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tui.domain.camera import CAMERA_LABELS, CameraMovement
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
PROMPT_KEYS = frozenset({"image_prompt", "negative_prompt", "video_prompt"})

Present = Callable[[str], bool]
"""Whether a stored asset file (`assets/images/…`) is on disk now."""


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """A short stable hash of an input snapshot; key order never matters."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def canonical(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot as it is compared: prompts trimmed, everything else as stored."""
    return {
        key: value.strip() if key in PROMPT_KEYS and isinstance(value, str) else value
        for key, value in inputs.items()
    }


def same_inputs(stored: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether an asset made from `stored` is what `current` asks for."""
    return stored == current or canonical(stored) == canonical(current)


def image_inputs(scene: Scene, settings: RenderSettings) -> InputSnapshot:
    """What the scene's image should be made from now (prompts trimmed)."""
    return {
        "image_prompt": scene.image_prompt.strip(),
        "negative_prompt": scene.negative_prompt.strip(),
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

    While the still is what the scene intends (or the image prompt is empty,
    so the still is all there is), the intended inputs are the still's own, and
    their fingerprint is taken from its stored snapshot exactly as a video made
    from it recorded them: a snapshot from before prompts were trimmed stays clean.
    """
    still = scene.image
    intended = image_inputs(scene, settings)
    if still is not None and (
        not scene.image_prompt.strip() or same_inputs(still.inputs, intended)
    ):
        image_ref = fingerprint(still.inputs)
    else:
        image_ref = fingerprint(intended)
    return {
        "video_prompt": scene.video_prompt.strip(),
        "camera": CameraMovement(scene.camera).value,
        "motion": scene.motion,
        "duration": scene.audio_duration,
        "fps": settings.fps,
        "image_hash": still.content_hash if still else None,
        "image_inputs": image_ref,
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


def gone(asset: Asset | None, present: Present | None) -> bool:
    """An asset the database records whose file is not on disk."""
    return asset is not None and present is not None and not present(asset.file)


def asset_state(
    scene: Scene, kind: AssetKind, settings: RenderSettings, present: Present | None = None
) -> AssetState:
    """Clean, dirty, missing (a prompt but no file, or its file is gone) or none (no prompt,
    file or not)."""
    if not scene.prompt(kind).strip():
        return AssetState.NONE
    asset = scene.asset(kind)
    if asset is None or gone(asset, present):
        return AssetState.MISSING
    if not same_inputs(asset.inputs, current_inputs(scene, kind, settings)):
        return AssetState.DIRTY
    return AssetState.CLEAN


@dataclass(frozen=True, slots=True)
class SceneStatus:
    """Both asset states of a scene, computed together."""

    image: AssetState
    video: AssetState

    def of(self, kind: AssetKind) -> AssetState:
        return self.image if kind is AssetKind.IMAGE else self.video


def scene_status(
    scene: Scene, settings: RenderSettings, present: Present | None = None
) -> SceneStatus:
    return SceneStatus(
        image=asset_state(scene, AssetKind.IMAGE, settings, present),
        video=asset_state(scene, AssetKind.VIDEO, settings, present),
    )


# -- why: the reasons, in the creator's words ------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """One why-dirty line: `text` in the creator's words, `detail` the technical rest.

    `detail` may be empty; a view shows it dim after the text ("image workflow
    changed · draft-image/1 → comfyui:3d4403a45448"). Both may quote the user's
    text, so show them through a sanitizer.
    """

    text: str
    detail: str = ""

    def __str__(self) -> str:
        return self.text


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _camera(value: Any) -> str:
    """The label the TUI's camera menu shows; a value we do not know, as stored."""
    try:
        return CAMERA_LABELS[CameraMovement(value)]
    except ValueError:
        return _short(value)


def _seconds(old: Any, new: Any) -> tuple[str, str]:
    """Two durations with the fewest decimals (1 to 3) that tell them apart."""
    if not (isinstance(old, int | float) and isinstance(new, int | float)):
        return _short(old), _short(new)
    for places in (1, 2, 3):
        a, b = f"{old:.{places}f}", f"{new:.{places}f}"
        if a != b:
            break
    return a, b


def _motion(value: Any) -> str:
    return f"{value + 0.0:.2f}" if isinstance(value, int | float) else _short(value)


def _describe(kind: AssetKind, key: str, old: Any, new: Any) -> Reason:
    """One why-dirty reason in the words a creator would use."""
    match key:
        case "image_prompt" | "negative_prompt" | "video_prompt":
            return Reason(f"{key.replace('_', ' ')} changed", f"“{_short(old)}” → “{_short(new)}”")
        case "duration":
            was, now = _seconds(old, new)
            return Reason(f"narration now {now} s, was {was} s")
        case "motion":
            return Reason(f"motion: {_motion(old)} → {_motion(new)}")
        case "camera":
            return Reason(f"camera: {_camera(old)} → {_camera(new)}")
        case "seed":
            return Reason(f"seed: {_short(old)} → {_short(new)}")
        case "fps":
            return Reason(f"frame rate: {_short(old)} → {_short(new)} fps")
        case "workflow":
            return Reason(f"{kind.value} workflow changed", f"{_short(old)} → {_short(new)}")
        case "image_hash":
            return Reason("image was removed" if new is None else "image was regenerated")
        case _:
            return Reason(f"{key.replace('_', ' ')} changed", f"{_short(old)} → {_short(new)}")


def diff_inputs(
    stored: Mapping[str, Any], current: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ (prompts compared trimmed), in the current snapshot's order."""
    stored, current = canonical(stored), canonical(current)
    keys = list(current) + [key for key in stored if key not in current]
    return [
        (key, stored.get(key), current.get(key))
        for key in keys
        if stored.get(key) != current.get(key)
    ]


def _diff_reasons(
    kind: AssetKind, stored: Mapping[str, Any], current: Mapping[str, Any]
) -> list[Reason]:
    """Field-by-field reasons; width and height read as one picture size."""
    diffs = diff_inputs(stored, current)
    keys = {key for key, _, _ in diffs}
    out: list[Reason] = []
    for key, old, new in diffs:
        if key in ("width", "height"):
            if key == "height" and "width" in keys:
                continue  # said together with the width
            was = f"{_short(stored.get('width'))}×{_short(stored.get('height'))}"
            now = f"{_short(current.get('width'))}×{_short(current.get('height'))}"
            out.append(Reason(f"picture size: {was} → {now}"))
            continue
        out.append(_describe(kind, key, old, new))
    return out


def _kept(kind: AssetKind, asset: Asset | None) -> list[Reason]:
    """A `none` asset: nothing to make, and an old file, if any, stays."""
    if asset is None:
        return []
    return [Reason(f"no {kind.value} prompt; the old {kind.value} is kept", asset.file)]


def reasons(
    scene: Scene,
    settings: RenderSettings,
    present: Present | None = None,
    status: SceneStatus | None = None,
) -> dict[AssetKind, list[Reason]]:
    """Why each asset is not clean, as `Reason`s: empty exactly for a clean asset
    or a `none` one without a file. `status`, if the caller has it, saves judging twice."""
    if status is None:
        status = scene_status(scene, settings, present)
    image_state = status.image
    image = _reasons_of(scene, AssetKind.IMAGE, image_state, settings)
    video_state = status.video
    if video_state is not AssetState.DIRTY or scene.video is None:
        video = _reasons_of(scene, AssetKind.VIDEO, video_state, settings)
        return {AssetKind.IMAGE: image, AssetKind.VIDEO: video}
    current = video_inputs(scene, settings)
    video = []
    for key, old, new in diff_inputs(scene.video.inputs, current):
        if key == "image_inputs":
            if image_state is AssetState.DIRTY:
                video.append(
                    Reason(
                        "image is stale: " + "; ".join(r.text for r in image),
                        "; ".join(r.detail for r in image if r.detail),
                    )
                )
            elif scene.video.inputs.get("image_hash") == current["image_hash"]:
                video.append(Reason("image inputs changed"))
            # Otherwise the new-still line already says it.
        else:
            video.extend(_diff_reasons(AssetKind.VIDEO, {key: old}, {key: new}))
    return {AssetKind.IMAGE: image, AssetKind.VIDEO: video}


def _reasons_of(
    scene: Scene, kind: AssetKind, state: AssetState, settings: RenderSettings
) -> list[Reason]:
    asset = scene.asset(kind)
    if state is AssetState.NONE:
        return _kept(kind, asset)
    if state is AssetState.MISSING:
        if asset is not None:
            return [Reason(f"the {kind.value} file is gone", asset.file)]
        return [Reason(f"no {kind.value} yet")]
    if state is AssetState.CLEAN or asset is None:
        return []
    return _diff_reasons(kind, asset.inputs, current_inputs(scene, kind, settings))


def why(
    scene: Scene,
    settings: RenderSettings,
    present: Present | None = None,
    status: SceneStatus | None = None,
) -> dict[AssetKind, list[str]]:
    """The reasons as plain lines, e.g. `camera: Static → Pan left`; see `reasons`."""
    found = reasons(scene, settings, present, status)
    return {kind: [r.text for r in lines] for kind, lines in found.items()}
