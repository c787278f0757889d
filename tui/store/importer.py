"""`storyboard new`: build a project from a storyboard JSON file or a sample folder.

The JSON format is the documented import format. A sample folder holds the
same JSON as `storyboard.json` next to its `assets/`; its scenes may name the
files they ship and, under `made_from`, the older values an asset was made
from, which is how a sample carries deliberately stale scenes.

An import file is untrusted input. Its scene fields pass the same gate as an
edit (`tui.domain.edits.normalize`), and every path in it must resolve inside
the import's folder: nothing else on the machine is ever copied in.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tui.domain.camera import CameraMovement
from tui.domain.edits import EditError, normalize
from tui.domain.models import SEED_LIMIT, Asset, AssetKind, ProjectInfo, RenderSettings
from tui.domain.staleness import image_inputs, video_inputs_from
from tui.errors import StoreError
from tui.folder import CONFIG_NAME, ProjectFolder, asset_name
from tui.store import audio
from tui.store.repository import ProjectStore
from tui.textsafe import visible

SAMPLE_MANIFEST = "storyboard.json"
OUTSIDE = "outside the import folder"
STAGING_LOCK = ".creating.lock"
"""Held (flock) by a running `new` inside its staging folder, so a later `new` can
tell a live build from one left behind by a killed process."""
UNLOCKED_GRACE = 60.0
"""A staging folder without a lock is stale once this old (seconds): a live `new`
is without one only in its first instant and its last."""


class ShippedAsset(BaseModel):
    """A file a sample ships, and the older field values it was made from, if any."""

    model_config = ConfigDict(extra="forbid")

    file: str
    made_from: dict[str, Any] = Field(default_factory=dict)


class SceneIn(BaseModel):
    """One scene of the import format; each field obeys the same rules as an edit."""

    model_config = ConfigDict(extra="forbid")

    narration: str
    audio_duration: float
    audio_file: str | None = None
    image_prompt: str
    negative_prompt: str = ""
    video_prompt: str
    camera: CameraMovement
    motion: float
    seed: int | None = None
    image: ShippedAsset | None = None
    video: ShippedAsset | None = None

    @field_validator(
        "narration",
        "image_prompt",
        "negative_prompt",
        "video_prompt",
        "camera",
        "motion",
        "audio_duration",
        "seed",
        mode="before",
    )
    @classmethod
    def _edit_rules(cls, value: Any, info: ValidationInfo) -> Any:
        """One gate for `set`, the TUI and imports: ASCII numbers, bounds, finite values."""
        field = info.field_name
        assert field is not None
        if field == "seed" and value is None:
            return None
        return normalize(field, value)


class StoryboardHead(BaseModel):
    """The import file around its scenes: a name and an optional picture format.

    The scenes are validated one at a time (`SceneIn`) and kept as plain
    `ImportedScene`s, so a 100,000-scene import never holds 100,000 models.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    fps: int | None = Field(default=None, ge=1, le=120)
    width: int | None = Field(default=None, ge=16, le=8192)
    height: int | None = Field(default=None, ge=16, le=8192)
    scenes: list[Any] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class ImportedScene:
    """One validated scene of an import, with its values in their stored form."""

    narration: str
    audio_duration: float
    audio_file: str | None
    image_prompt: str
    negative_prompt: str
    video_prompt: str
    camera: CameraMovement
    motion: float
    seed: int | None
    image: ShippedAsset | None
    video: ShippedAsset | None

    @classmethod
    def of(cls, scene: SceneIn) -> ImportedScene:
        return cls(
            narration=scene.narration,
            audio_duration=scene.audio_duration,
            audio_file=scene.audio_file,
            image_prompt=scene.image_prompt,
            negative_prompt=scene.negative_prompt,
            video_prompt=scene.video_prompt,
            camera=scene.camera,
            motion=scene.motion,
            seed=scene.seed,
            image=scene.image,
            video=scene.video,
        )


@dataclass(frozen=True)
class StoryboardIn:
    """A validated import file."""

    name: str
    fps: int | None
    width: int | None
    height: int | None
    scenes: list[ImportedScene]


def _where(loc: tuple[int | str, ...]) -> str:
    """`('scenes', 2, 'camera')` → `scene 3, camera`: people count from one."""
    if len(loc) >= 2 and loc[0] == "scenes" and isinstance(loc[1], int):
        rest = ".".join(str(part) for part in loc[2:])
        return f"scene {loc[1] + 1}" + (f", {rest}" if rest else "")
    return ".".join(str(part) for part in loc) or "file"


def _complaint(item: Any) -> str:
    """Pydantic's message, or the edit rule's own words without the field repeated."""
    problem = (item.get("ctx") or {}).get("error")
    if isinstance(problem, EditError):
        return problem.problem
    return str(item["msg"])


