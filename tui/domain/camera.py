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
        """Human wording for menus and why-dirty lines."""
        return _LABELS[self]

    @property
    def wan_pose(self) -> str:
        """The WanCameraEmbedding `camera_pose` value for this move."""
        return WAN_CAMERA_POSES[self]


_LABELS: dict[CameraMovement, str] = {
    CameraMovement.STATIC: "static",
    CameraMovement.PAN_LEFT: "pan left",
    CameraMovement.PAN_RIGHT: "pan right",
    CameraMovement.PAN_UP: "pan up",
    CameraMovement.PAN_DOWN: "pan down",
    CameraMovement.ZOOM_IN: "zoom in",
    CameraMovement.ZOOM_OUT: "zoom out",
    CameraMovement.ROLL_CW: "roll clockwise",
    CameraMovement.ROLL_CCW: "roll anticlockwise",
}

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
