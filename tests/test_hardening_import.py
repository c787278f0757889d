"""Issue 10 items 2 and 8, Issue 14: an import file is untrusted input, refused in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import storyboard_json
from tui.errors import StoreError
from tui.store.importer import (
    STAGING_LOCK,
    UNLOCKED_GRACE,
    clear_stale_staging,
    create_project,
    load_source,
    staging_prefix,
)

WriteJson = Callable[..., Path]


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".creating-" in p.name)


async def refused(dest: Path, source: Path, *needles: str) -> str:
    """Import, expect a one-line StoreError, and check that nothing was left behind."""
    with pytest.raises(StoreError) as caught:
        await create_project(dest, source)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert not dest.exists()
    assert leftovers(dest.parent) == []
    return message


# -- Issue 10 item 2: every path resolves inside the import folder -------------------


@pytest.fixture
def story(tmp_path: Path) -> Path:
    """An import folder with a story file and one audio file of its own."""
    folder = tmp_path / "story"
    (folder / "audio").mkdir(parents=True)
    (folder / "audio" / "01.wav").write_bytes(b"RIFF mine")
    return folder


def write_story(folder: Path, **scene3: Any) -> Path:
    data = storyboard_json(4)
    data["scenes"][2].update(scene3)
    path = folder / "story.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "audio_file",
    [
        "/etc/passwd",
        "../../../../../../../../proc/self/environ",
        "../secret.wav",
        "audio/../../secret.wav",
    ],
)
async def test_an_audio_path_outside_the_import_folder_is_refused(
    tmp_path: Path, story: Path, audio_file: str
) -> None:
    """Issue 10 item 2: an absolute path or a climb out of the import folder is refused
    with "scene 3, audio_file: outside the import folder", and nothing is copied."""
    (tmp_path / "secret.wav").write_bytes(b"not yours")
    source = write_story(story, audio_file=audio_file)
    await refused(tmp_path / "film", source, "scene 3, audio_file: outside the import folder")


async def test_an_audio_symlink_out_of_the_import_folder_is_refused(
    tmp_path: Path, story: Path
) -> None:
    """Issue 10 item 2: a link inside the folder that points outside resolves outside."""
    (tmp_path / "secret.wav").write_bytes(b"not yours")
    (story / "audio" / "link.wav").symlink_to(tmp_path / "secret.wav")
    source = write_story(story, audio_file="audio/link.wav")
    await refused(tmp_path / "film", source, "scene 3, audio_file: outside the import folder")


async def test_an_absent_audio_file_outside_is_refused_too(tmp_path: Path, story: Path) -> None:
    """Issue 10 item 2: the check does not depend on the file existing."""
    source = write_story(story, audio_file="/nonexistent/x.wav")
    await refused(tmp_path / "film", source, "scene 3, audio_file: outside the import folder")


async def test_audio_inside_the_folder_is_still_copied(tmp_path: Path, story: Path) -> None:
    """Issue 10 item 2: a guard: the import's own audio still comes along."""
    source = write_story(story, audio_file="audio/01.wav")
    folder = await create_project(tmp_path / "film", source)
    [copied] = folder.audio_dir.glob("scene-0003-*.wav")
    assert copied.read_bytes() == b"RIFF mine"


async def test_a_sample_workflow_linked_outside_is_refused(tmp_path: Path) -> None:
    """Issue 10 item 2: a sample's workflows/ cannot smuggle in a file from elsewhere."""
    sample = tmp_path / "sample"
    (sample / "workflows").mkdir(parents=True)
    (sample / "storyboard.json").write_text(json.dumps(storyboard_json(2)), encoding="utf-8")
    (tmp_path / "private.json").write_text("{}", encoding="utf-8")
    (sample / "workflows" / "image.json").symlink_to(tmp_path / "private.json")
    await refused(tmp_path / "film", sample, "workflows/image.json: outside the import folder")


