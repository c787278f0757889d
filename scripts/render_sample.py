"""Re-render the lighthouse sample's shipped stills and clips with the draft renderer.

Each file is drawn from the values it claims to be made from (`made_from`
overrides the scene's current ones), so the sample's deliberately stale
scenes really show the old take. Run: `.venv/bin/python scripts/render_sample.py`.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from PIL import Image

from tui.backends.draft.render import render_clip, render_still

SAMPLE = Path(__file__).resolve().parent.parent / "sample_projects" / "lighthouse"


def _compact_png(data: bytes) -> bytes:
    """A palette PNG: a storyboard card has few colours, and the sample must stay small."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    manifest = json.loads((SAMPLE / "storyboard.json").read_text(encoding="utf-8"))
    width, height, fps = manifest["width"], manifest["height"], manifest["fps"]
    total = 0
    for position, scene in enumerate(manifest["scenes"], start=1):
        image, video = scene.get("image"), scene.get("video")
        if image is None:
            continue
        made = {**scene, **image.get("made_from", {})}
        still = _compact_png(
            render_still(
                prompt=made["image_prompt"],
                negative_prompt=made.get("negative_prompt", ""),
                seed=made["seed"],
                position=position,
                width=width,
                height=height,
            )
        )
        (SAMPLE / image["file"]).parent.mkdir(parents=True, exist_ok=True)
        (SAMPLE / image["file"]).write_bytes(still)
        total += len(still)
        if video is not None:
            made = {**scene, **video.get("made_from", {})}
            clip = render_clip(
                still=still,
                camera=made["camera"],
                motion=made["motion"],
                duration=made.get("duration", scene["audio_duration"]),
                fps=fps,
                width=width,
                height=height,
            )
            (SAMPLE / video["file"]).parent.mkdir(parents=True, exist_ok=True)
            (SAMPLE / video["file"]).write_bytes(clip)
            total += len(clip)
        print(f"scene {position}: done", flush=True)
    print(f"{total / 1e6:.2f} MB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
