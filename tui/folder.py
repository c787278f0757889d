"""The on-disk shape of a project and the one gate from asset names to paths.

Below the store and the backends, which both need it: a backend writes its
results into the project's asset folders, and never touches the database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tui.domain.models import AssetKind
from tui.errors import StoreError

DB_NAME = "storyboard.db"
CONFIG_NAME = "storyboard.toml"

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".webp", ".mov", ".mkv", ".gif", ".png"})
"""Animated webp and apng are clips too; ComfyUI's savers produce all of these."""

TEMP_PREFIX = ".tmp-"
OWN_NAME = re.compile(r"^scene-\d{4,}-(?P<key>[0-9a-f]{8})\.[a-z0-9]{2,5}$")
"""The app's own naming. Only such files (and their temp names) are ever deleted,
and the sweep deletes only those whose key its own database issued."""
OWN_DIRS = ("images", "videos")
"""The folders under `assets/` that hold files the app makes and replaces."""


def job_key(backend_job_id: str) -> str:
    """The 8 hex digits of a job id that go into its asset's name (`1a2b3c4d`)."""
    return re.sub(r"[^0-9a-f]", "", backend_job_id.lower())[:8].rjust(8, "0")


def asset_name(position: int, backend_job_id: str, suffix: str) -> str:
    """A name unique per job, e.g. `scene-0007-1a2b3c4d.png`."""
    return f"scene-{position:04d}-{job_key(backend_job_id)}{suffix}"


def temp_name(final_name: str) -> str:
    """The name a file is written under before it is renamed to `final_name`."""
    return TEMP_PREFIX + final_name


def owner_key(name: str) -> str | None:
    """The job key in one of the app's own names, or of the final name behind a temp name.

    `None` for anything else: a temp name is ours only if its final name is.
    """
    final = name.removeprefix(TEMP_PREFIX)
    match = OWN_NAME.match(final)
    return match.group("key") if match else None


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
        """Turn a stored asset path into its path under the project, refusing anything
        outside `assets/`.

        Containment is judged on the logical path, not on where a link points:
        `assets/images` may be a symlink to a shared folder and still works. The
        final component is never resolved, so deleting the returned path removes
        a symlink itself, never the file it points at.
        """
        parts = PurePosixPath(relative).parts if relative else ()
        if (
            len(parts) < 2
            or parts[0] != "assets"
            or any(part in ("..", ".") for part in parts)
            or "\\" in relative
            or "\x00" in relative
            or relative != PurePosixPath(relative).as_posix()
        ):
            raise StoreError(f"{relative!r} is outside the project's assets folder")
        return self.root.joinpath(*parts)

    def own_asset(self, relative: str) -> Path:
        """The path of a stored name the app itself made (`assets/images/scene-0007-….png`).

        Refuses any other name: the app deletes only files it named.
        """
        path = self.resolve_asset(relative)
        parts = PurePosixPath(relative).parts
        if len(parts) != 3 or parts[1] not in OWN_DIRS or owner_key(parts[2]) is None:
            raise StoreError(f"{relative!r} is not a file the app made")
        return path

    @classmethod
    def require(cls, path: str | Path) -> ProjectFolder:
        """The project at `path`, or a one-line error saying why not."""
        folder = cls(Path(path).expanduser().absolute())
        if not folder.root.exists():
            raise StoreError(f"{folder.root}: no such project")
        if not folder.exists():
            raise StoreError(f"{folder.root}: not a Storyboard project (no {DB_NAME})")
        return folder


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; best effort (some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
