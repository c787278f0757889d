"""Camera moves, named once here and mapped per workflow elsewhere."""

from __future__ import annotations

from enum import StrEnum


class CameraMovement(StrEnum):
    """The nine moves of ComfyUI's WanCameraEmbedding, under stable names of our own.

    Our names are what the database and the import format store, so a
    workflow that spells its poses differently only needs a mapping table.
    """

    STATIC = "static"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    ROLL_CW = "roll_cw"
    ROLL_CCW = "roll_ccw"

    @property
    def label(self) -> str:
        """The creator's wording, as the TUI's camera menu and why-dirty lines show it."""
        return CAMERA_LABELS[self]

    @property
    def wan_pose(self) -> str:
        """The WanCameraEmbedding `camera_pose` value for this move."""
        return WAN_CAMERA_POSES[self]


CAMERA_LABELS: dict[CameraMovement, str] = {
    CameraMovement.STATIC: "Static",
    CameraMovement.PAN_LEFT: "Pan left",
    CameraMovement.PAN_RIGHT: "Pan right",
    CameraMovement.PAN_UP: "Pan up",
    CameraMovement.PAN_DOWN: "Pan down",
    CameraMovement.ZOOM_IN: "Zoom in",
    CameraMovement.ZOOM_OUT: "Zoom out",
    CameraMovement.ROLL_CW: "Roll clockwise",
    CameraMovement.ROLL_CCW: "Roll anticlockwise",
}
"""The one source of camera wording: the TUI's menu and the why-dirty lines both use it."""

CAMERA_OPTIONS: tuple[tuple[str, CameraMovement], ...] = tuple(
    (CAMERA_LABELS[move], move) for move in CameraMovement
)
"""(label, value) pairs in menu order, ready for a select widget."""

WAN_CAMERA_POSES: dict[CameraMovement, str] = {
    CameraMovement.STATIC: "Static",
    CameraMovement.PAN_LEFT: "Pan Left",
    CameraMovement.PAN_RIGHT: "Pan Right",
    CameraMovement.PAN_UP: "Pan Up",
    CameraMovement.PAN_DOWN: "Pan Down",
    CameraMovement.ZOOM_IN: "Zoom In",
    CameraMovement.ZOOM_OUT: "Zoom Out",
    CameraMovement.ROLL_CW: "ClockWise (CW)",
    CameraMovement.ROLL_CCW: "Anti Clockwise (ACW)",
}

CAMERA_NAMES: tuple[str, ...] = tuple(move.value for move in CameraMovement)
