"""Asset files on disk: the atomic write, and the start-up sweep.

The order of a replacement is what makes a crash harmless: the new file is
complete under its final name before the database points at it, and the old
file is deleted only after the database stopped pointing at it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from tui.store.folder import OWN_NAME, TEMP_PREFIX, ProjectFolder

Writer = Callable[[Path, bytes], None]
"""Writes bytes to a final path atomically; swapped in tests to simulate a full disk."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(folder: Path) -> None:
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


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: the final name is never half-written."""
    temp = path.with_name(TEMP_PREFIX + path.name)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_quietly(path: Path) -> None:
    """Deleting a replaced file is best effort: a leftover is swept on the next open."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def sweep(folder: ProjectFolder, referenced: Iterable[str]) -> list[Path]:
    """Remove temp files, and files in the app's own naming that no scene points at.

    Anything else in `assets/` (the user's own files) is never touched.
    """
    keep = {folder.root / name for name in referenced}
    removed: list[Path] = []
    for directory in (folder.images_dir, folder.videos_dir):
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if not entry.is_file():
                continue
            stale_temp = entry.name.startswith(TEMP_PREFIX)
            orphan = OWN_NAME.match(entry.name) is not None and entry not in keep
            if stale_temp or orphan:
                remove_quietly(entry)
                removed.append(entry)
    return removed
