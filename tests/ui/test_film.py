"""The rough cut from the editor: `e` exports on the runner, the header follows the cut's
state, and a narration file replaced on disk turns the video and the cut stale.
Real project, real in-process runner over its socket, real Pilot."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import storyboard_json
from tests.instant_backend import InstantBackend
from tests.media_helpers import write_wav
from tests.ui.helpers import Toasts, build_project, make_app, ready, screen_text, tab_to, wait_for
from tui.ui.widgets.header import StoryHeader

SIZE = (120, 36)


async def short_project(tmp_path: Path, *, audio: bool = False) -> Path:
    """Three half-second scenes at 96×64, 8 fps: an export takes a moment."""
    data = storyboard_json(3)
    for index, scene in enumerate(data["scenes"], start=1):
        scene["audio_duration"] = 0.5
        if audio:
            (tmp_path / "audio").mkdir(parents=True, exist_ok=True)
            write_wav(tmp_path / "audio" / f"{index:02}.wav", 0.5)
            scene["audio_file"] = f"audio/{index:02}.wav"
    return await build_project(tmp_path, 3, data=data)


def header_text(app: object) -> str:
    return str(app.screen.query_one(StoryHeader).query_one("#backend").render())  # type: ignore[attr-defined]


async def test_e_exports_and_the_header_goes_from_not_exported_to_clean(tmp_path: Path) -> None:
    root = await short_project(tmp_path)
    toasts = Toasts()
    app = make_app(root, poll_interval=0.1)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "cut: none yet" in screen_text(app), what="cut state")
        await pilot.press("e")
        await wait_for(
            pilot,
            lambda: any("Rough cut exported" in m for m in toasts.messages()),
            timeout=30,
            what="the export",
        )
        await wait_for(pilot, lambda: "cut: clean" in screen_text(app), what="a clean cut")
        films = list((root / "exports").glob("*.mp4"))
        assert len(films) == 1 and films[0].stat().st_size > 0
        await pilot.press("e")
        await wait_for(
            pilot,
            lambda: any("up to date" in m for m in toasts.messages()),
            what="the no-op answer",
        )
        assert list((root / "exports").glob("*.mp4")) == films


async def test_an_edit_makes_the_cut_stale(tmp_path: Path) -> None:
    root = await short_project(tmp_path)
    toasts = Toasts()
    app = make_app(root, poll_interval=0.1)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: "cut: clean" in screen_text(app), timeout=30, what="clean")
        await pilot.press("enter")
        await tab_to(pilot, "duration")
        await pilot.press("backspace", "backspace", "backspace", "1", "tab")
        await wait_for(pilot, lambda: "cut: stale" in screen_text(app), what="a stale cut")


async def test_a_narration_file_replaced_on_disk_stales_the_video_and_the_cut(
    tmp_path: Path,
) -> None:
    root = await short_project(tmp_path, audio=True)
    app = make_app(root, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert "narration audio: " in screen_text(app)
        await pilot.press("e")
        await wait_for(pilot, lambda: "cut: clean" in screen_text(app), timeout=30, what="clean")
        scene = screen.session.board.scenes[screen.scene_list.highlighted]
        assert scene.audio_file is not None
        longer = write_wav(tmp_path / "longer.wav", 1.5)
        shutil.copyfile(longer, root / scene.audio_file)
        await wait_for(pilot, lambda: "cut: stale" in screen_text(app), what="a stale cut")
        await wait_for(
            pilot,
            lambda: screen.session.board.status(scene.id).video.value == "dirty",
            what="the video to turn dirty",
        )
        assert "narration now 1.5 s" in screen_text(app)


async def test_an_export_waiting_for_a_regeneration_can_be_cancelled(tmp_path: Path) -> None:
    """An export queued behind a running job waits for it; cancelling it ends it at once."""
    root = await short_project(tmp_path)
    backend = InstantBackend(hold=True)
    toasts = Toasts()
    app = make_app(root, backend=backend, poll_interval=0.1)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("n")  # a new take of scene 1's image, held by the backend
        await wait_for(pilot, lambda: len(backend.held) == 1, what="the held job")
        await pilot.press("e")
        await wait_for(pilot, lambda: "cut: export waiting" in screen_text(app), what="waiting")
        await screen.run_action("cancel_export")
        await wait_for(
            pilot,
            lambda: any("Export cancelled" in m for m in toasts.messages()),
            timeout=10,
            what="the export to be cancelled",
        )
        assert not (root / "exports").exists() or not list((root / "exports").glob("*.mp4"))
        assert "cut: none yet" in screen_text(app)
        backend.release_all()