def complaints(error: ValidationError, at: tuple[int | str, ...] = ()) -> list[str]:
    """Pydantic's complaints, each naming the scene and the field (`at` is where the
    validated value sits in the file)."""
    return [f"{_where((*at, *tuple(item['loc'])))}: {_complaint(item)}" for item in error.errors()]


def one_line_of(parts: list[str]) -> str:
    """The first three complaints on one line, and how many more there are."""
    shown = "; ".join(parts[:3])
    if len(parts) > 3:
        shown += f" (and {len(parts) - 3} more)"
    return shown


def describe_validation(error: ValidationError) -> str:
    """All of pydantic's complaints on one line, each naming the scene and the field."""
    return one_line_of(complaints(error))


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(raw: Any) -> tuple[int | str, ...] | None:
    """Where the file holds a lone `\\udXXX` escape: text no file system or database takes.

    Iterative, so no nesting depth can exhaust the stack.
    """
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), raw)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return loc
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return loc
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))
    return None


def load_source(source: Path) -> tuple[StoryboardIn, Path]:
    """Read and validate a JSON file or a sample folder; returns the data and its base folder.

    Scene lengths are checked against `tui.domain.models.scene_seconds_limit()`,
    the one limit the store also applies.
    """
    manifest = source / SAMPLE_MANIFEST if source.is_dir() else source
    if not manifest.is_file():
        raise StoreError(f"{source}: no such storyboard file or sample folder")
    try:
        text = manifest.read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"{manifest}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise StoreError(f"{manifest}: not valid JSON ({error})") from None
    except RecursionError:
        raise StoreError(f"{manifest}: not valid JSON (nested too deeply)") from None
    # A lone surrogate can only come from a `\\udXXX` escape (the file is UTF-8), so
    # the walk over every value is needed only when the text holds one.
    where = _unpaired_surrogate(raw) if _SURROGATE_ESCAPE.search(text) else None
    if where is not None:
        raise StoreError(
            f"{manifest}: {_where(where)}: is not valid text (an unpaired surrogate escape)"
        )
    del text
    try:
        return _validate(raw), manifest.parent
    except ValueError as error:
        raise StoreError(f"{manifest}: {error}") from None
    except RecursionError:
        raise StoreError(f"{manifest}: nested too deeply") from None


def _validate(raw: Any) -> StoryboardIn:
    """The file's head, then each scene on its own (each raw scene is dropped once read);
    raises ValueError with every complaint on one line."""
    parts: list[str] = []
    head: StoryboardHead | None = None
    try:
        head = StoryboardHead.model_validate(raw)
    except ValidationError as error:
        parts += complaints(error)
    found = raw.get("scenes") if isinstance(raw, dict) else None
    scenes: list[ImportedScene] = []
    if isinstance(found, list):
        for index, item in enumerate(found):
            try:
                scenes.append(ImportedScene.of(SceneIn.model_validate(item)))
            except ValidationError as error:
                parts += complaints(error, ("scenes", index))
            found[index] = None
    if parts or head is None:
        raise ValueError(one_line_of(parts))
    return StoryboardIn(head.name, head.fps, head.width, head.height, scenes)


def _inside(base: Path, name: str, where: str) -> Path:
    """The file an import names, resolved; refused unless it lies inside the import folder.

    Absolute paths, `..` climbs and symlinks out of the folder all resolve
    outside it. The resolved path is what gets copied, so what was checked is
    what is read.
    """
    try:
        root = base.resolve()
        path = (base / name).resolve()
    except (OSError, RuntimeError, ValueError):
        raise StoreError(f"{where}: not a usable path") from None
    if path == root or not path.is_relative_to(root):
        raise StoreError(f"{where}: {OUTSIDE}")
    return path


def _scene_fields(scene: ImportedScene) -> dict[str, Any]:
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
    src = _inside(base, name, f"scene {position}, {kind.value}.file")
    if not src.is_file():
        raise StoreError(f"{base / name}: the sample names this file, but it does not exist")
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
        if scene_in.image is None and scene_in.video is None:
            continue  # most imports ship no files: no need to read the scene back
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


