"""An open project: its folder, database, config and the settings assets are judged against.

The TUI and the CLI both open projects through here, so an edit from either
one goes through the same validation and the same single transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui.backends.registry import workflow_ids
from tui.config import ConfigError, ProjectConfig, ServerConfig
from tui.domain.models import AssetKind, ProjectInfo, RenderSettings, Scene
from tui.domain.staleness import SceneStatus, scene_status, why
from tui.store.errors import StoreError
from tui.store.folder import ProjectFolder
from tui.store.repository import ProjectStore


def _server(url: str) -> ServerConfig:
    try:
        return ServerConfig(url=url)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--comfyui {url}: {reason}") from None


@dataclass
class Project:
    """Everything needed to read, edit and render one project."""

    folder: ProjectFolder
    store: ProjectStore
    info: ProjectInfo
    config: ProjectConfig
    backend_name: str
    settings: RenderSettings

    @classmethod
    async def open(
        cls, path: str | Path, *, backend: str | None = None, servers: Sequence[str] = ()
    ) -> Project:
        """Open an existing project; `backend` and `servers` override its config."""
        folder = ProjectFolder.require(path)
        try:
            config = ProjectConfig.load(folder.config_path)
            if servers:
                comfyui = config.comfyui.model_copy(
                    update={"servers": [_server(url) for url in servers]}
                )
                config = config.model_copy(update={"comfyui": comfyui})
                backend = backend or "comfyui"
        except ConfigError as error:
            raise StoreError(str(error)) from None
        store = await ProjectStore.open(folder.db_path)
        try:
            info = await store.project()
            backend_name = backend or config.default_backend
            try:
                image_id, video_id = workflow_ids(backend_name, folder, config)
            except ConfigError as error:
                raise StoreError(str(error)) from None
        except BaseException:
            await store.close()
            raise
        settings = RenderSettings(
            width=info.width,
            height=info.height,
            fps=info.fps,
            image_workflow=image_id,
            video_workflow=video_id,
        )
        return cls(folder, store, info, config, backend_name, settings)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> Project:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def name(self) -> str:
        return self.info.name

    async def scenes(self) -> list[Scene]:
        return await self.store.scenes()

    async def edit(self, scene_id: int, changes: Mapping[str, Any]) -> Scene:
        """Save field edits in one transaction; equal values write nothing."""
        return await self.store.update_scene(scene_id, changes)

    def status(self, scene: Scene) -> SceneStatus:
        return scene_status(scene, self.settings)

    def why(self, scene: Scene) -> dict[AssetKind, list[str]]:
        return why(scene, self.settings)

    def asset_path(self, relative: str) -> Path:
        return self.folder.resolve_asset(relative)
