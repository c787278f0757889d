"""The draft renderer: seconds per 5-second 1280×720 clip.

The baseline, in the same run, is PyAV encoding the same number of frames of
one unchanging picture: the floor any animatic pays for H.264 alone.
"""

from __future__ import annotations

import io
import time

import av
from PIL import Image

from tui.backends.draft.render import frame_count, render_clip, render_still

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 16, 5.0


def encode_only(still: bytes) -> float:
    picture = Image.open(io.BytesIO(still)).convert("RGB").resize((WIDTH, HEIGHT))
    started = time.perf_counter()
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "28"}
        for _ in range(frame_count(SECONDS, FPS)):
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return time.perf_counter() - started


def main() -> None:
    started = time.perf_counter()
    still = render_still(
        prompt="a lighthouse on a black rock at dusk, stormy sea",
        seed=7,
        position=1,
        width=WIDTH,
        height=HEIGHT,
    )
    still_s = time.perf_counter() - started
    print(f"still {WIDTH}x{HEIGHT}: {still_s:.2f} s")
    baseline = encode_only(still)
    print(f"baseline (encode {frame_count(SECONDS, FPS)} identical frames): {baseline:.2f} s")
    for camera in ("zoom_in", "pan_left", "roll_cw"):
        started = time.perf_counter()
        clip = render_clip(
            still=still,
            camera=camera,
            motion=0.5,
            duration=SECONDS,
            fps=FPS,
            width=WIDTH,
            height=HEIGHT,
        )
        seconds = time.perf_counter() - started
        print(
            f"clip {SECONDS:g} s {WIDTH}x{HEIGHT}@{FPS} {camera}: {seconds:.2f} s "
            f"({len(clip) // 1024} KB), ratio to baseline {seconds / baseline:.2f}"
        )