async def create_project(dest: Path, source: Path, notes: list[str] | None = None) -> ProjectFolder:
    """Make a new project at `dest` from `source`; never touches an existing folder.

    The project is built in a temporary sibling and renamed into place, so a
    failed import leaves nothing behind; one left by a killed `new` is cleared
    by the next `new` of the same name. `notes` receives a line per scene whose
    narration audio says something other than the file did (the audio wins), or
    cannot be decoded (the file's number stays).
    """
    notes = [] if notes is None else notes
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
        clear_stale_staging(dest)
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(dest), dir=dest.parent))
    except OSError as error:
        raise StoreError(f"{dest}: cannot create ({error.strerror})") from None
    lock: int | None = None
    try:
        lock = _hold_staging(staging)
        folder = ProjectFolder(staging)
        folder.ensure_layout()
        store = await ProjectStore.open(folder.db_path, create=True)
        try:
            await store.init_project(info)
            audio = {
                position: _import_audio(base, scene, folder, position, notes)
                for position, scene in enumerate(data.scenes, 1)
                if scene.audio_file
            }
            rows = (
                {**_scene_fields(scene), **audio.get(position, {})}
                for position, scene in enumerate(data.scenes, 1)
            )
            ids = await store.add_scenes(rows, normalized=True)
            await _import_assets(store, folder, base, data, ids, settings)
        finally:
            await store.close()
        if source.is_dir():
            _copy_extras(source, folder)
        (staging / STAGING_LOCK).unlink()
        os.close(lock)
        lock = None
        try:
            if dest.exists():
                dest.rmdir()
            staging.rename(dest)
        except OSError as error:
            raise StoreError(
                f"{dest}: cannot create ({error.strerror}); did another `new` make it first?"
            ) from None
    except BaseException:
        if lock is not None:
            os.close(lock)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ProjectFolder(dest)


def staging_prefix(dest: Path) -> str:
    """`.film.creating-`: the hidden sibling a project named `film` is built in."""
    return f".{dest.name}.creating-"


def _hold_staging(staging: Path) -> int:
    """Lock the staging folder for as long as this `new` runs; returns the open lock."""
    fd = os.open(staging / STAGING_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_stale(staging: Path) -> bool:
    """Whether no live `new` is building in `staging`.

    A lock that can be taken belongs to a process that died (the kernel drops a
    dead process's flocks); no lock at all is stale once older than a moment.
    """
    try:
        fd = os.open(staging / STAGING_LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            return time.time() - staging.lstat().st_mtime > UNLOCKED_GRACE
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live `new` holds it
    finally:
        os.close(fd)
    return True


def clear_stale_staging(dest: Path) -> list[Path]:
    """Remove the staging folders of earlier `new`s of `dest` that were killed.

    Only folders named for this destination and not held by a live `new`.
    """
    prefix = staging_prefix(dest)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(dest.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if _is_stale(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _import_audio(
    base: Path, scene: ImportedScene, folder: ProjectFolder, position: int, notes: list[str]
) -> dict[str, Any]:
    """A scene's narration file, measured and copied in: its stored fields.

    The measured length wins over the file's `audio_duration`, with a note when
    they differ by more than 0.1 s; a file that cannot be decoded is noted and
    the number stays. A named file that is absent is skipped (audio is
    optional); one outside the import folder is refused, absent or not, and so
    is one that is not narration audio by its name.
    """
    from tui.media.audio import check_extension, durations_differ
    from tui.media.errors import MediaError

    assert scene.audio_file is not None
    where = f"scene {position}, audio_file"
    src = _inside(base, scene.audio_file, where)
    if not src.is_file():
        return {}
    shown = visible(scene.audio_file)
    try:
        check_extension(scene.audio_file)
    except MediaError as error:
        raise StoreError(f"{where}: {error}") from None
    duration = scene.audio_duration
    try:
        measured = audio.checked_duration(audio.probe(src), where)
    except MediaError as error:
        reason = str(error).removeprefix(f"{src}: ")
        notes.append(f"scene {position}: {shown} {reason}; keeping audio_duration {duration:g} s")
    else:
        if durations_differ(measured, duration):
            notes.append(
                f"scene {position}: {shown} lasts {measured:.2f} s, the import says "
                f"{duration:g} s; using {measured:.2f} s"
            )
        duration = measured
    try:
        copied = audio.copy_in(src, folder, position)
    except OSError as error:
        raise StoreError(f"{where}: cannot copy {shown} ({error.strerror or error})") from None
    return {
        "audio_file": copied.file,
        "audio_hash": copied.content_hash,
        "audio_size": copied.size,
        "audio_mtime": copied.mtime,
        "audio_duration": duration,
    }


def _copy_extras(source: Path, folder: ProjectFolder) -> None:
    """A sample's storyboard.toml and workflows/, if every file lies inside the sample."""
    config = source / CONFIG_NAME
    if config.is_file():
        shutil.copyfile(_inside(source, CONFIG_NAME, CONFIG_NAME), folder.config_path)
    workflows = source / "workflows"
    if workflows.is_dir():
        _inside(source, "workflows", "workflows")
        for path in workflows.rglob("*"):
            relative = path.relative_to(source).as_posix()
            _inside(source, relative, relative)
        shutil.copytree(workflows, folder.workflows_dir)
