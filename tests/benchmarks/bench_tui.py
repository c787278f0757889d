"""The TUI on a 10,000-scene project, against a stock Textual `ListView` of 2,000.

1. First full screen: from creating the app to the first frame that shows the
   scene list filled in (scene 20's line is in it). Target < 1 s.
2. Key press to rendered, timed inside the app: from the App dispatching the
   `Key` event to the next frame it writes. 200 `down` (120 for the ListView)
   at a held key's repeat rate, then 40 `pagedown` 150 ms apart (so the inspector catches up between
   them, as it does for a user; key to that last frame is reported too).
   Target p95 < 30 ms.
3. Memory: resident set size once the app is up, less the process before it.
4. A flood of 2,000 progress events a second for 10 s, 8 jobs of a 1,000-image
   batch running: event-to-screen latency, frames and UI updates per second (at
   most one update per frame), and process CPU over the window (target < 25 %
   of a core). The same flood into the engine alone, no UI, is the baseline
   that shows what the UI adds. The runner runs inside the app's process here;
   a second run puts it in a process of its own, as in use, and times the TUI's
   process and the runner's apart (the target is the TUI's).

The baseline for 1-3 is a minimal app defined here: one `ListView` holding a
`ListItem(Label(...))` per scene, measured the same way. Every part runs in a
fresh child process, so start-up is cold (after imports) and RSS is its own.

How it is timed: a frame is a call of `App._display` with a compositor update
(the one hook Textual has for "the screen is written"). Headless Textual skips
turning the update into terminal bytes, so the probe does that itself
(`render_segments`) before taking the time, as a real terminal would; only the
write to the terminal is missing. Key and UI-update times come from
`run_test(message_hook=...)`, called as each message is dispatched. Keys are
posted to the app as the terminal driver posts them, not with `Pilot.press`,
which waits on every widget's queue after each key: in the 4,000-widget
baseline that wait runs interleaved with the key and would be counted against
the app, and it made the baseline's run take 7 minutes.

Run: python -m tests.benchmarks tui
Where the time goes in one window:
    python -m tests.benchmarks.bench_tui profile startup|keys|flood|split
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import cProfile
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median
from typing import Any

from rich.console import RenderableType
from textual import events
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, ListItem, ListView

from tests.conftest import storyboard_json
from tests.inprocess_runner import InProcessLauncher
from tests.instant_backend import InstantBackend
from tui.backends.base import Progress
from tui.config import UserSettings
from tui.domain.models import AssetKind
from tui.engine.client import Launcher
from tui.engine.engine import Engine
from tui.engine.events import EngineEvent, JobProgress
from tui.engine.project import BackendChoice, Project
from tui.engine.runfiles import RunFiles
from tui.store.importer import create_project
from tui.ui.app import StoryboardApp
from tui.ui.screens.main import MainScreen
from tui.ui.session import Changes, EditorSession
from tui.ui.themes import BUNDLED_THEMES_DIR

SCENES = 10_000
LIST_VIEW_SCENES = 2_000
SIZE = (120, 36)
MARKER = "Sentence number 20 of the story."
"""Scene 20's narration: in a frame only once the list is filled in."""
DOWN_PRESSES = 200
BASELINE_DOWN_PRESSES = 120
"""Fewer for the ListView: once it scrolls, each of its keys takes 0.2-0.8 s here, and
200 would add about 40 s to the run."""
KEY_REPEAT = 1 / 30
"""Seconds from one `down` to the next: a held key's auto-repeat."""
PAGE_PRESSES = 40
"""Not more: the baseline's pagedown scrolls a page without moving its cursor, and
40 pages from where its downs left it still ends short of its last item."""
PAGE_GAP = 0.15
"""Seconds from one `pagedown` to the next: longer than the inspector's 80 ms rest delay."""
FRAME_TIMEOUT = 2.0
STARTUP_REPEATS = 3
"""Our first screen is timed in this many processes (a second each); the ListView's in one."""
FLOOD_RATE = 2_000
FLOOD_SECONDS = 10.0
RUNNING = 8
"""Jobs the held backend keeps running during the flood."""
BATCH = 1_000
"""Image jobs queued for the flood. Not all 10,000: `Engine.request` is quadratic in
the jobs it tracks (`jobs_for` sorts every active job, 3 times per scene), so
queueing 10,000 takes about 85 s with the event loop blocked."""
FINAL_FRACTION = 0.77
FINAL_TEXT = " 77%"
"""Flood fractions stay under 0.5, so this badge text means the last events are drawn."""
REPO = Path(__file__).resolve().parents[2]
PROFILE: str | None = None
"""The one window to run under cProfile ("startup", "keys" or "flood"), if any."""

