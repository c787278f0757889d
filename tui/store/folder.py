"""The on-disk shape of a project and the one gate from asset names to paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tui.domain.models import AssetKind
from tui.store.errors import StoreError

DB_NAME = "storyboard.db"
CONFIG_NAME = "storyboard.toml"

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".webp", ".mov", ".mkv", ".gif", ".png"})
"""Animated webp and apng are clips too; ComfyUI's savers produce all of these."""

TEMP_PREFIX = ".tmp-"
OWN_NAME = re.compile(r"^scene-\d{4,}-[0-9a-f]{8}\.[a-z0-9]{2,5}$")
"""Files the app made itself; only these (and temp files) are ever swept."""


def asset_name(position: int, job_key: str, suffix: str) -> str:
    """A name unique per job, e.g. `scene-0007-1a2b3c4d.png`."""
    key = re.sub(r"[^0-9a-f]", "", job_key.lower())[:8].rjust(8, "0")
    return f"scene-{position:04d}-{key}{suffix}"


def safe_suffix(name: str, kind: AssetKind) -> str:
    """The extension of a server-supplied name, if it is one we accept for `kind`.

    The rest of the name is never used: files are always renamed to our own
    pattern, so `../../x.png` cannot become a path.
    """
    plain = PurePosixPath(name.replace("\\", "/"))
    if plain.name != name or name.startswith(".") or any(ord(c) < 32 for c in name):
        raise StoreError(f"refusing output {name!r}: not a plain file name")
    suffix = plain.suffix.lower()
    allowed = IMAGE_SUFFIXES if kind is AssetKind.IMAGE else VIDEO_SUFFIXES
    if suffix not in allowed:
        raise StoreError(f"refusing output {name!r}: not a {kind.value} file type")
    return suffix


@dataclass(frozen=True)
class ProjectFolder:
    """Paths inside one project folder."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def assets_dir(self) -> Path:
        return self.root / "assets"

    @property
    def images_dir(self) -> Path:
        return self.assets_dir / "images"

    @property
    def videos_dir(self) -> Path:
        return self.assets_dir / "videos"

    @property
    def audio_dir(self) -> Path:
        return self.assets_dir / "audio"

    @property
    def workflows_dir(self) -> Path:
        return self.root / "workflows"

    def dir_for(self, kind: AssetKind) -> Path:
        return self.images_dir if kind is AssetKind.IMAGE else self.videos_dir

    def exists(self) -> bool:
        return self.db_path.is_file()

    def ensure_layout(self) -> None:
        for folder in (self.images_dir, self.videos_dir, self.audio_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def relative(self, path: Path) -> str:
        """The project-relative, slash-separated form stored in the database."""
        return path.relative_to(self.root).as_posix()

    def resolve_asset(self, relative: str) -> Path:
        """Turn a stored asset path into a real path, refusing anything outside `assets/`."""
        candidate = (self.root / relative).resolve()
        assets = self.assets_dir.resolve()
        if not candidate.is_relative_to(assets):
            raise StoreError(f"{relative!r} is outside the project's assets folder")
        return candidate

    @classmethod
    def require(cls, path: str | Path) -> ProjectFolder:
        """The project at `path`, or a one-line error saying why not."""
        folder = cls(Path(path).expanduser().absolute())
        if not folder.root.exists():
            raise StoreError(f"{folder.root}: no such project")
        if not folder.exists():
            raise StoreError(f"{folder.root}: not a Storyboard project (no {DB_NAME})")
        return folder
