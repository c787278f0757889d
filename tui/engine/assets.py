"""Asset files on disk: the atomic write, the removal of a replaced file, and the start-up sweep.

The order of a replacement is what makes a crash harmless: the new file is
complete under its final name before the database points at it, and the old
file is deleted only after the database stopped pointing at it.

The app deletes only regular files that it named itself. A symlink is removed
as a link and never followed, so a user's own file that an asset name points
at is never touched; and the sweep deletes only names whose job key this
project's database issued, so two projects sharing one asset folder never
delete each other's files.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from tui.errors import StoreError
from tui.folder import (
    OWN_DIRS,
    TEMP_PREFIX,
    ProjectFolder,
    fsync_dir,
    job_key,
    owner_key,
    temp_name,
)

Writer = Callable[[Path, bytes], None]
"""Writes bytes to a final path atomically; swapped in tests to simulate a full disk."""

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: the final name is never half-written.

    The temp file is created fresh (`O_EXCL`, `O_NOFOLLOW`): a leftover temp name
    that is a symlink is removed as a link, never written through.
    """
    temp = path.with_name(temp_name(path.name))
    _unlink_entry(temp)
    try:
        fd = os.open(temp, _CREATE_FLAGS | getattr(os, "O_CLOEXEC", 0), 0o644)
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        _unlink_entry(temp)
        raise
    fsync_dir(path.parent)


def _unlink_entry(path: Path) -> bool:
    """Remove a regular file or a symlink (the link itself); anything else is left alone.

    `unlink` never follows the last component, so a link's target survives.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        return False
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def remove_quietly(path: Path) -> None:
    """Best-effort removal of a file the caller just wrote under its own name.

    A symlink is removed as a link. Deleting a *stored* asset goes through
    `remove_asset`, which also checks that the name is the app's own.
    """
    _unlink_entry(path)


def remove_asset(folder: ProjectFolder, relative: str) -> bool:
    """Delete a replaced asset by its stored name, if the app made it; True if removed.

    Only `assets/images/` and `assets/videos/` names in the app's own pattern
    qualify, and only a regular file or a symlink (removed as a link) is
    deleted. Best effort: a leftover is swept on a later start.
    """
    try:
        path = folder.own_asset(relative)
    except StoreError:
        return False
    return _unlink_entry(path)


def sweep(
    folder: ProjectFolder, referenced: Iterable[str], own_keys: Iterable[str] = ()
) -> list[Path]:
    """Remove our temp files, and our files that no scene points at any more.

    Args:
        folder: The project.
        referenced: The stored names (`assets/images/…`) the database points at now.
        own_keys: Every job id (or its 8-hex key) this project's database ever
            issued. A file is this project's only if its name carries one of
            these keys or it is referenced; a temp name is ours only if its final
            name is. Without them only the referenced names' keys count, which
            errs on the side of keeping files. Anything else (the user's files,
            another project's files in a shared folder) is never touched.
    """
    keep = set(referenced)
    keys = {job_key(key) for key in own_keys}
    for name in keep:
        key = owner_key(name.rpartition("/")[2])
        if key is not None:
            keys.add(key)
    removed: list[Path] = []
    for sub in OWN_DIRS:
        directory = folder.assets_dir / sub
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            key = owner_key(entry.name)
            if key is None or key not in keys:
                continue
            temp = entry.name.startswith(TEMP_PREFIX)
            if not temp and f"assets/{sub}/{entry.name}" in keep:
                continue
            path = directory / entry.name
            if _unlink_entry(path):
                removed.append(path)
    return removed
