"""Clip playback in the TUI: a 5 s 1280×720 16 fps clip in half-blocks at 60×20 cells.

Two clips: the draft renderer's animatic (a pan over a drawn card: large flat
areas, so many cells repeat their colours) and a photographic one (a pan over
smooth random colour, the worst case for the drawing: every cell changes
colour every frame, as in real footage).

The measure is frames delivered to the screen: a frame counts once the screen
has refreshed with it (the player's acknowledgement, after Textual wrote the
update). The app runs in a child process on a real pseudo-terminal, not
headless, so turning each update into escape codes and writing them is paid
for as a user's terminal would make it pay; the parent only drains the pty.

- Playback: frames on screen per second of wall clock, frames dropped, and
  CPU (process time of the whole child, every thread, over the playback) as a
  share of one core. Targets: ≥ 15 fps and < 50 % of a core.
- Baseline, in the same run: decoding alone. The same clip decoded with the
  same PyAV settings (frame threads), (a) flat out, for the decoder's ceiling
  in frames per second, and (b) paced to 16 fps, for the CPU share that
  decoding alone costs in real time; the ratio says what drawing adds.

Run: python -m tests.benchmarks playback
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import select
import struct
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 16, 5.0
COLUMNS, ROWS = 60, 20
"""The picture's cell box; the player adds one caption line under it."""
TERMINAL = (100, 30)
CELL_PIXELS = (10, 20)


def make_clip(folder: Path) -> Path:
    """A draft animatic that really moves, so every frame differs."""
    from tui.backends.draft.render import render_clip, render_still

    path = folder / "clip-1280x720-16fps-5s.mp4"
    if not path.exists():
        still = render_still(
            prompt="a lighthouse on a black rock at dusk, stormy sea",
            seed=7,
            position=1,
            width=WIDTH,
            height=HEIGHT,
        )
        path.write_bytes(
            render_clip(
                still=still,
                camera="pan_left",
                motion=0.8,
                duration=SECONDS,
                fps=FPS,
                width=WIDTH,
                height=HEIGHT,
            )
        )
    return path


def make_photographic_clip(folder: Path) -> Path:
    """Smooth colour fields panned a few pixels a frame: no two frames share a cell colour."""
    from fractions import Fraction

    import av
    from PIL import Image

    from tui.media.frames import video_frame

    path = folder / "photographic-1280x720-16fps-5s.mp4"
    if path.exists():
        return path
    noise = random.Random(5)
    field = Image.new("RGB", (48, 27))
    field.putdata([tuple(noise.randrange(256) for _ in range(3)) for _ in range(48 * 27)])
    big = field.resize((1600, 900), Image.Resampling.BICUBIC)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(round(SECONDS * FPS)):
            x, y = 4 * index, 2 * index
            picture = big.crop((x, y, x + WIDTH, y + HEIGHT))
            frame = video_frame(picture).reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def decode_flat_out(clip: Path) -> dict[str, float]:
    from tui.media.frames import iter_raw_frames

    cpu, wall = time.process_time(), time.perf_counter()
    frames = sum(1 for _ in iter_raw_frames(clip))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": frames, "fps": frames / wall, "cpu_per_frame_ms": cpu / frames * 1000}


def decode_paced(clip: Path) -> dict[str, float]:
    """Decode at the clip's own rate, sleeping between frames as a player would."""
    from tui.media.frames import Pacer, iter_raw_frames

    pacer = Pacer()
    cpu, wall = time.process_time(), time.perf_counter()
    frames = 0
    for raw in iter_raw_frames(clip):
        delay = pacer.delay(raw.time)
        if delay > 0:
            time.sleep(delay)
        frames += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": frames, "fps": frames / wall, "cpu_share": cpu / wall}


# --------------------------------------------------------------------------- the child


