"""`storyboard new`, `status`, `status --json` and `regen --dry-run` at 10,000 and 100,000 scenes.

Each command runs as a whole process, as a creator would run it, and is timed
from start to exit (the median of three runs for the reads) with its peak
memory (the child's own maximum resident set, from `wait4`). The baseline in
the same run is a bare `sqlite3` script, also a whole process, doing the same
work with nothing of ours: it inserts the same scene rows from the same import
file, and reads the same rows back (scenes joined to their assets, each
printed as a line of JSON).

The project is made realistic before the reads: every scene gets a still and
a clip (asset rows with their real input snapshots, and a file on disk for
each), then one scene in ten has its image prompt edited (dirty) and one in
fifty loses its still file (missing), so status judges, explains and checks
files for real.

Targets (issue 10, on this 2-core machine): 10,000 scenes each under 1 s;
100,000 scenes each under 10 s and under 300 MB.

It also measures the answer to "is this asset's file still there?" (issue 10
item 9) at 10,000 scenes: judging every scene against the folder listing, a
`refresh()` when nothing changed (what the TUI's change poll costs), a
`refresh()` after a deletion, against a `stat` per scene per key press.

Run: python -m tests.benchmarks scale
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import storyboard_json
from tui.domain.models import Asset, AssetKind
from tui.domain.staleness import fingerprint, image_inputs, scene_status, video_inputs_from
from tui.engine.project import Project
from tui.folder import asset_name
from tui.store.schema import MIGRATIONS

SIZES = (10_000, 100_000)
TARGETS = {10_000: (1.0, None), 100_000: (10.0, 300.0)}
"""Scenes → (seconds, megabytes) that every command must stay under."""

BASELINE = r"""
import json, sqlite3, sys
mode, db_path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(db_path)
if mode == "insert":
    schema = open(sys.argv[4], encoding="utf-8").read()
    db.executescript(schema)
    data = json.load(open(sys.argv[3], encoding="utf-8"))
    db.execute("INSERT INTO project (id, name, width, height, fps, rev, created) "
               "VALUES (1, ?, ?, ?, ?, 0, '')",
               (data["name"], data["width"], data["height"], data["fps"]))
    db.executemany(
        "INSERT INTO scenes (position, narration, audio_file, audio_duration, image_prompt, "
        "negative_prompt, seed, video_prompt, camera, motion, rev) "
        "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 0)",
        [(i, s["narration"], s["audio_duration"], s["image_prompt"], s["negative_prompt"],
          s["seed"], s["video_prompt"], s["camera"], s["motion"])
         for i, s in enumerate(data["scenes"], 1)])
    db.commit()
    print(f"inserted {len(data['scenes'])} scenes")
else:
    out = sys.stdout
    rows = db.execute(
        "SELECT s.*, i.file, i.inputs, v.file, v.inputs FROM scenes s "
        "LEFT JOIN assets i ON i.scene_id = s.id AND i.kind = 'image' "
        "LEFT JOIN assets v ON v.scene_id = s.id AND v.kind = 'video' ORDER BY s.position")
    for row in rows:
        out.write(json.dumps(row) + "\n")
