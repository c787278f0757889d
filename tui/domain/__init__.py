"""Pure domain: scenes, assets, staleness. No I/O and no Textual."""

from tui.domain.camera import CAMERA_NAMES, CameraMovement
from tui.domain.models import (
    Asset,
    AssetKind,
    AssetState,
    InputSnapshot,
    ProjectInfo,
    RenderSettings,
    Scene,
)
from tui.domain.staleness import (
    Reason,
    SceneStatus,
    asset_state,
    fingerprint,
    reasons,
    scene_status,
    why,
)

__all__ = [
    "CAMERA_NAMES",
    "Asset",
    "AssetKind",
    "AssetState",
    "CameraMovement",
    "InputSnapshot",
    "ProjectInfo",
    "Reason",
    "RenderSettings",
    "Scene",
    "SceneStatus",
    "asset_state",
    "fingerprint",
    "reasons",
    "scene_status",
    "why",
]
