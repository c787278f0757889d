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
from tui.domain.staleness import SceneStatus, asset_state, fingerprint, scene_status, why

__all__ = [
    "CAMERA_NAMES",
    "Asset",
    "AssetKind",
    "AssetState",
    "CameraMovement",
    "InputSnapshot",
    "ProjectInfo",
    "RenderSettings",
    "Scene",
    "SceneStatus",
    "asset_state",
    "fingerprint",
    "scene_status",
    "why",
]
