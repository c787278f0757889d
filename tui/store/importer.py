"""`storyboard new`: build a project from a storyboard JSON file or a sample folder.

The JSON format is the documented import format. A sample folder holds the
same JSON as `storyboard.json` next to its `assets/`; its scenes may name the
files they ship and, under `made_from`, the older values an asset was made
from, which is how a sample carries deliberately stale scenes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tui.domain.camera import CameraMovement
from tui.domain.models import SEED_LIMIT, Asset, AssetKind, ProjectInfo, RenderSettings
from tui.domain.staleness import image_inputs, video_inputs_from
from tui.store.errors import StoreError
from tui.store.folder import CONFIG_NAME, ProjectFolder, asset_name
from tui.store.repository import ProjectStore

SAMPLE_MANIFEST = "storyboard.json"


class ShippedAsset(BaseModel):
    """A file a sample ships, and the older field values it was made from, if any."""

    model_config = ConfigDict(extra="forbid")

    file: str
    made_from: dict[str, Any] = Field(default_factory=dict)


class SceneIn(BaseModel):
    """One scene of the import format."""

    model_config = ConfigDict(extra="forbid")

    narration: str
    audio_duration: float = Field(ge=0)
    audio_file: str | None = None
    image_prompt: str
    negative_prompt: str = ""
    video_prompt: str
    camera: CameraMovement
    motion: float = Field(ge=0, le=1)
    seed: int | None = Field(default=None, ge=0, lt=SEED_LIMIT)
    image: ShippedAsset | None = None
    video: ShippedAsset | None = None


class StoryboardIn(BaseModel):
    """The import file: a name, an optional picture format, and the scenes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    fps: int | None = Field(default=None, ge=1, le=120)
    width: int | None = Field(default=None, ge=16, le=8192)
    height: int | None = Field(default=None, ge=16, le=8192)
    scenes: list[SceneIn] = Field(min_length=1)


def _where(loc: tuple[int | str, ...]) -> str:
    """`('scenes', 2, 'camera')` → `scene 3, camera`: people count from one."""
    if len(loc) >= 2 and loc[0] == "scenes" and isinstance(loc[1], int):
        rest = ".".join(str(part) for part in loc[2:])
        return f"scene {loc[1] + 1}" + (f", {rest}" if rest else "")
    return ".".join(str(part) for part in loc) or "file"


def describe_validation(error: ValidationError) -> str:
    """All of pydantic's complaints on one line, each naming the scene and the field."""
    parts = [f"{_where(tuple(item['loc']))}: {item['msg']}" for item in error.errors()]
    shown = "; ".join(parts[:3])
    if len(parts) > 3:
        shown += f" (and {len(parts) - 3} more)"
    return shown


def load_source(source: Path) -> tuple[StoryboardIn, Path]:
    """Read and validate a JSON file or a sample folder; returns the data and its base folder."""
    manifest = source / SAMPLE_MANIFEST if source.is_dir() else source
    if not manifest.is_file():
        raise StoreError(f"{source}: no such storyboard file or sample folder")
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"{manifest}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise StoreError(f"{manifest}: not valid JSON ({error})") from None
    try:
        data = StoryboardIn.model_validate(raw)
    except ValidationError as error:
        raise StoreError(f"{manifest}: {describe_validation(error)}") from None
    return data, manifest.parent


def _scene_fields(scene: SceneIn) -> dict[str, Any]:
    return {
        "narration": scene.narration,
        "audio_duration": scene.audio_duration,
        "audio_file": None,
        "image_prompt": scene.image_prompt,
        "negative_prompt": scene.negative_prompt,
        "video_prompt": scene.video_prompt,
        "camera": scene.camera,
        "motion": scene.motion,
        "seed": scene.seed if scene.seed is not None else secrets.randbelow(SEED_LIMIT),
    }


def _copy_in(
    base: Path, name: str, folder: ProjectFolder, kind: AssetKind, position: int
) -> tuple[str, str]:
    """Copy a shipped file under our own name; returns its relative path and content hash."""
    src = base / name
    if not src.resolve().is_relative_to(base.resolve()):
        raise StoreError(f"scene {position}: {name!r} is outside the sample folder")
    if not src.is_file():
        raise StoreError(f"{src}: the sample names this file, but it does not exist")
    data = src.read_bytes()
    name = asset_name(position, secrets.token_hex(4), src.suffix.lower())
    dest = folder.dir_for(kind) / name
    dest.write_bytes(data)
    return folder.relative(dest), hashlib.sha256(data).hexdigest()