Finish = Callable[[dict[str, Any]], None]
"""Where a part hands its figures; a child prints them and leaves at once."""


class Window:
    """A measured window; under `profile NAME`, prints where its time went when it ends."""

    def __init__(self, name: str) -> None:
        self.profiler = cProfile.Profile() if PROFILE == name else None

    def __enter__(self) -> Window:
        if self.profiler is not None:
            self.profiler.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        if self.profiler is None:
            return
        self.profiler.disable()
        stats = pstats.Stats(self.profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(50)
        stats.sort_stats("tottime").print_stats(25)
        self.profiler = None


# -- probing keys, UI updates and frames ------------------------------------------------


_PROBES: list[FrameProbe] = []
_take_changes = EditorSession.take_changes


def _traced_take_changes(session: EditorSession) -> Changes:
    """The screen takes what changed once a frame; an update is one that had something."""
    changes = _take_changes(session)
    if changes.any:
        for probe in _PROBES:
            if probe.on_update is not None:
                probe.on_update()
    return changes


EditorSession.take_changes = _traced_take_changes  # type: ignore[method-assign]


class FrameProbe:
    """Times keys, UI updates and frames from inside the app, so no harness wait counts."""

    def __init__(self, marker: str) -> None:
        self.frames: list[float] = []
        self.marker = marker
        self.marker_at: float | None = None
        self.marker_seen = asyncio.Event()
        self.key_at: float | None = None
        self.latency: float | None = None
        self.answered = asyncio.Event()
        self.on_update: Callable[[], None] | None = None
        """Called as the screen starts a UI update that has job events to show (the flood)."""
        _PROBES.append(self)

    def watch(self, marker: str) -> None:
        """Note the time of the first frame from now on whose text holds `marker`."""
        self.marker, self.marker_at = marker, None
        self.marker_seen.clear()

    def arm(self) -> None:
        """The next key event starts a key-to-frame measurement."""
        self.key_at, self.latency = None, None
        self.answered.clear()

    def message(self, message: Message) -> None:
        """`message_hook`: called as any message is dispatched, before its handler."""
        if isinstance(message, events.Key):
            if self.key_at is None:  # the App gets it first, then it is forwarded
                self.key_at = time.perf_counter()

    def frame(self, app: App[Any], renderable: RenderableType | None) -> None:
        """After `App._display`: make the terminal bytes, then take the time."""
        if renderable is None or app._batch_count:
            return  # `_display` writes nothing for these either
        text = ""
        if isinstance(renderable, CompositorUpdate):
            text = renderable.render_segments(app.console)
        now = time.perf_counter()
        self.frames.append(now)
        if self.marker_at is None and self.marker in text:
            self.marker_at = now
            self.marker_seen.set()
        if self.key_at is not None and self.latency is None:
            self.latency = now - self.key_at
            self.answered.set()


class ProbedStoryboard(StoryboardApp):
    """The real app; only `_display` is wrapped, to time frames."""

    def __init__(self, probe: FrameProbe, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = probe

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        self.probe.frame(self, renderable)


class ListViewApp(App[None]):
    """The baseline: the stock widget, one `ListItem(Label)` per scene."""

    def __init__(self, probe: FrameProbe, rows: list[str]) -> None:
        super().__init__()
        self.probe = probe
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield ListView(*(ListItem(Label(row, markup=False)) for row in self.rows))

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        self.probe.frame(self, renderable)


def storyboard_app(
    probe: FrameProbe,
    project: Path,
    backend: InstantBackend | None,
    launcher: Launcher | None = None,
) -> ProbedStoryboard:
    """The app on `project`; its runner serves `backend` in this process, or is started by
    `launcher` (the split flood starts it as a process of its own)."""
    if launcher is None:
        assert backend is not None
        launcher = InProcessLauncher(backend)
    settings = UserSettings.model_construct(  # the defaults, never the user's config file
        theme="storyboard-dark",
        image_renderer="halfblock",
        save_delay=0.5,
        keymap={},
        comfyui_servers=[],
    )
    return ProbedStoryboard(
        probe,
        project,
        launcher=launcher,
        settings=settings,
        theme_dirs=[BUNDLED_THEMES_DIR],
        cursor_blink=False,  # a blinking cursor would add frames nobody asked for
    )


def list_view_app(probe: FrameProbe) -> ListViewApp:
    scenes = storyboard_json(LIST_VIEW_SCENES)["scenes"]
    rows = [f"{i:>5}  {scene['narration']}" for i, scene in enumerate(scenes, start=1)]
    return ListViewApp(probe, rows)


# -- start-up, keys, memory -------------------------------------------------------------


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of this process, in KiB."""
    found = {"VmRSS": 0, "VmHWM": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0])
    return found


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def storyboard_ready(app: App[Any]) -> MainScreen:
    """Engine started and every scene judged, so nothing runs behind what is measured."""
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    await until(lambda: screen.client is not None, 60, "the client")
    await until(lambda: screen.board is not None and screen.board.is_complete, 60, "the counts")
    await asyncio.sleep(0.3)
    return screen


async def press_many(
    app: App[Any],
    probe: FrameProbe,
    key: str,
    count: int,
    gap: float,
    inspector: list[float] | None = None,
) -> tuple[list[float], list[float], int]:
    """Per press: key to the next frame, and key to the last frame before the next press.

    With `inspector`, also key to the first frame whose inspector shows the scene the
    cursor moved to ("Scene N of"), appended there.
    """
    latencies: list[float] = []
    settled: list[float] = []
    missed = 0
    for _ in range(count):
        if inspector is not None:
            probe.watch(f"Scene {expected_position(app, key)} of")
        probe.arm()
        app.post_message(events.Key(key, None))
        try:
            await asyncio.wait_for(probe.answered.wait(), FRAME_TIMEOUT)
        except TimeoutError:
            missed += 1
            continue
        assert probe.latency is not None and probe.key_at is not None
        latencies.append(probe.latency)
        await asyncio.sleep(max(0.0, probe.key_at + gap - time.perf_counter()))
        settled.append(probe.frames[-1] - probe.key_at)
        if inspector is not None and probe.marker_at is not None:
            inspector.append(probe.marker_at - probe.key_at)
    return latencies, settled, missed


def expected_position(app: App[Any], key: str) -> int:
    """The scene position the cursor lands on after `key`, before it is pressed."""
    screen = app.screen
    assert isinstance(screen, MainScreen) and screen.board is not None
    scene_list = screen.scene_list
    step = {"down": 1, "pagedown": max(1, scene_list.content_region.height - 1)}[key]
    index = min(scene_list.cursor + step, scene_list.shown_count - 1)
    return screen.board.scenes[scene_list.shown_ids[index]].position


async def keys_child(kind: str, project: Path, finish: Finish, *, keys: bool = True) -> None:
    """Start-up, key presses and memory for one app; without `keys`, start-up only."""
    before = memory_kib()
    probe = FrameProbe(MARKER)
    with Window("startup") as startup:
        started = time.perf_counter()
        app: App[Any]
        if kind == "storyboard":
            app = storyboard_app(probe, project, InstantBackend())
        else:
            app = list_view_app(probe)
        async with app.run_test(size=SIZE, headless=True, message_hook=probe.message):
            await asyncio.wait_for(probe.marker_seen.wait(), 120)
            assert probe.marker_at is not None
            first = probe.marker_at - started
            at_first = memory_kib()
            startup.end()
            if not keys or PROFILE == "startup":
                finish({"first_screen": first})
            if kind == "storyboard":
                await storyboard_ready(app)
            else:
                await asyncio.sleep(0.3)
            ready = memory_kib()
            frames_before = len(probe.frames)
            downs = DOWN_PRESSES if kind == "storyboard" else BASELINE_DOWN_PRESSES
            inspector: list[float] | None = [] if kind == "storyboard" else None
            with Window("keys"):
                down, _, down_missed = await press_many(app, probe, "down", downs, KEY_REPEAT)
                page, settled, page_missed = await press_many(
                    app, probe, "pagedown", PAGE_PRESSES, PAGE_GAP, inspector
                )
            if kind == "storyboard":
                assert isinstance(app.screen, MainScreen)
                cursor = app.screen.scene_list.cursor
            else:
                cursor = app.query_one(ListView).index or 0
            # Hand over before the app shuts down: unmounting 4,000 widgets takes seconds.
            finish(
                {
                    "first_screen": first,
                    "down": down,
                    "page": page,
                    "settled": settled,
                    "inspector": inspector or [],
                    "missed": down_missed + page_missed,
                    "keys": downs + PAGE_PRESSES,
                    "frames": len(probe.frames) - frames_before,
                    "cursor": cursor,
                    "rss_before": before["VmRSS"],
                    "rss_first": at_first["VmRSS"],
                    "rss_ready": ready["VmRSS"],
                    "rss_peak": memory_kib()["VmHWM"],
                }
            )


# -- the progress flood -----------------------------------------------------------------


class Absorbed:
    """Counts the progress events a subscriber (the client, or the engine) has taken in."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, JobProgress):
            self.count += 1

    def stamp_updates(self, probe: FrameProbe) -> list[tuple[float, int]]:
        """Each UI update with something to show, with how many events were in by then."""
        updates: list[tuple[float, int]] = []
        probe.on_update = lambda: updates.append((time.perf_counter(), self.count))
        return updates


async def flood(backend: InstantBackend, keys: list[str]) -> dict[str, Any]:
    """Emit FLOOD_RATE progress events a second, round-robin over `keys`, for FLOOD_SECONDS."""
    total = int(FLOOD_RATE * FLOOD_SECONDS)
    per_key = total // len(keys) + 1
    emitted: list[float] = []
    deepest = 0
    cpu, usage = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    while len(emitted) < total:
        due = min(total, int((time.perf_counter() - start) * FLOOD_RATE))
        while len(emitted) < due:
            n = len(emitted)
            value = n // len(keys) + 1
            backend.emit(Progress(keys[n % len(keys)], value, per_key, 0.5 * value / per_key))
            emitted.append(time.perf_counter())
        deepest = max(deepest, backend._events.qsize())
        await asyncio.sleep(0.001)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "emitted": emitted,
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "user": after.ru_utime - usage.ru_utime,
        "sys": after.ru_stime - usage.ru_stime,
        "queue_max": deepest,
    }


def shown_at(update_times: list[float], frames: list[float], update: int) -> float | None:
    """When what UI update `update` took in was on screen: the first frame after it, or
    the update itself if it drew nothing before the next one (a progress step too small
    to move a percent changes nothing on screen, so it is shown as it is taken in)."""
    at = update_times[update]
    frame = bisect.bisect_left(frames, at)
    if frame == len(frames):
        return None
    if update + 1 < len(update_times) and frames[frame] >= update_times[update + 1]:
        return at
    return frames[frame]


def event_latencies(
    emitted: list[float], updates: list[tuple[float, int]], frames: list[float]
) -> list[float]:
    """Per event: emitted → on screen (`shown_at` the UI update that took it in)."""
    out: list[float] = []
    taken = [count for _, count in updates]
    update_times = [moment for moment, _ in updates]
    for index, sent in enumerate(emitted):
        update = bisect.bisect_right(taken, index)  # the first update with count > index
        if update == len(updates):
            continue
        shown = shown_at(update_times, frames, update)
        if shown is not None:
            out.append(shown - sent)
    return out


def per_second_max(times: list[float], start: float, end: float) -> int:
    """The most of `times` in any one whole second of the window."""
    buckets: dict[int, int] = {}
    for moment in times:
        if start <= moment < end:
            buckets[int(moment - start)] = buckets.get(int(moment - start), 0) + 1
    whole = int(end - start)
    return max((count for second, count in buckets.items() if second < whole), default=0)


def most_between_frames(updates: list[float], frames: list[float]) -> int:
    """The most UI updates that fell between two consecutive frames."""
    counts: dict[int, int] = {}
    for moment in updates:
        slot = bisect.bisect_left(frames, moment)
        counts[slot] = counts.get(slot, 0) + 1
    return max(counts.values(), default=0)


async def flood_child(project: Path, finish: Finish) -> None:
    """The app with a batch queued and RUNNING jobs held, flooded with progress events."""
    probe = FrameProbe(MARKER)
    backend = InstantBackend(hold=True, window=RUNNING, payload=b"x")
    app = storyboard_app(probe, project, backend)
    async with app.run_test(size=SIZE, headless=True, message_hook=probe.message):
        await asyncio.wait_for(probe.marker_seen.wait(), 120)
        screen = await storyboard_ready(app)
        client = screen.client
        assert client is not None and screen.board is not None
        queued_at = time.perf_counter()
        await client.request(
            [AssetKind.IMAGE], scene_ids=screen.board.order[:BATCH], include_missing=True
        )
        await until(
            lambda: len(screen.jobs.jobs) == BATCH and len(backend.held) == RUNNING,
            60,
            "the batch to be queued",
        )
        queue_seconds = time.perf_counter() - queued_at
        await asyncio.sleep(1.0)
        absorbed = Absorbed()
        updates = absorbed.stamp_updates(probe)
        unsubscribe = client.subscribe(absorbed)
        probe.frames.clear()
        with Window("flood"):
            stats = await flood(backend, list(backend.held))
        end = time.perf_counter()
        start = end - stats["wall"]
        emitted = stats.pop("emitted")
        behind = len(emitted) - absorbed.count
        probe.watch(FINAL_TEXT)
        final_at = time.perf_counter()
        for key in backend.held:
            backend.emit(Progress(key, 99, 100, FINAL_FRACTION))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(probe.marker_seen.wait(), 5)
        final = probe.marker_at - final_at if probe.marker_at is not None else None
        await asyncio.sleep(0.5)
        unsubscribe()
        frames = [moment for moment in probe.frames if start <= moment < end]
        update_times = [moment for moment, _ in updates if start <= moment < end]
        finish(
            {
                **stats,
                "queue_seconds": queue_seconds,
                "events": len(emitted),
                "behind": behind,
                "frames_per_s": len(frames) / stats["wall"],
                "frames_max_s": per_second_max(frames, start, end),
                "updates_per_s": len(update_times) / stats["wall"],
                "updates_max_s": per_second_max(update_times, start, end),
                "updates_per_frame_max": most_between_frames(update_times, probe.frames),
                "latencies": event_latencies(emitted, updates, probe.frames),
                "final": final,
            }
        )


# -- the flood with the runner in a process of its own, as in production ----------------

SPLIT_GO = ".bench-go"
SPLIT_FLOODED = ".bench-flooded.json"
SPLIT_FINAL = ".bench-final"
SPLIT_FINAL_AT = ".bench-final-at.json"
"""Files in the project folder by which the TUI's process and the runner's take turns."""


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data), encoding="utf-8")
    partial.replace(path)


