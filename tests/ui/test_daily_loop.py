"""Issue 12: the rough edges a newcomer met in the daily loop, each pinned by a test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Button, Input, Select, TextArea

from tests.instant_backend import InstantBackend
from tests.ui.helpers import (
    Toasts,
    build_project,
    main_screen,
    make_app,
    quiet_settings,
    ready,
    screen_text,
    tab_to,
    type_text,
    wait_for,
)
from tests.ui.test_editing import saved_scene
from tui.domain.models import AssetKind
from tui.engine.project import Project
from tui.ui.screens.confirm import ConfirmScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.screens.main import FAILURE_GATHER

SIZE = (120, 36)


async def test_after_a_bar_button_focus_is_back_on_the_list(
    project: Callable[[str], Path],
) -> None:
    """Item 3: Cancel on the bar, then a stray Enter edits the scene; it starts no batch."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("V")
        await wait_for(pilot, lambda: len(backend.held) >= 1, what="the batch")
        await pilot.click("#batch-cancel")
        await wait_for(pilot, lambda: not screen.jobs.active, what="the cancel")
        assert screen.focused is screen.scene_list
        before = len(backend.submitted)
        await pilot.press("down", "enter")
        await pilot.pause(0.2)
        assert len(backend.submitted) == before
        assert not any(message.startswith("Queued") for message in toasts.messages()[1:])


async def test_a_big_batch_from_a_button_asks_first(tmp_path: Path) -> None:
    """Item 3: more than 10 jobs from a bar button need a yes; No queues nothing."""
    root = await build_project(tmp_path / "big", 12, assets=False)
    backend = InstantBackend(hold=True)
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.board is not None and screen.board.is_complete)
        await pilot.pause(0.1)
        await pilot.click("#batch-images")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert "Queue 12 image regenerations?" in screen_text(app)
        await pilot.press("enter")  # the focused answer is No
        await pilot.pause(0.2)
        assert not backend.submitted and not screen.jobs.active
        await pilot.click("#batch-images")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.jobs.jobs) == 12, what="12 jobs")