"""


LAUNCHER = r"""
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
sys.stderr.write(f"\n@@ {os.waitstatus_to_exitcode(status)} {wall} {usage.ru_maxrss}\n")
"""
"""Runs one command and reports its wall time and peak memory. Linux carries a process's
peak resident size across fork and exec, so the command is started from this small
process rather than from the benchmark, whose own memory would otherwise be counted."""


class _Child:
    """One command, timed as a whole process, with its own peak memory."""

    def __init__(self, command: Sequence[str | Path]) -> None:
        self.command = [str(part) for part in command]

    def run(self) -> tuple[float, float, str]:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
        done = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, *self.command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        *err, report = done.stderr.rstrip("\n").split("\n")
        code, wall, peak_kb = report.removeprefix("@@ ").split()
        if int(code) != 0:
            raise RuntimeError(f"{' '.join(self.command[2:5])} failed: {' '.join(err)[-500:]}")
        lines = done.stdout.strip().splitlines()
        return float(wall), int(peak_kb) / 1024, lines[-1] if lines else ""


RUNS = 3
"""Each read is run this many times; the median wall time and the largest memory count.
One `new` and one insert each: a second would find the project already there."""


def median(child: _Child) -> tuple[float, float, str]:
    runs = [child.run() for _ in range(RUNS)]
    walls = sorted(run[0] for run in runs)
    return walls[len(walls) // 2], max(run[1] for run in runs), runs[-1][2]


def storyboard(*args: str | Path) -> _Child:
    return _Child([sys.executable, "-m", "tui", *map(str, args)])


def baseline(*args: str | Path) -> _Child:
    return _Child([sys.executable, "-c", BASELINE, *map(str, args)])


async def populate(project_dir: Path) -> None:
    """Give every scene a clean still and clip (rows and files), then make some dirty or
    missing, as a project that has been worked on looks."""
    async with await Project.open(project_dir) as project:
        scenes = await project.scenes()
        settings = project.settings
    folder = project.folder
    created = datetime.now(UTC).isoformat()
    rows = []
    for scene in scenes:
        key = f"{scene.id:08x}"
        image_file = f"assets/images/{asset_name(scene.position, key, '.png')}"
        video_file = f"assets/videos/{asset_name(scene.position, key, '.mp4')}"
        image = image_inputs(scene, settings)
        image_hash = fingerprint({"still": scene.id})
        still = Asset(
            kind=AssetKind.IMAGE,
            file=image_file,
            content_hash=image_hash,
            inputs=image,
            created=datetime.now(UTC),
        )
        video = video_inputs_from(scene.model_copy(update={"image": still}), settings, still)
        rows.append((scene.id, "image", image_file, image_hash, json.dumps(image), created))
        rows.append((scene.id, "video", video_file, "v" + image_hash, json.dumps(video), created))
        (folder.root / image_file).touch()
        (folder.root / video_file).touch()
    with sqlite3.connect(folder.db_path) as db:
        db.executemany(
            "INSERT INTO assets (scene_id, kind, file, content_hash, inputs, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("UPDATE scenes SET image_prompt = image_prompt || ' at night' WHERE id % 10 = 0")
    for scene in scenes[::50]:
        key = f"{scene.id:08x}"
        (folder.root / "assets/images" / asset_name(scene.position, key, ".png")).unlink()


def presence_costs(project_dir: Path) -> None:
    """Issue 10 item 9: what checking files costs, per key press and per poll."""

    async def run() -> None:
        async with await Project.open(project_dir) as project:
            scenes = await project.scenes()
            files = project.store.files
            started = time.perf_counter()
            for scene in scenes:
                project.status(scene)
            judged = time.perf_counter() - started
            root = project.folder.root

            def on_disk(relative: str) -> bool:
                return (root / relative).is_file()

            started = time.perf_counter()
            for scene in scenes:
                scene_status(scene, project.settings, on_disk)
            judged_with_stats = time.perf_counter() - started
            started = time.perf_counter()
            for scene in scenes:
                for asset in (scene.image, scene.video):
                    if asset is not None:
                        on_disk(asset.file)
            stats = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(100):
                files.refresh()
            idle = (time.perf_counter() - started) / 100
            victim = next(s for s in scenes if s.image is not None and files.has(s.image.file))
            assert victim.image is not None
            (root / victim.image.file).unlink()
            started = time.perf_counter()
            flipped = files.refresh()
            rescan = time.perf_counter() - started
            assert flipped == {victim.image.file}
            count = len(scenes)
            print(
                f"  file checks, {count:,} scenes: a stat of every asset (a check per key "
                f"press would cost this) {stats * 1e3:.0f} ms; the change poll's look when "
                f"nothing changed {idle * 1e6:.0f} µs, after a deletion {rescan * 1e3:.1f} ms "
                f"(that folder listed again); judging every scene {judged * 1e3:.0f} ms with "
                f"the listing vs {judged_with_stats * 1e3:.0f} ms with a stat per asset "
                f"(ratio {judged / judged_with_stats:.2f})"
            )

    asyncio.run(run())


def bench(count: int, work: Path) -> None:
    seconds, megabytes = TARGETS[count]
    source = work / "story.json"
    source.write_text(json.dumps(storyboard_json(count)), encoding="utf-8")
    schema = work / "schema.sql"
    schema.write_text("\n".join(MIGRATIONS[v] for v in sorted(MIGRATIONS)), encoding="utf-8")
    raw_db = work / "bare.db"
    project = work / "film"

    base_new = baseline("insert", raw_db, source, schema).run()
    new = storyboard("new", project, "--from", source).run()
    asyncio.run(populate(project))
    with sqlite3.connect(raw_db) as db:  # the baseline reads the same rows, assets included
        db.execute("ATTACH ? AS film", (str(project / "storyboard.db"),))
        db.execute("DELETE FROM scenes")
        db.execute("INSERT INTO scenes SELECT * FROM film.scenes")
        db.execute("INSERT INTO assets SELECT * FROM film.assets")
    base_read = median(baseline("read", raw_db))
    results = {
        "new": (new, base_new),
        "status": (median(storyboard("status", project)), base_read),
        "status --json": (median(storyboard("status", project, "--json")), base_read),
        "regen --dry-run": (
            median(storyboard("regen", project, "--dry-run", "--include-missing")),
            base_read,
        ),
    }
    print(
        f"{count:,} scenes (targets: under {seconds:g} s"
        + (f" and {megabytes:g} MB)" if megabytes else ")")
    )
    for name, ((wall, peak, last), (b_wall, b_peak, _)) in results.items():
        ok = wall < seconds and (megabytes is None or peak < megabytes)
        print(
            f"  {name:16} {wall:6.2f} s {peak:6.0f} MB | bare sqlite3 {b_wall:5.2f} s "
            f"{b_peak:4.0f} MB | ratio {wall / b_wall:4.1f} | {'meets' if ok else 'MISSES'}"
            f" | {last[:60]}"
        )
    if count == SIZES[0]:
        presence_costs(project)


def main() -> None:
    for count in SIZES:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            bench(count, Path(folder))


if __name__ == "__main__":
    main()