class RunnerProcessLauncher:
    """Starts the project's runner as its own process, the way the TUI does in production,
    except that this runner serves the held instant backend and floods it (`flood-runner`)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    async def __call__(self, root: Path, choice: BackendChoice) -> None:
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.benchmarks.bench_tui", "flood-runner", str(root)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        await until(lambda: RunFiles(root).live_pid() is not None, 60, "the runner process")


async def flood_runner_child(project: Path, finish: Finish) -> None:
    """The runner's process in the split flood: the same flood, from inside the runner."""
    backend = InstantBackend(hold=True, window=RUNNING, payload=b"x")
    launcher = InProcessLauncher(backend)
    await launcher(project, BackendChoice())
    await until(lambda: len(backend.held) == RUNNING, 120, "the held jobs")
    await until(lambda: (project / SPLIT_GO).exists(), 120, "the TUI's go")
    stats = await flood(backend, list(backend.held))
    write_json_atomically(project / SPLIT_FLOODED, stats)
    await until(lambda: (project / SPLIT_FINAL).exists(), 60, "the TUI's watch")
    final_at = time.perf_counter()
    for key in backend.held:
        backend.emit(Progress(key, 99, 100, FINAL_FRACTION))
    write_json_atomically(project / SPLIT_FINAL_AT, {"final_at": final_at})
    await asyncio.sleep(6)
    os._exit(0)


