"""Narration audio: files copied in under the app's own names, their length measured by
decoding them, and measured again when they change on disk.

A scene's length is its narration's length, so the audio file, when there is
one, decides `audio_duration`; a changed duration makes the video stale in
the usual way ("narration now 4.2 s, was 3.1 s"). Each scene remembers its
audio file's content hash (the rough cut's fingerprint needs it) and its size
and mtime, so finding a changed file costs a `stat` per file, and only a file
whose stat moved is read again.

A file that cannot be decoded is named in one line and changes nothing else:
the scene keeps the length it had.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tui.domain.edits import EditError, normalize
from tui.domain.models import Scene, round_duration
from tui.errors import StoreError
from tui.folder import ProjectFolder, asset_name, fsync_dir, temp_name
from tui.store.repository import ProjectStore
from tui.store.transaction import Tx

_OWN_AUDIO = re.compile(r"^scene-\d{4,}(-[0-9a-f]{8})?\.[a-z0-9]{2,5}$")
"""Audio names the app gives (`scene-0003-1a2b3c4d.wav`, and `scene-0003.wav` from before)."""
CHUNK = 1 << 20


@dataclass(frozen=True)
class AudioFile:
    """What the database keeps about a narration file."""

    file: str
    """Relative to the project folder, under `assets/audio/`."""
    content_hash: str
    size: int
    mtime: int
    """Nanoseconds."""


def fingerprint_file(path: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns) of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest(), info.st_size, info.st_mtime_ns


def probe(path: Path) -> float:
    """The narration's length in seconds, by decoding it; MediaError names a bad file."""
    from tui.media.audio import probe_duration  # PyAV loads only when audio is read

    return round_duration(probe_duration(path))


def checked_duration(seconds: float, where: str) -> float:
    """A measured length that obeys the scene length rule, or a one-line refusal."""
    try:
        value = normalize("audio_duration", seconds)
    except EditError as error:
        raise EditError(f"{where}: the narration lasts {seconds:g} s; {error.problem}") from None
    return float(value)


def copy_in(source: Path, folder: ProjectFolder, position: int) -> AudioFile:
    """Copy a narration file into `assets/audio/` under a new name of the app's own, the way
    every asset is written: a temp file, fsync, rename, fsync the folder."""
    suffix = source.suffix.lower()
    folder.audio_dir.mkdir(parents=True, exist_ok=True)
    final = folder.audio_dir / asset_name(position, secrets.token_hex(4), suffix)
    temp = final.with_name(temp_name(final.name))
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as reader, open(temp, "xb") as writer:
            for block in iter(lambda: reader.read(CHUNK), b""):
                digest.update(block)
                writer.write(block)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)
    info = final.stat()
    return AudioFile(folder.relative(final), digest.hexdigest(), info.st_size, info.st_mtime_ns)


def remove_audio(folder: ProjectFolder, relative: str | None) -> bool:
    """Delete a replaced narration file, if the app named it; a symlink goes as a link."""
    if not relative:
        return False
    parts = relative.split("/")
    if len(parts) != 3 or parts[:2] != ["assets", "audio"] or not _OWN_AUDIO.match(parts[2]):
        return False
    try:
        path = folder.resolve_asset(relative)
        if not (path.is_symlink() or path.is_file()):
            return False
        path.unlink()
    except (OSError, StoreError):
        return False
    return True


# -- attaching a file to a scene (`storyboard set DIR N audio_file=PATH`) -----------------


