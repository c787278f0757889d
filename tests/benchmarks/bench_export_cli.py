"""The rough cut of the 12-scene sample through the real `storyboard export`, against calling
the media library directly and against the ffmpeg command line, in the same run.

`bench_export` times `tui.media.cut.assemble` on the sample's files. This
times what a creator runs: `storyboard export --force` as a whole process,
which queues a cut job, has the project's runner (a detached process) make the
film in a thread, records it and deletes the old one, while the command
follows the job in the database. The project is the sample made with
`storyboard new`, with a narration tone of each scene's length attached by
`storyboard set N audio_file=…`, so the inputs are those of `bench_export`.

Each figure is the median of three runs; the first export (which also starts
the runner) is shown apart.

Run: python -m tests.benchmarks export_cli
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.bench_export import (
    RUNS,
    SAMPLE,
    describe,
    ensure_ffmpeg,
    ffmpeg_encode_command,
    sample_plan,
    time_ffmpeg,
    time_ours,
    write_tone,
)


def storyboard(*args: str | Path) -> float:
    """Run one `storyboard` command to its end; its wall time."""
    env = {**os.environ, "NO_COLOR": "1", "STORYBOARD_RUNNER_IDLE_EXIT": "20"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tui", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"storyboard {args[0]} failed: {done.stderr.strip()[-400:]}")
    return wall


def main() -> None:
    ffmpeg, how = ensure_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="bench-export-cli-") as folder:
        work = Path(folder)
        project = work / "lighthouse"
        storyboard("new", project, "--from", SAMPLE)
        scenes = json.loads((SAMPLE / "storyboard.json").read_text(encoding="utf-8"))["scenes"]
        for position, scene in enumerate(scenes, start=1):
            tone = write_tone(work / f"tone-{position:02d}.wav", scene["audio_duration"])
            storyboard("set", project, str(position), f"audio_file={tone}")
        film = project / "exports" / "the-lighthouse-keeper.mp4"

        first = storyboard("export", project, "--force")
        walls = [storyboard("export", project, "--force") for _ in range(RUNS)]
        wall = statistics.median(walls)
        print(
            f"storyboard export --force, 12 scenes: {wall:.2f} s (median of {RUNS}; the first, "
            f"which also started the runner: {first:.2f} s) -> {describe(film)}"
        )
        plan = sample_plan(work)
        direct, _, result = time_ours(plan, work / "direct.mp4", "auto")
        print(
            f"the media library alone on the same inputs: {direct:.2f} s "
            f"({'copy' if result.copied else 'encode'}); the command's overhead: "
            f"{wall - direct:+.2f} s ({wall / direct:.2f}x)"
        )
        if ffmpeg is None:
            print(f"ffmpeg comparison skipped: {how}")
            return
        out = work / "ffmpeg.mp4"
        f_wall, _ = time_ffmpeg(lambda: ffmpeg_encode_command(ffmpeg, plan, work, out), out)
        ratio = wall / f_wall
        print(
            f"ffmpeg, the same cut in one command: {f_wall:.2f} s; ratio {ratio:.2f}x "
            f"(target <= 1.5x: {'meets' if ratio <= 1.5 else 'MISSES'})"
        )
        storyboard("runner", project, "stop")


if __name__ == "__main__":
    main()