def child(clip: Path, report: Path, *, stock: bool = False) -> None:
    """Runs in the pty: the player in a real (not headless) Textual app, then a JSON report.

    `stock` swaps the player's half-block widget for textual-image's own, for reference.
    """
    from textual.app import App, ComposeResult
    from textual_image.widget import HalfcellImage

    from tui.ui.widgets import player as player_module
    from tui.ui.widgets.player import Player

    if stock:
        player_module.PLAYER_RENDERERS["halfblock"] = HalfcellImage

    class PlaybackApp(App[None]):
        CSS = f"Player {{ width: {COLUMNS}; height: {ROWS + 1}; }}"

        def __init__(self) -> None:
            super().__init__()
            self.result: dict[str, Any] = {}
            self._cpu = 0.0
            self._wall = 0.0

        def compose(self) -> ComposeResult:
            yield Player("halfblock")

        def on_mount(self) -> None:
            self.set_timer(0.5, self._start)  # let the first screen settle

        def _start(self) -> None:
            player = self.query_one(Player)
            self._cpu, self._wall = time.process_time(), time.perf_counter()
            player.play_clip(clip, loop=False)

        def on_player_stopped(self, message: Player.Stopped) -> None:
            wall = time.perf_counter() - self._wall
            cpu = time.process_time() - self._cpu
            player = message.player
            self.result = {
                "shown": player.frames_shown,
                "dropped": player.frames_dropped,
                "dropped_busy": player.frames_dropped_busy,
                "wall": wall,
                "cpu": cpu,
                "error": message.error,
                "box": list(player.cell_box()),
                "picture": list(player.query_one("#picture").size),
            }
            self.exit()

    app = PlaybackApp()
    app.run()
    report.write_text(json.dumps(app.result), encoding="utf-8")


def play_in_pty(clip: Path, *, stock: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        pid, fd = pty.fork()
        if pid == 0:  # the child: stdin, stdout and stderr are the pty
            os.environ.update(TERM="xterm-256color", COLORTERM="truecolor")
            try:
                child(clip, report, stock=stock)
            finally:
                os._exit(0)
        columns, rows = TERMINAL
        size = struct.pack("HHHH", rows, columns, columns * CELL_PIXELS[0], rows * CELL_PIXELS[1])
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)
        written = 0
        while True:  # drain what the app writes, as a terminal would
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                break
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            written += len(data)
        os.waitpid(pid, 0)
        os.close(fd)
        if not report.exists():
            raise RuntimeError("the playback child wrote no report")
        result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        result["terminal_bytes"] = written
        return result


def main() -> None:
    root = Path(__file__).resolve().parents[2] / ".bench"
    root.mkdir(exist_ok=True)
    clips = [
        ("draft animatic", make_clip(root)),
        ("photographic", make_photographic_clip(root)),
    ]
    print(f"{WIDTH}x{HEIGHT} {FPS} fps {SECONDS:g} s clips, half-blocks at {COLUMNS}x{ROWS} cells")
    for label, clip in clips:
        flat = decode_flat_out(clip)
        paced = decode_paced(clip)
        print(
            f"{label}: baseline, decoding alone: {flat['fps']:.0f} fps flat out "
            f"({flat['cpu_per_frame_ms']:.1f} ms CPU a frame); paced to {FPS} fps: "
            f"{paced['cpu_share'] * 100:.1f} % of a core"
        )
        played = play_in_pty(clip)
        if played.get("error"):
            print(f"{label}: playback failed: {played['error']}")
            continue
        fps = played["shown"] / played["wall"]
        share = played["cpu"] / played["wall"]
        print(
            f"{label}: playback: {played['shown']} frames on screen in {played['wall']:.2f} s "
            f"= {fps:.1f} fps (target >= 15), {played['dropped']} dropped "
            f"({played['dropped_busy']} while the screen was busy); CPU {share * 100:.1f} % "
            f"of a core (target < 50 %); {played['terminal_bytes'] // 1024} KB to the terminal"
        )
        print(
            f"{label}: ratio to baseline: CPU {share / paced['cpu_share']:.1f}x decoding alone; "
            f"{played['shown'] / paced['frames']:.2f} of the clip's {paced['frames']} frames "
            f"shown; {'meets' if fps >= 15 and share < 0.5 else 'MISSES'} the target"
        )
        stock = play_in_pty(clip, stock=True)
        print(
            f"{label}: for reference, textual-image's stock half-block widget: "
            f"{stock['shown'] / stock['wall']:.1f} fps, {stock['dropped']} dropped, "
            f"CPU {stock['cpu'] / stock['wall'] * 100:.1f} % of a core"
        )


if __name__ == "__main__":
    main()