def _made_from(inputs: dict[str, Any], shipped: ShippedAsset, position: int) -> dict[str, Any]:
    """The snapshot a shipped file was made from: today's inputs with its older values."""
    unknown = set(shipped.made_from) - set(inputs)
    if unknown:
        raise StoreError(
            f"scene {position}: made_from names unknown inputs {sorted(unknown)}; "
            f"known: {', '.join(inputs)}"
        )
    return {**inputs, **shipped.made_from}


async def _import_assets(
    store: ProjectStore,
    folder: ProjectFolder,
    base: Path,
    data: StoryboardIn,
    ids: list[int],
    settings: RenderSettings,
) -> None:
    created = datetime.now(UTC)
    for position, (scene_in, scene_id) in enumerate(zip(data.scenes, ids, strict=True), start=1):
        scene = await store.scene(scene_id)
        if scene_in.image is not None:
            file, digest = _copy_in(base, scene_in.image.file, folder, AssetKind.IMAGE, position)
            inputs = _made_from(image_inputs(scene, settings), scene_in.image, position)
            image = Asset(
                kind=AssetKind.IMAGE, file=file, content_hash=digest, inputs=inputs, created=created
            )
            await store.set_asset(scene_id, image)
            scene = scene.model_copy(update={"image": image})
        if scene_in.video is not None:
            if scene.image is None:
                raise StoreError(f"scene {position}: a shipped video needs a shipped image")
            file, digest = _copy_in(base, scene_in.video.file, folder, AssetKind.VIDEO, position)
            # The clip was made from the still as shipped, whatever the prompt says now.
            made = video_inputs_from(scene, settings, scene.image)
            inputs = _made_from(made, scene_in.video, position)
            await store.set_asset(
                scene_id,
                Asset(
                    kind=AssetKind.VIDEO,
                    file=file,
                    content_hash=digest,
                    inputs=inputs,
                    created=created,
                ),
            )


async def create_project(dest: Path, source: Path) -> ProjectFolder:
    """Make a new project at `dest` from `source`; never touches an existing folder.

    The project is built in a temporary sibling and renamed into place, so a
    failed import leaves nothing behind.
    """
    dest = dest.expanduser().absolute()
    if (dest / "storyboard.db").exists():
        raise StoreError(f"{dest}: a project already exists here; refusing to overwrite it")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"{dest}: already exists and is not empty; refusing to overwrite it")
    data, base = load_source(source)
    info = ProjectInfo(
        name=data.name,
        width=data.width or ProjectInfo.model_fields["width"].default,
        height=data.height or ProjectInfo.model_fields["height"].default,
        fps=data.fps or ProjectInfo.model_fields["fps"].default,
    )
    settings = RenderSettings(width=info.width, height=info.height, fps=info.fps)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.creating-", dir=dest.parent))
    except OSError as error:
        raise StoreError(f"{dest}: cannot create ({error.strerror})") from None
    try:
        folder = ProjectFolder(staging)
        folder.ensure_layout()
        store = await ProjectStore.open(folder.db_path, create=True)
        try:
            await store.init_project(info)
            fields = [_scene_fields(scene) for scene in data.scenes]
            for position, (scene, values) in enumerate(zip(data.scenes, fields, strict=True), 1):
                if scene.audio_file:
                    values["audio_file"] = _copy_audio(base / scene.audio_file, folder, position)
            ids = await store.add_scenes(fields)
            await _import_assets(store, folder, base, data, ids, settings)
        finally:
            await store.close()
        if source.is_dir():
            _copy_extras(source, folder)
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ProjectFolder(dest)


def _copy_audio(src: Path, folder: ProjectFolder, position: int) -> str | None:
    """Audio is optional: a named file that is absent is skipped, not fatal."""
    if not src.is_file():
        return None
    dest = folder.audio_dir / f"scene-{position:04d}{src.suffix.lower()}"
    shutil.copyfile(src, dest)
    return folder.relative(dest)


def _copy_extras(source: Path, folder: ProjectFolder) -> None:
    if (source / CONFIG_NAME).is_file():
        shutil.copyfile(source / CONFIG_NAME, folder.config_path)
    if (source / "workflows").is_dir():
        shutil.copytree(source / "workflows", folder.workflows_dir)
