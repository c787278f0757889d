"""Which renderers exist, and the workflow identity each one stamps on its assets."""

from __future__ import annotations

from tui.backends.base import Backend
from tui.config import ProjectConfig
from tui.errors import StoreError
from tui.folder import ProjectFolder

BACKEND_NAMES = ("draft", "comfyui")

DRAFT_IMAGE_WORKFLOW = "draft-image/1"
DRAFT_VIDEO_WORKFLOW = "draft-video/1"
"""Bump the number when the draft look changes, so old cards honestly turn stale."""


def workflow_ids(name: str, folder: ProjectFolder, config: ProjectConfig) -> tuple[str, str]:
    """The (image, video) workflow ids assets made by backend `name` are stamped with."""
    if name == "draft":
        return DRAFT_IMAGE_WORKFLOW, DRAFT_VIDEO_WORKFLOW
    if name == "comfyui":
        from tui.backends.comfyui.workflows import workflow_ids as comfy_ids

        return comfy_ids(folder, config)
    raise StoreError(f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}")


def create_backend(name: str, folder: ProjectFolder, config: ProjectConfig) -> Backend:
    """A fresh backend; ComfyUI is imported only when it is used."""
    if name == "draft":
        from tui.backends.draft.backend import DraftBackend

        return DraftBackend()
    if name == "comfyui":
        from tui.backends.comfyui.backend import ComfyUIBackend

        return ComfyUIBackend(folder, config)
    raise StoreError(f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}")
