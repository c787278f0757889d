"""The editor session without a terminal: unsaved edits, saving, requests, other windows.

Issue 11: the rules the TUI depends on live in plain Python and are tested here
with a real project, a real database and an in-process runner, no Textual.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.conftest import storyboard_json
from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tui.domain.models import AssetKind, AssetState
from tui.engine.project import Project
from tui.store.importer import create_project
from tui.ui.session import EditorSession, Outcome, SessionOptions

IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


@pytest.fixture
async def root(tmp_path: Path) -> Path:
    source = tmp_path / "story.json"
    source.write_text(json.dumps(storyboard_json(3)), encoding="utf-8")
    return (await create_project(tmp_path / "film", source)).root


@pytest.fixture
async def session(root: Path) -> AsyncIterator[EditorSession]:
    launcher = InProcessLauncher(InstantBackend())
    opened = EditorSession(
        SessionOptions(root, launcher=launcher, poll_interval=0.05, save_delay=0.05)
    )
    await opened.open()
    await opened.judge_all()
    await opened.follow_jobs()
    yield opened
    await opened.close()
    await launcher.aclose()


async def saved(root: Path, position: int) -> tuple[str, int]:
    async with await Project.open(root) as project:
        scene = await project.store.scene_at(position)
        return scene.image_prompt, scene.seed


async def test_an_edit_shows_at_once_and_is_saved_after_the_pause(
    session: EditorSession, root: Path
) -> None:
    """Markers follow the unsaved text; the database gets it after `save_delay`."""
    assert session.board is not None
    first = session.board.order[0]
    session.edit(first, "image_prompt", "a storm at sea")
    shown = session.scene(first)
    assert shown is not None and shown.image_prompt == "a storm at sea"
    assert session.drafts(first) == {"image_prompt": "a storm at sea"}
    assert session.take_changes().touched == {first}
    await until(lambda: not session.drafts(first), 2)
    assert (await saved(root, 1))[0] == "a storm at sea"


async def test_close_saves_what_is_typed_without_waiting_for_the_pause(root: Path) -> None:
    """Quit and hang-up lose nothing: close() saves pending edits first."""
    session = EditorSession(SessionOptions(root, save_delay=60))
    await session.open()
    assert session.board is not None
    session.edit(session.board.order[1], "image_prompt", "typed just before the link dropped")
    await session.close()
    assert (await saved(root, 2))[0] == "typed just before the link dropped"


async def test_a_refused_value_is_reported_and_the_old_value_kept(
    session: EditorSession, root: Path
) -> None:
    """Issue 12 item 18: clearing the seed says why it was not saved, instead of nothing."""
    assert session.board is not None
    first = session.board.order[0]
    before = await saved(root, 1)
    session.edit(first, "seed", "")
    await session.settle()
    changes = session.take_changes()
    assert "seed" in changes.errors[first]
    assert await saved(root, 1) == before
    assert session.drafts(first) == {}


async def test_a_regeneration_saves_the_typed_prompt_first(
    session: EditorSession, root: Path
) -> None:
    """The job is made from what is on screen, not from the last save."""
    assert session.board is not None
    first = session.board.order[0]
    session.edit(first, "image_prompt", "typed, not yet saved")
    result = await session.regenerate(first, IMAGE)
    assert result.outcome is Outcome.QUEUED
    assert (await saved(root, 1))[0] == "typed, not yet saved"
    client = session.client
    assert client is not None
    job = (await client.project.store.jobs())[0]
    assert job.params["image_prompt"] == "typed, not yet saved"


async def test_requests_come_back_as_outcomes_the_screen_can_word(
    session: EditorSession,
) -> None:
    """Refused, queued, up to date: typed outcomes, the text only at the edge."""
    assert session.board is not None
    first = session.board.order[0]
    refused = await session.regenerate(first, VIDEO)
    assert refused.outcome is Outcome.REFUSED
    assert "Cannot generate video without an image" in refused.message
    batch = await session.batch([IMAGE])
    assert batch.outcome is Outcome.QUEUED and batch.plan is not None
    assert len(batch.plan.queued) == 3
    await until(lambda: not session.jobs.active, 10)
    again = await session.regenerate(first, IMAGE)
    assert again.outcome is Outcome.UP_TO_DATE
    videos = await session.batch([VIDEO])
    assert videos.outcome is Outcome.QUEUED and videos.waiting_videos == 0


async def test_another_windows_edit_reaches_the_board(session: EditorSession, root: Path) -> None:
    """A `storyboard set` in another shell shows up without anyone asking."""
    assert session.board is not None
    second = session.board.order[1]
    async with await Project.open(root) as other:
        await other.edit(second, {"camera": "zoom_in"})
    await until(
        lambda: (
            session.board is not None and session.board.scenes[second].camera.value == "zoom_in"
        ),
        5,
    )
    changes = session.take_changes()
    assert second in changes.scenes


async def test_a_finished_run_is_reported_once(session: EditorSession) -> None:
    """The closing summary of a run comes with the changes, exactly once."""
    await session.batch([IMAGE])
    summaries = []
    async with asyncio.timeout(10):
        while not summaries:
            changes = session.take_changes()
            if changes.finished is not None:
                summaries.append(changes.finished)
            await asyncio.sleep(0.01)
    assert summaries[0].images == 3
    assert session.take_changes().finished is None
    assert session.status(session.board.scenes[session.board.order[0]]).image is AssetState.CLEAN  # type: ignore[union-attr]


async def test_a_deleted_still_turns_its_scene_missing_on_screen(root: Path) -> None:
    """Issue 10 item 9 in the TUI: the change poll notices a file gone, no stat per key."""
    launcher = InProcessLauncher(InstantBackend())
    session = EditorSession(SessionOptions(root, launcher=launcher, poll_interval=0.05))
    await session.open()
    await session.follow_jobs()
    try:
        await session.batch([IMAGE])
        await until(lambda: not session.jobs.active, 10)
        assert session.board is not None
        first = session.board.order[0]
        scene = session.board.scenes[first]
        assert scene.image is not None and session.board.status(first).image is AssetState.CLEAN
        session.take_changes()
        (root / scene.image.file).unlink()
        await until(lambda: first in session.take_changes().scenes, 5)
        assert session.board.status(first).image is AssetState.MISSING
    finally:
        await session.close()
        await launcher.aclose()


async def test_the_inspector_media_and_a_storyboard_come_from_the_files_on_disk(
    session: EditorSession,
) -> None:
    """What the inspector shows and what `P` plays: a clip only where its file exists, else
    the still (or a title card) for the narration's length; a clip's length is the
    narration's until its file has been read (here it cannot be: the bytes are no video)."""
    board = session.board
    assert board is not None
    first, second, third = board.order
    assert (await session.both(first)).outcome is Outcome.QUEUED
    await until(lambda: (scene := session.scene(first)) is not None and scene.video is not None)
    assert (await session.regenerate(second, IMAGE)).outcome is Outcome.QUEUED
    await until(lambda: (scene := session.scene(second)) is not None and scene.image is not None)

    made = session.scene(first)
    assert made is not None and made.video is not None
    media = session.media_of(made)
    assert media.still is not None and media.still.is_file()
    assert media.video is not None and media.video.name == media.video_name
    assert (media.video_seconds, media.video_measured) == (made.audio_duration, False)
    assert await session.clip_length(made) is None  # not a real clip: nothing measured
    assert session.media_of(made).video_measured is False
    assert session.media_of(board.scenes[third]).still is None

    items = session.play_items([first, second, third, 10_000])
    assert [item.scene_id for item in items] == [first, second, third]
    assert items[0].clip == media.video
    assert items[1].clip is None and items[1].still is not None and items[1].still.is_file()
    assert items[2].clip is None and items[2].still is None
    assert [item.seconds for item in items] == [
        board.scenes[scene_id].audio_duration for scene_id in (first, second, third)
    ]
    media.video.unlink()  # deleted behind our back: the storyboard shows the still instead
    assert session.play_items([first])[0].clip is None


async def test_an_edit_being_written_still_shows_as_typed(
    session: EditorSession, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the write is in flight the edit is still unsaved: the scene and its drafts
    show it, so the markers and a field just left never flash back to the old value (and
    `drafts` empties only once the database has it)."""
    assert session.board is not None and session.project is not None
    first = session.board.order[0]
    started, go_on = asyncio.Event(), asyncio.Event()
    write = session.project.edit

    async def slow_write(scene_id: int, changes: dict[str, object]) -> object:
        started.set()
        await go_on.wait()
        return await write(scene_id, changes)

    monkeypatch.setattr(session.project, "edit", slow_write)
    session.edit(first, "image_prompt", "a storm at sea")
    session.flush()
    await asyncio.wait_for(started.wait(), 5)
    shown = session.scene(first)
    assert shown is not None and shown.image_prompt == "a storm at sea"
    assert session.drafts(first) == {"image_prompt": "a storm at sea"}
    go_on.set()
    await until(lambda: not session.drafts(first), 5)
    assert (await saved(root, 1))[0] == "a storm at sea"
    shown = session.scene(first)
    assert shown is not None and shown.image_prompt == "a storm at sea"
