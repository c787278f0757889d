"""An open project: its folder, database, config and the settings assets are judged against.

The TUI and the CLI both open projects through here, so an edit from either
one goes through the same validation and the same single transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui.backends.registry import BACKEND_NAMES as BACKEND_NAMES
from tui.backends.registry import workflow_ids
from tui.config import ConfigError, ProjectConfig, ServerConfig
from tui.domain.models import (
    AssetKind,
    ProjectInfo,
    RenderSettings,
    Scene,
    set_scene_seconds_limit,
)
from tui.domain.staleness import SceneStatus, scene_status, why
from tui.errors import StoreError
from tui.folder import ProjectFolder
from tui.store.audio import AudioCheck, attach, check_audio
from tui.store.importer import create_project
from tui.store.repository import ProjectStore

__all__ = ["BACKEND_NAMES", "AudioCheck", "BackendChoice", "Project"]


def _server(url: str) -> ServerConfig:
    try:
        return ServerConfig(url=url)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--comfyui {url}: {reason}") from None


@dataclass(frozen=True)
class BackendChoice:
    """Which renderer and servers to use: the one decision, shared by the CLI, the TUI
    and the runner they start.

    `backend` and `servers` are what the user said on the command line (they win
    over the project's storyboard.toml; servers imply ComfyUI); `default_servers`
    are the user's `comfyui_servers`, used when the project lists none.
    """

    backend: str | None = None
    servers: tuple[str, ...] = ()
    default_servers: tuple[str, ...] = field(default=(), compare=False)

    def argv(self) -> list[str]:
        """The same choice as command-line options, for the runner a client starts."""
        args: list[str] = []
        if self.backend:
            args += ["--backend", self.backend]
        for url in self.servers:
            args += ["--comfyui", url]
        return args

    def resolve(self, config: ProjectConfig) -> tuple[str, ProjectConfig]:
        """The backend name and the config to build it from."""
        servers = self.servers
        if not servers and not config.comfyui.servers:
            servers = self.default_servers
        backend = self.backend
        if servers:
            comfyui = config.comfyui.model_copy(
                update={"servers": [_server(url) for url in servers]}
            )
            config = config.model_copy(update={"comfyui": comfyui})
            if self.servers:
                backend = backend or "comfyui"
        return backend or config.default_backend, config


@dataclass
class Project:
    """Everything needed to read, edit and render one project."""

    folder: ProjectFolder
    store: ProjectStore
    info: ProjectInfo
    config: ProjectConfig
    backend_name: str
    settings: RenderSettings

    choice: BackendChoice = field(default_factory=BackendChoice)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        backend: str | None = None,
        servers: Sequence[str] = (),
        choice: BackendChoice | None = None,
    ) -> Project:
        """Open an existing project; `choice` (or `backend` and `servers`) override its config."""
        folder = ProjectFolder.require(path)
        if choice is None:
            choice = BackendChoice(backend, tuple(servers))
        try:
            backend_name, config = choice.resolve(ProjectConfig.load(folder.config_path))
        except ConfigError as error:
            raise StoreError(str(error)) from None
        set_scene_seconds_limit(config.max_scene_seconds)
        store = await ProjectStore.open(folder.db_path)
        try:
            info = await store.project()
            try:
                image_id, video_id = workflow_ids(backend_name, folder, config)
            except ConfigError as error:
                raise StoreError(str(error)) from None
        except BaseException:
            await store.close()
            raise
        await asyncio.to_thread(store.files.refresh)
        settings = RenderSettings(
            width=info.width,
            height=info.height,
            fps=info.fps,
            image_workflow=image_id,
            video_workflow=video_id,
        )
        return cls(folder, store, info, config, backend_name, settings, choice)

    @staticmethod
    async def create(dest: Path, source: Path, notes: list[str] | None = None) -> ProjectFolder:
        """A new project at `dest` from a sample folder or an import file (see the importer)."""
        return await create_project(dest, source, notes)

    async def attach_audio(self, scene: Scene, source: str) -> Scene:
        """Give the scene a narration file (copied in, measured; its length taken)."""
        return await attach(self.store, self.folder, scene, source)

    async def check_audio(self, *, write: bool) -> AudioCheck:
        """Measure narration files that changed on disk; with `write`, store the new lengths."""
        return await check_audio(self.store, self.folder, write=write)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> Project:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def servers(self) -> tuple[str, ...]:
        """The ComfyUI servers this project renders with, as resolved."""
        if self.backend_name != "comfyui":
            return ()
        return tuple(server.url for server in self.config.comfyui.servers)

    async def scenes(self) -> list[Scene]:
        return await self.store.scenes()

    async def edit(self, scene_id: int, changes: Mapping[str, Any]) -> Scene:
        """Save field edits in one transaction; equal values write nothing."""
        return await self.store.update_scene(scene_id, changes)

    def status(self, scene: Scene) -> SceneStatus:
        """Both states; an asset whose file is gone is `missing` (a set lookup, no stat)."""
        return scene_status(scene, self.settings, self.store.files.has)

    def why(self, scene: Scene) -> dict[AssetKind, list[str]]:
        return why(scene, self.settings, self.store.files.has)

    def has_file(self, relative: str) -> bool:
        """Whether a stored asset file is on disk, as of the last `refresh_files()`."""
        return self.store.files.has(relative)

    async def refresh_files(self) -> frozenset[str]:
        """Look again at the asset folders whose mtime moved (a few `stat`s when none did).

        Returns the stored names (`assets/images/…`) that appeared or vanished since
        the last look: the scenes pointing at them must be judged again. The TUI
        calls this from its change poll; the CLI and the runner look at open and
        before deciding a batch.
        """
        return await asyncio.to_thread(self.store.files.refresh)

    def asset_path(self, relative: str) -> Path:
        return self.folder.resolve_asset(relative)
