"""Which asset files are on disk, known a folder at a time instead of a stat per scene.

A deleted still must read as `missing` everywhere, yet a 10,000-scene list
cannot stat 20,000 files on every key press. The asset folders are few, and
deleting, adding or renaming a file in one changes that folder's mtime; so
each folder is listed once (one `scandir`), and looked at again only when its
mtime moved. Between looks, "is this file there?" is a set lookup.

When to look is the caller's choice: at open, before deciding what a batch
will make, and whenever the TUI's change poll calls `refresh()` (three
`stat`s when nothing changed). A name the listing lacks is checked with one
stat, so files made since the last look (by the runner) are never missing.
A folder changed within the last two seconds is listed again at the next
look whatever its mtime says, so a file system with coarse timestamps cannot
hide a deletion made in the same tick.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui.folder import ProjectFolder

WATCHED = ("images", "videos", "audio")
"""The folders under `assets/` whose files scenes point at."""
RACY_SECONDS = 2.0


@dataclass
class _Listing:
    names: frozenset[str] = frozenset()
    stamp: tuple[int, int, int] | None = None
    """(device, inode, mtime_ns) of the folder when it was listed; None: never listed."""
    racy: bool = True
    since: set[str] = field(default_factory=set)
    """Names not in the listing that a stat found since: files made after it."""
    absent: set[str] = field(default_factory=set)
    """Names not in the listing that a stat confirmed absent, so they are not stat'ed again."""


@dataclass
class AssetFiles:
    """The regular files in a project's asset folders, as of the last `refresh()`."""

    folder: ProjectFolder
    _listings: dict[str, _Listing] = field(default_factory=dict)
    _loaded: bool = False

    def __post_init__(self) -> None:
        for sub in WATCHED:
            self._listings[f"assets/{sub}"] = _Listing()

    def refresh(self) -> frozenset[str]:
        """Look at each folder whose mtime moved (or that changed very recently); returns the
        stored names (`assets/images/…`) that appeared or vanished since the last look."""
        flipped: set[str] = set()
        first = not self._loaded
        self._loaded = True
        for prefix, listing in self._listings.items():
            path = self.folder.root / prefix
            stamp = _stamp(path)
            if stamp is not None and stamp == listing.stamp and not listing.racy:
                continue
            names = _list(path) if stamp is not None else frozenset()
            if not first:
                known = listing.names | listing.since
                flipped.update(f"{prefix}/{name}" for name in names ^ known)
            listing.names = names
            listing.since = set()
            listing.absent = set()
            listing.stamp = stamp
            listing.racy = stamp is not None and time.time_ns() - stamp[2] < RACY_SECONDS * 1e9
        return frozenset(flipped)

    def has(self, relative: str) -> bool:
        """Whether a stored asset name is a file on disk.

        A name in the listing counts as there until the next `refresh()` says
        otherwise: that is the one check a deletion waits for. A name the
        listing lacks is a file made since (by the runner, say) or a file
        gone: one stat tells which, and the answer is kept until the next
        refresh, so a new file never shows as missing and a gone one costs a
        single stat.
        """
        prefix, _, name = relative.rpartition("/")
        listing = self._listings.get(prefix)
        if listing is None:  # not one of the asset folders: ask the disk
            return (self.folder.root / relative).is_file()
        if not self._loaded:
            self.refresh()
        if name in listing.names or name in listing.since:
            return True
        if name in listing.absent:
            return False
        if (self.folder.root / relative).is_file():
            listing.since.add(name)
            return True
        listing.absent.add(name)
        return False


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)  # follows a symlinked folder to where the files are
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns)


def _list(path: Path) -> frozenset[str]:
    """Regular files (or links to one) in the folder; a dangling link is no file."""
    try:
        with os.scandir(path) as entries:
            return frozenset(entry.name for entry in entries if entry.is_file())
    except OSError:
        return frozenset()