# -- Issue 14 and Issue 10 item 8: bad values name the scene and the field ---------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('"audio_duration": Infinity', "scene 2, audio_duration: must be a finite number"),
        ('"audio_duration": NaN', "scene 2, audio_duration: must be a finite number"),
        ('"audio_duration": 1e308', "scene 2, audio_duration: must be over 0 and at most 600"),
        ('"audio_duration": 1e999', "scene 2, audio_duration: must be a finite number"),
        ('"audio_duration": 4800', "scene 2, audio_duration: must be over 0 and at most 600"),
        ('"audio_duration": 0', "scene 2, audio_duration: must be over 0 and at most 600"),
        ('"seed": "\\u0661\\u0662"', "scene 2, seed: must be a whole number"),
        ('"motion": -0.5', "scene 2, motion: must be between 0 and 1"),
        ('"image_prompt": "bad \\ud800 text"', "scene 2, image_prompt: is not valid text"),
    ],
)
def test_a_bad_value_names_its_scene_and_field(tmp_path: Path, text: str, needle: str) -> None:
    """Issue 14 / Issue 10 item 8: `audio_duration: Infinity` (and 1e308, and 4800) are
    refused naming the scene and the field, in the edit rules' own words."""
    scenes = storyboard_json(3)["scenes"]
    second = json.dumps(scenes[1])
    key = text.split(":")[0]
    body = json.loads(second)
    body.pop(key.strip('"'), None)
    patched = json.dumps(body)[:-1] + f", {text}}}"
    raw = (
        '{"name": "x", "scenes": ['
        + ", ".join([json.dumps(scenes[0]), patched, json.dumps(scenes[2])])
        + "]}"
    )
    source = tmp_path / "story.json"
    source.write_text(raw, encoding="utf-8")
    with pytest.raises(StoreError) as caught:
        load_source(source)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_deeply_nested_import_is_refused_in_one_line(tmp_path: Path) -> None:
    """Issue 14: 100,000 `[` give a one-line error, not a RecursionError traceback."""
    source = tmp_path / "story.json"
    source.write_text('{"name": "x", "scenes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(StoreError, match="nested too deeply"):
        load_source(source)


def test_an_unpaired_surrogate_anywhere_is_named(tmp_path: Path) -> None:
    """Issue 14: text no file system or database can take is refused where it is."""
    data = storyboard_json(2)
    source = tmp_path / "story.json"
    text = json.dumps(data).replace('"Test film"', '"Test \\udcff film"')
    source.write_text(text, encoding="utf-8")
    with pytest.raises(StoreError, match=r"name: is not valid text"):
        load_source(source)


# -- Issue 14: a killed `new` leaves a staging folder; the next `new` clears it ----------

HOLD = """
import sys, tempfile, time
from pathlib import Path
from tui.store.importer import _hold_staging, staging_prefix
dest = Path(sys.argv[1])
staging = Path(tempfile.mkdtemp(prefix=staging_prefix(dest), dir=dest.parent))
lock = _hold_staging(staging)
print(staging, flush=True)
time.sleep(60)
"""


def start_holder(dest: Path) -> tuple[subprocess.Popen[str], Path]:
    """A real process in the middle of a `new`: its staging folder exists and is locked."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(dest)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, "the holder did not start"
    return process, Path(line)


@pytest.mark.slow
async def test_a_killed_new_leaves_nothing_for_long_and_a_live_one_is_left_alone(
    tmp_path: Path, write_json: WriteJson
) -> None:
    """Issue 14: the next `new` removes the staging folder of a killed `new`, but never
    the one another live `new` is using right now."""
    dest = tmp_path / "film"
    source = write_json(storyboard_json(2))
    killed, dead_staging = start_holder(dest)
    live, live_staging = start_holder(dest)
    try:
        (dead_staging / "storyboard.db").write_bytes(b"half a project")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)

        folder = await create_project(dest, source)

        assert folder.exists()
        assert not dead_staging.exists(), "the killed run's folder is cleared"
        assert live_staging.is_dir(), "the live run's folder is left alone"
        assert (live_staging / STAGING_LOCK).exists()
    finally:
        live.kill()
        live.wait(timeout=10)
    assert clear_stale_staging(dest) == [live_staging]


def test_only_this_names_old_unlocked_staging_folders_are_cleared(tmp_path: Path) -> None:
    """Issue 14: an unlocked folder is stale only once older than a moment, and only the
    folders of this destination's name are looked at."""
    dest = tmp_path / "film"
    old = tmp_path / (staging_prefix(dest) + "old00000")
    young = tmp_path / (staging_prefix(dest) + "young000")
    other = tmp_path / (staging_prefix(tmp_path / "other") + "old00000")
    for folder in (old, young, other):
        folder.mkdir()
    long_ago = time.time() - UNLOCKED_GRACE - 5
    for folder in (old, other):
        os.utime(folder, (long_ago, long_ago))
    assert clear_stale_staging(dest) == [old]
    assert young.is_dir() and other.is_dir()


async def test_an_import_follows_the_scene_length_setting(
    tmp_path: Path, write_json: WriteJson
) -> None:
    """Issue 10 item 8: the limit is one setting: raised, a longer scene imports whole."""
    from tui.domain.models import scene_seconds_limit, set_scene_seconds_limit

    data = storyboard_json(2)
    data["scenes"][1]["audio_duration"] = 900
    source = write_json(data)
    with pytest.raises(StoreError, match="scene 2, audio_duration: must be over 0 and at most 600"):
        load_source(source)
    before = scene_seconds_limit()
    set_scene_seconds_limit(1200)
    try:
        folder = await create_project(tmp_path / "film", source)
    finally:
        set_scene_seconds_limit(before)
    assert folder.exists()