async def flood_split_child(project: Path, finish: Finish) -> None:
    """The TUI's process in the split flood: what the window itself costs while its runner,
    in another process, floods it with progress over the socket."""
    probe = FrameProbe(MARKER)
    launcher = RunnerProcessLauncher()
    app = storyboard_app(probe, project, None, launcher)
    try:
        async with app.run_test(size=SIZE, headless=True, message_hook=probe.message):
            await asyncio.wait_for(probe.marker_seen.wait(), 120)
            screen = await storyboard_ready(app)
            client = screen.client
            assert client is not None and screen.board is not None
            await client.request(
                [AssetKind.IMAGE], scene_ids=screen.board.order[:BATCH], include_missing=True
            )
            await until(
                lambda: len(screen.jobs.jobs) == BATCH and client.runner.running == RUNNING,
                60,
                "the batch to be running",
            )
            await asyncio.sleep(1.0)
            absorbed = Absorbed()
            updates = absorbed.stamp_updates(probe)
            unsubscribe = client.subscribe(absorbed)
            probe.frames.clear()
            cpu, usage = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
            began = time.perf_counter()
            (project / SPLIT_GO).touch()
            with Window("split"):
                await until(lambda: (project / SPLIT_FLOODED).exists(), 60, "the runner's flood")
            wall = time.perf_counter() - began
            after = resource.getrusage(resource.RUSAGE_SELF)
            tui_cpu = time.process_time() - cpu
            runner = json.loads((project / SPLIT_FLOODED).read_text(encoding="utf-8"))
            emitted = runner.pop("emitted")
            start, end = emitted[0], emitted[0] + runner["wall"]
            await asyncio.sleep(0.3)  # the last events in flight over the socket
            behind = len(emitted) - absorbed.count
            probe.watch(FINAL_TEXT)
            (project / SPLIT_FINAL).touch()
            await until(lambda: (project / SPLIT_FINAL_AT).exists(), 30, "the final events")
            final_at = json.loads((project / SPLIT_FINAL_AT).read_text())["final_at"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.marker_seen.wait(), 5)
            final = probe.marker_at - final_at if probe.marker_at is not None else None
            unsubscribe()
            frames = [moment for moment in probe.frames if start <= moment < end]
            update_times = [moment for moment, _ in updates if start <= moment < end]
            finish(
                {
                    "tui_cpu": tui_cpu,
                    "tui_wall": wall,
                    "tui_user": after.ru_utime - usage.ru_utime,
                    "tui_sys": after.ru_stime - usage.ru_stime,
                    "runner": runner,
                    "events": len(emitted),
                    "behind": behind,
                    "frames_per_s": len(frames) / runner["wall"],
                    "updates_per_s": len(update_times) / runner["wall"],
                    "latencies": event_latencies(emitted, updates, probe.frames),
                    "final": final,
                }
            )
    finally:
        if launcher.process is not None:
            launcher.process.kill()