async def attach(store: ProjectStore, folder: ProjectFolder, scene: Scene, source: str) -> Scene:
    """Give a scene a new narration file: measure it, copy it in, take its length, in one
    transaction; then delete the file it replaced. An empty `source` removes the audio and
    keeps the length.

    Refusals (no such file, not audio, cannot be decoded, too long) are one line and
    change nothing: the scene keeps its file and its length.
    """
    where = f"scene {scene.position}, audio_file"
    if not source:

        def detach(tx: Tx) -> Scene:
            return tx.set_audio(scene.id, file=None, content_hash=None, size=None, mtime=None)

        updated = await store.atomically(detach)
        remove_audio(folder, scene.audio_file)
        return updated
    path = Path(source).expanduser()
    if not path.is_file():
        raise StoreError(f"{where}: {source}: no such file")
    from tui.media.audio import check_extension
    from tui.media.errors import MediaError

    try:
        check_extension(path)
        seconds = probe(path)
    except MediaError as error:
        raise StoreError(f"{where}: {error}; scene {scene.position} keeps its narration") from None
    duration = checked_duration(seconds, where)
    try:
        copied = copy_in(path, folder, scene.position)
    except OSError as error:
        raise StoreError(f"{where}: cannot copy {source} in ({error.strerror or error})") from None

    def work(tx: Tx) -> Scene:
        return tx.set_audio(
            scene.id,
            file=copied.file,
            content_hash=copied.content_hash,
            size=copied.size,
            mtime=copied.mtime,
            duration=duration,
        )

    try:
        updated = await store.atomically(work)
    except BaseException:
        remove_audio(folder, copied.file)
        raise
    if scene.audio_file != copied.file:
        remove_audio(folder, scene.audio_file)
    return updated


# -- noticing changed files -------------------------------------------------------------


@dataclass(frozen=True)
class AudioChange:
    """A narration file that is not what the database last saw."""

    scene_id: int
    position: int
    file: AudioFile
    duration: float | None
    """The new length, or None when it stays (the file cannot be decoded, or only its
    mtime moved)."""


@dataclass
class AudioCheck:
    """What a look at the narration files found."""

    changes: list[AudioChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per file that cannot be decoded (or is too long): its scene keeps its length."""

    @property
    def durations(self) -> dict[int, tuple[float, str]]:
        """Scene id → (new length, new content hash), for a reader that may not write."""
        return {
            change.scene_id: (change.duration, change.file.content_hash)
            for change in self.changes
            if change.duration is not None
        }


Stamp = tuple[int, int, str, str | None, int | None, int | None]


def look(folder: ProjectFolder, stamps: Sequence[Stamp]) -> AudioCheck:
    """Compare each scene's narration file with what the database saw: a `stat` each, and
    a read (hash, then a decode if the content changed) only where the stat moved.

    Blocking: run it in a thread. A file that is gone is left alone here (the
    cut hears silence; the asset listing says it is missing).
    """
    check = AudioCheck()
    for scene_id, position, relative, known_hash, size, mtime in stamps:
        try:
            path = folder.resolve_asset(relative)
            info = path.stat()
        except (OSError, StoreError):
            continue
        if known_hash is not None and (info.st_size, info.st_mtime_ns) == (size, mtime):
            continue
        try:
            content_hash, new_size, new_mtime = fingerprint_file(path)
        except OSError:
            continue
        facts = AudioFile(relative, content_hash, new_size, new_mtime)
        if content_hash == known_hash:
            check.changes.append(AudioChange(scene_id, position, facts, None))
            continue
        check.changes.append(_measured(path, facts, scene_id, position, check))
    return check


def _measured(
    path: Path, facts: AudioFile, scene_id: int, position: int, check: AudioCheck
) -> AudioChange:
    from tui.media.errors import MediaError

    try:
        duration = checked_duration(probe(path), f"scene {position}, {facts.file}")
    except MediaError as error:
        check.problems.append(f"{error}; scene {position} keeps its length")
        return AudioChange(scene_id, position, facts, None)
    except EditError as error:
        check.problems.append(f"{error}; scene {position} keeps its length")
        return AudioChange(scene_id, position, facts, None)
    return AudioChange(scene_id, position, facts, duration)


async def check_audio(store: ProjectStore, folder: ProjectFolder, *, write: bool) -> AudioCheck:
    """Look at every narration file; with `write`, store what changed in one transaction
    (new lengths, hashes and stamps), so the cascade to the video follows.

    Without `write` (`storyboard status`, which never writes) the caller applies
    `AudioCheck.durations` to what it shows.
    """
    import asyncio

    stamps = await store.read(lambda tx: tx.audio_stamps())
    if not stamps:
        return AudioCheck()
    check = await asyncio.to_thread(look, folder, stamps)
    if write and check.changes:

        def work(tx: Tx) -> None:
            for change in check.changes:
                tx.set_audio(
                    change.scene_id,
                    file=change.file.file,
                    content_hash=change.file.content_hash,
                    size=change.file.size,
                    mtime=change.file.mtime,
                    duration=change.duration,
                )

        await store.atomically(work)
    return check
