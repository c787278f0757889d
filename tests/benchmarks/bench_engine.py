"""Engine overhead per job, against the same file writes done in a bare loop.

An instant in-memory backend answers every job at once with a 100 KB file, so
what is measured is the engine itself: journalling the job, dispatching it,
writing the file atomically, the finishing transaction and deleting the old
file. The baseline makes the same atomic writes and deletes with nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from tests.conftest import storyboard_json
from tests.instant_backend import InstantBackend
from tui.domain.models import AssetKind
from tui.engine.assets import atomic_write, remove_quietly
from tui.engine.engine import Engine
from tui.engine.project import Project
from tui.store.importer import create_project

JOBS = 1000
SCENES = 100
PAYLOAD = os.urandom(100 * 1024)


async def engine_run(root: Path) -> float:
    source = root / "story.json"
    source.write_text(json.dumps(storyboard_json(SCENES)), encoding="utf-8")
    folder = await create_project(root / "film", source)
    async with await Project.open(folder.root) as project:
        backend = InstantBackend(payload=PAYLOAD)
        engine = Engine(project, backend)
        await engine.start()
        scenes = await project.scenes()
        elapsed = 0.0
        for round_ in range(JOBS // SCENES):
            for scene in scenes:  # the user's edits are not the engine's cost
                await project.store.update_scene(scene.id, {"seed": 10_000 + round_})
            started = time.perf_counter()
            await engine.request([AssetKind.IMAGE], include_missing=True)
            await engine.wait_idle()
            elapsed += time.perf_counter() - started
        await engine.stop()
        files = list(project.folder.images_dir.iterdir())
        assert len(files) == SCENES, f"expected {SCENES} stills, found {len(files)}"
    return elapsed


def bare_run(root: Path) -> float:
    folder = root / "bare"
    folder.mkdir()
    previous: dict[int, Path] = {}
    started = time.perf_counter()
    for job in range(JOBS):
        scene = job % SCENES
        path = folder / f"scene-{scene:04d}-{job:08x}.png"
        atomic_write(path, PAYLOAD)
        if scene in previous:
            remove_quietly(previous[scene])
        previous[scene] = path
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare = bare_run(root)
        engine = asyncio.run(engine_run(root))
    per_engine = engine / JOBS * 1000
    per_bare = bare / JOBS * 1000
    print(f"jobs: {JOBS} image jobs over {SCENES} scenes, 100 KB each")
    print(f"engine: {per_engine:.2f} ms per job (target < 2 ms)")
    print(f"bare atomic write + delete loop: {per_bare:.2f} ms per job")
    print(f"ratio engine / bare: {engine / bare:.2f}")
    print(f"engine overhead beyond the writes: {per_engine - per_bare:.2f} ms per job")