async def engine_flood_child(project: Path, finish: Finish) -> None:
    """The same batch and flood into the engine with no UI: what the UI does not add."""
    async with await Project.open(project) as opened:
        backend = InstantBackend(hold=True, window=RUNNING, payload=b"x")
        engine = Engine(opened, backend)
        await engine.start()
        absorbed = Absorbed()
        engine.subscribe(absorbed)
        order = [scene.id for scene in await opened.scenes()][:BATCH]
        queued_at = time.perf_counter()
        await engine.request([AssetKind.IMAGE], scene_ids=order, include_missing=True)
        queue_seconds = time.perf_counter() - queued_at
        await until(lambda: len(backend.held) == RUNNING, 60, "the held jobs")
        await asyncio.sleep(0.5)
        stats = await flood(backend, list(backend.held))
        behind = len(stats.pop("emitted")) - absorbed.count
        finish({**stats, "behind": behind, "queue_seconds": queue_seconds})


# -- the parent: processes and the table ------------------------------------------------


async def make_project(root: Path) -> tuple[Path, float]:
    source = root / "story.json"
    source.write_text(json.dumps(storyboard_json(SCENES)), encoding="utf-8")
    started = time.perf_counter()
    folder = await create_project(root / "film", source)
    return folder.root, time.perf_counter() - started


