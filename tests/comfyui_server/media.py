"""Real, small media files for the simulated nodes: PNG, APNG, WEBP, WEBM, MP4 and JPEG previews.

Node outputs are symbolic (`Media`: size, frame count, colour); savers turn them into real
files so a client's download, probe and thumbnail code runs against genuine containers.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

MAX_PREVIEW_SIDE = 512


@dataclass(frozen=True)
class Media:
    """A symbolic IMAGE / LATENT / VIDEO value flowing between simulated nodes."""

    width: int = 64
    height: int = 64
    frames: int = 1
    color: tuple[int, int, int] = (128, 128, 128)
    fps: float = 8.0

    def with_(self, **changes: Any) -> Media:
        return replace(self, **changes)


def color_of(*parts: Any) -> tuple[int, int, int]:
    """A stable colour for some inputs, like the test node's sha256(prompt|seed)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return digest[0], digest[1], digest[2]


def frame_image(media: Media, index: int = 0) -> Image.Image:
    """One frame: the media colour with a bar that moves from frame to frame."""
    img = Image.new("RGB", (max(1, media.width), max(1, media.height)), media.color)
    if media.frames > 1:
        draw = ImageDraw.Draw(img)
        x = int(index * media.width / media.frames)
        bar = max(1, media.width // 16)
        inverse = tuple(255 - c for c in media.color)
        draw.rectangle((x, 0, x + bar, media.height), fill=inverse)
    return img


def frames_of(media: Media) -> list[Image.Image]:
    return [frame_image(media, i) for i in range(max(1, media.frames))]


@lru_cache(maxsize=64)
def preview_jpeg(media: Media, index: int = 0) -> bytes:
    """A JPEG preview as a sampler would send it (capped to MAX_PREVIEW_SIDE)."""
    img = frame_image(media, index)
    img.thumbnail((MAX_PREVIEW_SIDE, MAX_PREVIEW_SIDE))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_png(path: Path, media: Media, index: int, prompt: Any, extra_pnginfo: Any) -> None:
    """A PNG with the "prompt" (and workflow) text chunks that ComfyUI's SaveImage writes."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if isinstance(extra_pnginfo, dict):
        for key, value in extra_pnginfo.items():
            info.add_text(key, json.dumps(value))
    frame_image(media, index).save(path, pnginfo=info, compress_level=4)


def write_apng(path: Path, media: Media, fps: float) -> None:
    frames = frames_of(media)
    frames[0].save(
        path,
        format="PNG",
        save_all=True,
        append_images=frames[1:],
        duration=int(1000 / max(fps, 0.01)),
        loop=0,
        compress_level=4,
    )


def write_webp(path: Path, media: Media, fps: float, lossless: bool, quality: int) -> None:
    frames = frames_of(media)
    frames[0].save(
        path,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=int(1000 / max(fps, 0.01)),
        loop=0,
        lossless=lossless,
        quality=quality,
        method=0,
    )


def _even(n: int) -> int:
    return max(2, n + (n % 2))


def _encode(path: Path, media: Media, fps: float, codec: str, options: dict[str, str]) -> None:
    import av  # local: only savers need PyAV

    width, height = _even(media.width), _even(media.height)
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = options
        for img in frames_of(media.with_(width=width, height=height)):
            frame = av.VideoFrame.from_image(img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_mp4(path: Path, media: Media, fps: float) -> None:
    """H.264 in MP4, yuv420p at an even size: what SaveVideo's auto/mp4/h264 writes."""
    _encode(path, media, fps, "libx264", {"preset": "ultrafast", "crf": "30"})


def write_webm(path: Path, media: Media, fps: float) -> None:
    """VP9 in WebM, as SaveWEBM writes with codec vp9."""
    _encode(
        path,
        media,
        fps,
        "libvpx-vp9",
        {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b:v": "0"},
    )


def image_info(path: Path) -> Media:
    """Size and mean colour of an input image (what LoadImage would produce)."""
    with Image.open(path) as img:
        width, height = img.size
        small = img.convert("RGB").resize((1, 1))
        pixel = small.getpixel((0, 0))
    color = tuple(pixel) if isinstance(pixel, tuple) else (128, 128, 128)
    return Media(width=width, height=height, frames=1, color=(color[0], color[1], color[2]))


def sample_png(
    size: tuple[int, int] = (64, 64), color: tuple[int, int, int] = (90, 120, 200)
) -> bytes:
    """A small PNG, e.g. the example.png a fresh ComfyUI install has in its input folder."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()
