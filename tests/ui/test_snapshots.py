"""Screenshots of the main states, at 120×36 and at 80×24, with both bundled themes.

Deterministic by construction: fixed job keys in the templates, fixed
clocks, no cursor blink, half-block pictures, no user config or user themes.
Update with `pytest tests/ui --snapshot-update` after looking at the report.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.instant_backend import InstantBackend
from tests.ui.helpers import main_screen, make_app, png, quiet_settings, wait_for
from tui.backends.base import Progress
from tui.store import transaction
from tui.ui.widgets.still import StillView

SIZES = [pytest.param((120, 36), id="120x36"), pytest.param((80, 24), id="80x24")]

Snap = Callable[..., bool]


async def settle(pilot: Pilot[Any]) -> None:
    """Engine up, counts known, the inspector on the highlighted scene with its still drawn."""
    screen = main_screen(pilot.app)
    await wait_for(pilot, lambda: screen.client is not None, what="the project's jobs")
    await wait_for(pilot, lambda: screen.board is not None and screen.board.is_complete)
    await wait_for(
        pilot,
        lambda: (
            screen.inspector.scene is not None
            and screen.inspector.scene.id == screen.scene_list.highlighted
        ),
        what="the inspector",
    )
    await wait_for(pilot, lambda: screen.batch_bar.run == screen.jobs.run(), what="the bar")
    still = screen.inspector.query_one(StillView)
    if screen.inspector.media.still is not None or screen.inspector.preview is not None:
        await wait_for(pilot, lambda: not still.has_class("-empty"), what="the still")
    await pilot.pause()


def before(*keys: str, then: Callable[[Pilot[Any]], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        if then is not None:
            await then(pilot)
        await settle(pilot)

    return run_before


def narrow(size: tuple[int, int]) -> tuple[str, ...]:
    """At 80 columns the inspector only shows while editing."""
    return ("enter",) if size[0] < 100 else ()


@pytest.mark.parametrize("size", SIZES)
def test_clean_project(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """Every asset up to date: no markers, no batch bar."""
    assert snap_compare(make_app(project("clean")), terminal_size=size, run_before=before())


@pytest.mark.parametrize("size", SIZES)
def test_dirty_markers(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """Scene 2: yellow image and orange video; scenes 3 and 4: orange video only."""
    assert snap_compare(make_app(project("dirty")), terminal_size=size, run_before=before())


@pytest.mark.parametrize("size", SIZES)
def test_inspector_why_dirty(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """The inspector says why scene 2 is dirty and offers both Regenerate buttons."""
    app = make_app(project("dirty"))
    keys = ("down", *narrow(size))
    assert snap_compare(app, terminal_size=size, run_before=before(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_job_in_progress(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """`i` on scene 2: an inline progress bar, and the button reads "Regenerating…"."""
    backend = InstantBackend(hold=True, payload=png())
    app = make_app(project("dirty"), backend=backend)

    async def progress(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: len(backend.held) == 1)
        backend.emit(Progress(next(iter(backend.held)), 2, 5, 0.4))
        await wait_for(pilot, lambda: main_screen(pilot.app).jobs.run() is not None)
        await pilot.pause(0.1)

    keys = ("down", "i", *narrow(size))
    assert snap_compare(app, terminal_size=size, run_before=before(*keys, then=progress))


@pytest.mark.parametrize("size", SIZES)
def test_failure_toast(
    snap_compare: Snap,
    project: Callable[[str], Path],
    size: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed job: an error toast with the server's words, and the scene stays dirty."""
    # The inspector says when the job failed, in local time: pin both.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(transaction, "now", lambda: datetime(2026, 11, 28, 9, 41, tzinfo=UTC))
    backend = InstantBackend()
    backend.fail_with = "Prompt outputs failed validation: CheckpointLoaderSimple [ckpt_name]"
    app = make_app(project("dirty"), backend=backend)

    async def failed(pilot: Pilot[Any]) -> None:
        screen = main_screen(pilot.app)
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("Toast")), what="the toast")
        await wait_for(
            pilot,
            lambda: screen.header.runner is not None and screen.header.runner.state == "idle",
            what="the runner to be idle",
        )
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=before("down", "i", then=failed))


@pytest.mark.parametrize("size", SIZES)
def test_batch_running(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """`a`: the bar shows what is regenerating, overall progress, done/total and Cancel."""
    backend = InstantBackend(hold=True, window=1, payload=png())
    app = make_app(project("dirty"), backend=backend)

    async def running(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: len(backend.held) == 1)
        backend.emit(Progress(next(iter(backend.held)), 1, 2, 0.5))
        await wait_for(pilot, lambda: main_screen(pilot.app).jobs.run() is not None)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=before("a", then=running))


@pytest.mark.parametrize("size", SIZES)
def test_dirty_only(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """`d`: only scenes 2, 3 and 4 remain."""
    assert snap_compare(make_app(project("dirty")), terminal_size=size, run_before=before("d"))


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: Snap, project: Callable[[str], Path], size: Any) -> None:
    """`?`: every key, grouped."""
    assert snap_compare(
        make_app(project("clean")), terminal_size=size, run_before=before("question_mark")
    )


@pytest.mark.parametrize("theme", ["storyboard-light"])
@pytest.mark.parametrize("size", SIZES)
def test_bundled_theme(
    snap_compare: Snap, project: Callable[[str], Path], size: Any, theme: str
) -> None:
    """Each bundled theme on the dirty project, scene 2 selected.

    storyboard-dark is the default, so every other snapshot shows it; this
    same scene in it is `test_inspector_why_dirty`.
    """
    app = make_app(project("dirty"), settings=quiet_settings(theme=theme))
    keys = ("down", *narrow(size))
    assert snap_compare(app, terminal_size=size, run_before=before(*keys))