async def test_enter_in_a_prompt_moves_on_and_adds_no_newline(
    project: Callable[[str], Path],
) -> None:
    """Item 4: Enter in a one-paragraph prompt goes to the next field; nothing turns stale."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("enter")
        await tab_to(pilot, "image-prompt")
        await pilot.press("end", "enter")
        assert screen.focused is not None and screen.focused.id == "negative-prompt"
        prompt = screen.inspector.query_one("#image-prompt", TextArea)
        assert "\n" not in prompt.text
        await pilot.press("escape")
        await pilot.pause(0.3)
    _scene, status = await saved_scene(root, 1)
    assert status.image.value == "clean"


async def test_keys_a_terminal_cannot_send_are_refused_with_a_warning(
    project: Callable[[str], Path],
) -> None:
    """Item 5: `ctrl+i` arrives as Tab; binding it would silently take `i` away."""
    settings = quiet_settings(keymap={"regenerate.image": "ctrl+i", "view.dirty_only": "D"})
    app = make_app(project("dirty"), settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert any("ctrl+i for regenerate.image" in w and "Tab" in w for w in app.warnings)
        assert screen.options.keymap == {"view.dirty_only": "D"}
        await pilot.press("D")
        assert screen.scene_list.dirty_only
        await pilot.press("down", "i")  # the default key still works
        await wait_for(pilot, lambda: bool(screen.jobs.jobs) or not screen.jobs.active)


async def test_reopening_comes_back_to_the_scene_and_the_filter(
    project: Callable[[str], Path],
) -> None:
    """Item 6: the selected scene and the filter survive closing the project."""
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("slash")
        await type_text(pilot, "number")
        await pilot.press("enter", "down", "down")
        chosen = screen.scene_list.highlighted
        await pilot.press("ctrl+q")
    again = make_app(root)
    async with again.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.scene_list.filter_text == "number"
        assert screen.scene_list.highlighted == chosen


async def test_footer_offers_back_on_a_select_and_on_a_bar_button(
    project: Callable[[str], Path],
) -> None:
    """Item 7: away from the list, the footer says how to get back."""
    app = make_app(project("dirty"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("enter")
        await tab_to(pilot, "camera")
        assert isinstance(screen.focused, Select)
        await pilot.pause(0.1)
        assert "esc Back" in screen_text(app).splitlines()[-1]
        await pilot.press("escape")
        screen.set_focus(screen.batch_bar.query_one("#batch-images", Button))
        await pilot.pause(0.1)
        assert "esc Back" in screen_text(app).splitlines()[-1]


async def test_batch_labels_grow_whole_when_counts_grow(project: Callable[[str], Path]) -> None:
    """Item 8: "Regenerate 1 dirty video" used to become "Regenerate 2 dirty" when it grew."""
    root = project("clean")
    app = make_app(root, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        async with await Project.open(root) as other:
            first = await other.store.scene_at(1)
            await other.edit(first.id, {"camera": "zoom_in"})
            await wait_for(pilot, lambda: "Regenerate 1 dirty video" in screen_text(app))
            second = await other.store.scene_at(2)
            await other.edit(second.id, {"camera": "zoom_in"})
        await wait_for(pilot, lambda: "Regenerate 2 dirty videos" in screen_text(app))
        assert screen.batch_bar.has_class("-shown")


async def test_typing_in_a_clean_prompt_moves_nothing(project: Callable[[str], Path]) -> None:
    """Item 10: the why line and the button have their rows already; the field stays put."""
    app = make_app(project("clean"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert "All up to date" in screen_text(app)
        await pilot.press("enter")
        prompt = screen.inspector.query_one("#image-prompt", TextArea)
        await tab_to(pilot, "image-prompt")
        before = prompt.region.y
        await pilot.press("end")
        await type_text(pilot, " at dawn")
        await pilot.pause(0.1)
        assert prompt.region.y == before


async def test_help_has_a_legend_keeps_its_indent_and_says_it_scrolls(
    project: Callable[[str], Path],
) -> None:
    """Item 14: the marks are explained; a wrapped line stays in its column."""
    app = make_app(project("dirty"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "↑/↓ to scroll" in text
        lines = text.splitlines()
        row = next(i for i, line in enumerate(lines) if "Regenerate everything dirty" in line)
        column = lines[row].index("Regenerate everything dirty")
        continued = lines[row + 1]
        assert continued[column:].strip() and not continued[:column].strip("│▕▏ ")
        for _ in range(40):
            await pilot.press("down")
        text = screen_text(app)
        assert "The last job for that image or video failed" in text
        assert "one more job waiting" in text


async def test_escape_clears_the_filter_and_an_empty_list_says_why(
    project: Callable[[str], Path],
) -> None:
    """Item 15: "No scenes match 'x'" instead of a blank list; Esc on the list clears it."""
    app = make_app(project("clean"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("slash")
        await type_text(pilot, "zebra")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert "No scenes match “zebra”" in screen_text(app)
        await pilot.press("escape")
        assert screen.scene_list.filter_text == "" and screen.scene_list.shown_count == 5
        await pilot.press("d")
        await pilot.pause(0.1)
        assert "Nothing is dirty" in screen_text(app)
        await pilot.press("escape")
        assert not screen.scene_list.dirty_only


async def test_counts_agree_and_a_cancelled_run_says_so(project: Callable[[str], Path]) -> None:
    """Item 17: the finished toast counts what was cancelled; a second job shows as "+1"."""
    root = project("dirty")
    backend = InstantBackend(hold=True, window=1)
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "b")  # scene 2: image, and the video behind it
        await wait_for(pilot, lambda: len(screen.jobs.jobs) == 2, what="two jobs")
        board = screen.board
        assert board is not None
        badge = screen.jobs.badge(board.order[1])
        assert badge is not None and badge.more == 1
        await wait_for(pilot, lambda: "+1" in screen_text(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: not screen.jobs.active)
        await wait_for(pilot, lambda: any("cancelled" in m for m in toasts.messages()))
        assert any(m.startswith("Finished") and "2 cancelled" in m for m in toasts.messages())


async def test_clearing_the_seed_says_it_was_not_saved(project: Callable[[str], Path]) -> None:
    """Item 18: an emptied seed is refused with the reason, not kept silently."""
    root = project("clean")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("enter")
        await tab_to(pilot, "seed")
        seed = screen.inspector.query_one("#seed", Input)
        seed.value = ""  # cleared in one go, as a select-all and delete would
        await pilot.press("tab")
        await wait_for(pilot, lambda: "seed" in screen.inspector.error, what="the refusal")
        assert "seed" in screen_text(app)
    scene, _ = await saved_scene(root, 1)
    assert scene.seed == 101


async def test_retry_failed_queues_every_failed_asset_again(tmp_path: Path) -> None:
    """Item 1: `R` retries each asset whose last job failed; success clears the ✗."""
    root = await build_project(tmp_path / "film", 3, assets=False)
    backend = InstantBackend()
    backend.fail_with = "ckpt_name 'v1-5-pruned-emaonly.safetensors' not in []"
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        screen = main_screen(app)
        await ready(pilot)
        await pilot.press("I")
        await wait_for(pilot, lambda: len(screen.session.failed_assets()) == 3, what="failures")
        await wait_for(pilot, lambda: bool(toasts.messages("error")), what="the toast")
        await pilot.pause(FAILURE_GATHER)
        assert toasts.messages("error") == [
            "3 images failed: ckpt_name 'v1-5-pruned-emaonly.safetensors' not in []"
        ]
        backend.fail_with = None
        await pilot.press("R")
        await wait_for(pilot, lambda: not screen.session.failed_assets(), what="the retries")
        assert "✗" not in screen_text(app)
    for position in (1, 2, 3):
        _scene, status = await saved_scene(root, position)
        assert status.of(AssetKind.IMAGE).value == "clean"


async def test_a_failure_survives_reopening_until_the_scene_is_edited(tmp_path: Path) -> None:
    """Item 1: the failed state is read back from the journal; an edit clears it."""
    root = await build_project(tmp_path / "film", 2, assets=False)
    backend = InstantBackend()
    backend.fail_with = "out of memory"
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: bool(screen.session.failed_assets()))
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: "✗" in screen_text(app), what="the ✗ after reopening")
        await pilot.press("enter")
        await tab_to(pilot, "image-prompt")
        await pilot.press("end")
        await type_text(pilot, " at dusk")
        await wait_for(pilot, lambda: "✗" not in screen_text(app), what="the ✗ to go")


def test_status_json_has_the_last_error_of_each_asset(tmp_path: Path) -> None:
    """Item 1: `status --json` carries "error": {"image": …, "video": …}."""
    import asyncio
    import subprocess
    import sys

    root = asyncio.run(build_project(tmp_path / "film", 1, assets=False))

    async def fail_once() -> None:
        from tui.engine.engine import Engine

        backend = InstantBackend()
        backend.fail_with = "no checkpoints"
        async with await Project.open(root) as opened:
            async with Engine(opened, backend) as engine:
                await engine.request([AssetKind.IMAGE], include_missing=True)
                await engine.wait_idle()

    asyncio.run(fail_once())
    result = subprocess.run(
        [sys.executable, "-m", "tui", "status", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    scene = json.loads(result.stdout)["scenes"][0]
    assert scene["error"] == {"image": "no checkpoints", "video": None}
    table = subprocess.run(
        [sys.executable, "-m", "tui", "status", str(root)], capture_output=True, text=True
    )
    assert "no checkpoints" in table.stdout