def child(name: str, project: Path) -> dict[str, Any]:
    """Run one part in a fresh interpreter; its figures come back as JSON on the last line."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_tui", name, str(project)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(values: list[float]) -> str:
    """p50 / p95 / max in milliseconds."""
    if not values:
        return "no samples"
    return (
        f"p50 {median(values) * 1000:6.1f}  p95 {pct(values, 0.95) * 1000:6.1f}"
        f"  max {max(values) * 1000:7.1f} ms"
    )


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def report_keys(ours: dict[str, Any], base: dict[str, Any], starts: list[float]) -> None:
    first = median(starts)
    print(f"{'':30}{'Storyboard 10,000':>20}{'ListView 2,000':>18}{'ratio':>9}")
    print(
        f"{'first full screen':30}{first:>18.3f} s{base['first_screen']:>16.3f} s"
        f"{first / base['first_screen']:>9.3f}   target < 1 s"
    )
    runs = ", ".join(f"{start:.3f}" for start in starts)
    print(f"  ours is the median of {len(starts)} processes ({runs} s); the ListView's, one")
    rows = (
        ("down (every 33 ms)", ours["down"], base["down"]),
        (f"pagedown x{PAGE_PRESSES} (every 150 ms)", ours["page"], base["page"]),
        ("all keys", ours["down"] + ours["page"], base["down"] + base["page"]),
    )
    print("key → frame")
    for label, mine, theirs in rows:
        print(f"  {label}: ours x{len(mine)}, ListView x{len(theirs)}")
        print(f"    Storyboard  {ms(mine)}")
        print(f"    ListView    {ms(theirs)}")
    every, every_base = rows[2][1], rows[2][2]
    print(
        f"  p95 all keys: ours {pct(every, 0.95) * 1000:.1f} ms (target < 30 ms),"
        f" ratio ours / ListView {pct(every, 0.95) / pct(every_base, 0.95):.3f}"
    )
    shown = ours.get("inspector") or []
    print(
        f"pagedown → the inspector shows the new scene (x{len(shown)} of {PAGE_PRESSES}):"
        f"  {ms(shown)}   target p95 < 50 ms"
    )
    print("pagedown → last frame before the next key (our inspector has caught up):")
    print(f"    Storyboard  {ms(ours['settled'])}")
    print(f"    ListView    {ms(base['settled'])}   (its pagedown scrolls; the cursor stays)")
    for name, run in (("Storyboard", ours), ("ListView", base)):
        print(
            f"    {name}: {run['frames']} frames for {run['keys']} keys,"
            f" {run['missed']} keys drew nothing, cursor at index {run['cursor']} after"
        )
    print("memory (RSS; app = when ready less before the app was made):")
    for name, run in (("Storyboard", ours), ("ListView", base)):
        print(
            f"    {name:11} before {mib(run['rss_before'])}, first screen"
            f" {mib(run['rss_first'])}, ready {mib(run['rss_ready'])},"
            f" peak {mib(run['rss_peak'])}; app {mib(run['rss_ready'] - run['rss_before'])}"
        )
    app_ours = ours["rss_ready"] - ours["rss_before"]
    app_base = base["rss_ready"] - base["rss_before"]
    print(f"    ratio of app RSS (ours / ListView): {app_ours / app_base:.3f}")


def report_flood(ui: dict[str, Any], bare: dict[str, Any]) -> None:
    print(
        f"flood: {ui['events']} progress events at {FLOOD_RATE}/s for {FLOOD_SECONDS:.0f} s,"
        f" {RUNNING} of a {BATCH}-image batch running, the cursor on a running scene"
    )
    print(
        f"    queueing the {BATCH} jobs took {ui['queue_seconds']:.2f} s with the app up,"
        f" {bare['queue_seconds']:.2f} s in the engine alone"
    )
    for name, run in (("app (engine + UI)", ui), ("engine alone, no UI", bare)):
        print(
            f"    {name:20} CPU {run['cpu']:5.2f} s in {run['wall']:5.2f} s ="
            f" {run['cpu'] / run['wall']:6.1%} of a core (user {run['user']:.2f} s,"
            f" sys {run['sys']:.2f} s); backend queue at most {run['queue_max']},"
            f" {run['behind']} events unhandled at the end"
        )
    print(
        f"    app: {ui['cpu'] / ui['wall']:.1%} of a core (target < 25 %); the UI's own share"
        f" {(ui['cpu'] - bare['cpu']) / ui['wall']:.1%}; ratio app / engine alone"
        f" {ui['cpu'] / bare['cpu']:.2f}"
    )
    print(
        f"    frames {ui['frames_per_s']:.1f}/s (most in a second {ui['frames_max_s']});"
        f" UI updates {ui['updates_per_s']:.1f}/s (most in a second {ui['updates_max_s']},"
        f" most between two frames {ui['updates_per_frame_max']}); screen cap 30/s"
    )
    print(f"    event → screen  {ms(ui['latencies'])}  ({len(ui['latencies'])} events)")
    final = ui["final"]
    shown = f"{final * 1000:.1f} ms" if final is not None else "NOT within 5 s"
    print(f"    last events (fraction {FINAL_FRACTION}) on screen after {shown}")


def report_split(split: dict[str, Any], ui: dict[str, Any]) -> None:
    runner = split["runner"]
    print(
        "flood again, the runner in a process of its own as in use (the TUI starts it"
        " detached; the same events reach the TUI over its socket):"
    )
    tui_share = split["tui_cpu"] / split["tui_wall"]
    print(
        f"    TUI process     CPU {split['tui_cpu']:5.2f} s in {split['tui_wall']:5.2f} s ="
        f" {tui_share:6.1%} of a core (user {split['tui_user']:.2f} s, sys"
        f" {split['tui_sys']:.2f} s)   target < 25 %"
    )
    print(
        f"    runner process  CPU {runner['cpu']:5.2f} s in {runner['wall']:5.2f} s ="
        f" {runner['cpu'] / runner['wall']:6.1%} of a core; {split['behind']} events"
        " unhandled at the end"
    )
    print(
        f"    ratio TUI process / app with the runner inside: {tui_share:.1%} /"
        f" {ui['cpu'] / ui['wall']:.1%} = {tui_share / (ui['cpu'] / ui['wall']):.2f}"
    )
    print(
        f"    frames {split['frames_per_s']:.1f}/s (a step too small to move a percent draws"
        f" nothing); UI updates {split['updates_per_s']:.1f}/s"
    )
    print(f"    event → screen  {ms(split['latencies'])}  ({len(split['latencies'])} events)")
    final = split["final"]
    shown = f"{final * 1000:.1f} ms" if final is not None else "NOT within 5 s"
    print(f"    last events (fraction {FINAL_FRACTION}) on screen after {shown}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project, made = asyncio.run(make_project(root))
        print(f"project: {SCENES} scenes, created in {made:.1f} s; terminal {SIZE[0]}x{SIZE[1]}")
        ours = child("keys-storyboard", project)
        base = child("keys-listview", project)
        again = [child("startup", project)["first_screen"] for _ in range(STARTUP_REPEATS - 1)]
        report_keys(ours, base, [ours["first_screen"], *again])
        for copy in ("flood", "engine-flood", "flood-split"):  # each as it was, no jobs
            shutil.copytree(project, root / copy)
        ui = child("flood", root / "flood")
        bare = child("engine-flood", root / "engine-flood")
        report_flood(ui, bare)
        report_split(child("flood-split", root / "flood-split"), ui)


# -- child entry points -----------------------------------------------------------------


CHILDREN: dict[str, Callable[[Path, Finish], Awaitable[None]]] = {
    "keys-storyboard": lambda path, finish: keys_child("storyboard", path, finish),
    "keys-listview": lambda path, finish: keys_child("listview", path, finish),
    "startup": lambda path, finish: keys_child("storyboard", path, finish, keys=False),
    "flood": flood_child,
    "engine-flood": engine_flood_child,
    "flood-split": flood_split_child,
    "flood-runner": flood_runner_child,
}


def print_and_exit(figures: dict[str, Any]) -> None:
    """A child's answer; it leaves at once, as tearing the app down is not measured."""
    print(json.dumps(figures), flush=True)
    os._exit(0)


def profile(part: str) -> None:
    """Run our app with one window under cProfile, on a fresh project."""
    global PROFILE
    PROFILE = part
    run = {
        "startup": "keys-storyboard",
        "keys": "keys-storyboard",
        "flood": "flood",
        "split": "flood-split",
    }[part]
    with tempfile.TemporaryDirectory() as tmp:
        project, _ = asyncio.run(make_project(Path(tmp)))
        asyncio.run(CHILDREN[run](project, print_and_exit))


if __name__ == "__main__":
    if sys.argv[1] == "profile":
        profile(sys.argv[2])
    else:
        asyncio.run(CHILDREN[sys.argv[1]](Path(sys.argv[2]), print_and_exit))
