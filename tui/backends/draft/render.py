"""The draft renderer's pictures: storyboard cards and camera-move animatics.

Pure, blocking functions (Pillow + PyAV, no engine, no asyncio) so the draft
backend can run them in a worker thread and the tests can call them directly.
Everything a card shows comes from its inputs alone, so re-rendering the same
scene gives byte-identical PNGs and an edit always shows up as a visible change.
"""

from __future__ import annotations

import colorsys
import contextlib
import functools
import hashlib
import io
import math
import os
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from tui.domain.camera import CAMERA_NAMES
from tui.domain.models import scene_seconds_limit

ProgressFn = Callable[[int, int], None]
"""(done, total), called from the rendering thread."""
CancelFn = Callable[[], bool]
"""Returns True when the caller wants the render to stop."""

RGB = tuple[int, int, int]
AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont

STILL_STAGES = 4
PAN_FRACTION = 0.25
"""At motion 1.0 a pan travels a quarter of the frame width (or height)."""
ZOOM_FACTOR = 1.5
"""At motion 1.0 a zoom ends (or starts) 1.5x closer."""
ROLL_DEGREES = 20.0
"""At motion 1.0 a roll turns the picture by 20 degrees."""
X264_OPTIONS = {"preset": "veryfast", "crf": "28"}
"""Drafts are throwaway previews: fast to make and small on disk beats quality."""

_SUPERSAMPLE = 2
"""Shapes are drawn at 2x and reduced, since ImageDraw itself does not anti-alias."""


class RenderCancelled(Exception):
    """The caller's cancel() said stop; nothing was produced."""


# --------------------------------------------------------------------------- helpers


def _stop_if_cancelled(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise RenderCancelled


def _report(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _rng(*parts: object) -> random.Random:
    """A generator seeded from a stable digest; hash() is salted per process."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8", "replace"))
    return random.Random(int.from_bytes(digest.digest()[:8], "big"))


def _between(rng: random.Random, low: float, high: float) -> float:
    """Only rng.random() is used: its sequence is stable across Python versions."""
    return low + (high - low) * rng.random()


def _hsv(hue: float, sat: float, val: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL / ST (titles, hyperlinks)
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def clean_text(text: str) -> str:
    """Prompt text as safe, single-line printable words.

    Prompts are user text: escape codes would draw as junk, control and format
    characters as boxes, and lone surrogates make font encoding raise.
    """
    text = _ESCAPES.sub("", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cf", "Cs"):
            kept.append(ch)
    return " ".join("".join(kept).split())


NARROWEST_GLYPH = 0.15
"""No glyph of the card's font is narrower than this fraction of its size (with
room to spare), which bounds how many characters a panel line can ever show."""


def card_text_budget(line_width: float, panel_height: float, size: int, line_h: int) -> int:
    """The most characters a prompt panel of this size could possibly draw."""
    lines = max(1, int(panel_height // line_h))
    per_line = int(line_width / max(1.0, size * NARROWEST_GLYPH)) + 1
    return lines * per_line


def card_text(text: str, budget: int) -> str:
    """What the card draws of a prompt: cleaned, and at most `budget` characters.

    The card shows a few lines, so a 1 MB prompt is cut before any cleaning or
    measuring; the stored prompt stays whole. A cut ends in an ellipsis.
    """
    text = text.lstrip()
    head = text[: budget * 4]  # escape codes and controls shrink when cleaned
    cleaned = clean_text(head)
    if len(cleaned) > budget or len(head) < len(text):
        return cleaned[:budget].rstrip() + "…"
    return cleaned


@functools.lru_cache(maxsize=32)
def _font(size: int) -> AnyFont:
    """Pillow's bundled font: nothing to ship, and it looks the same on every machine."""
    return ImageFont.load_default(size=size)


def _drawable(text: str, font: AnyFont) -> str:
    """Text the font can encode; the bitmap fallback font only knows Latin-1."""
    if isinstance(font, ImageFont.FreeTypeFont):
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def _text_width(font: AnyFont, text: str) -> float:
    return font.getlength(text)


def _split_long(word: str, font: AnyFont, max_width: float) -> Iterator[str]:
    """Hard-break a word wider than a line (URLs, 5,000 x's) into line-sized chunks.

    Each chunk's length is found by doubling then halving, so a line costs a
    few measurements rather than one per character.
    """
    start = 0
    while start < len(word):
        rest = len(word) - start
        fits = 1  # a line always takes at least one character
        step = 1
        while fits < rest:
            trial = min(rest, fits + step)
            if _text_width(font, word[start : start + trial]) > max_width:
                break
            fits = trial
            step *= 2
        else:
            yield word[start:]
            return
        low, high = fits, min(rest, fits + step)  # low fits, high does not
        while high - low > 1:
            mid = (low + high) // 2
            if _text_width(font, word[start : start + mid]) <= max_width:
                low = mid
            else:
                high = mid
        yield word[start : start + low]
        start += low


def _wrap(text: str, font: AnyFont, max_width: float, max_lines: int) -> list[str]:
    """Word-wrap by pixel width, stopping (with an ellipsis) once the panel is full."""
    if max_lines < 1:
        return []
    lines: list[str] = []
    line = ""
    truncated = False

    def pieces() -> Iterator[str]:
        for word in text.split(" "):
            if _text_width(font, word) <= max_width:
                yield word
            else:
                yield from _split_long(word, font, max_width)

    for piece in pieces():
        candidate = f"{line} {piece}" if line else piece
        if _text_width(font, candidate) <= max_width:
            line = candidate
            continue
        lines.append(line)
        line = piece
        if len(lines) == max_lines:
            truncated = True
            break
    if not truncated and line:
        lines.append(line)
    if truncated:
        last = lines[-1]
        while last and _text_width(font, last + "…") > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


# --------------------------------------------------------------------------- the card


@dataclass(frozen=True)
class _Palette:
    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    accent: RGB
    ink: RGB
    paper: RGB


def _palette(prompt: str, seed: int) -> _Palette:
    """The prompt sets the mood's hues; the seed only nudges them, so variants stay related."""
    rng = _rng("palette", prompt)
    jitter = _rng("hue-jitter", seed).random()
    hue = rng.random() + (jitter - 0.5) * 0.08
    hue2 = hue + _between(rng, 0.06, 0.22) * (1 if rng.random() < 0.5 else -1)
    sky_top = _hsv(hue, _between(rng, 0.35, 0.65), _between(rng, 0.55, 0.85))
    sky_bottom = _hsv(hue2, _between(rng, 0.15, 0.40), _between(rng, 0.85, 0.98))
    ground = _hsv(hue2 + _between(rng, 0.25, 0.45), _between(rng, 0.25, 0.5), 0.45)
    accent = _hsv(hue + 0.5, _between(rng, 0.65, 0.9), _between(rng, 0.85, 1.0))
    ink = _hsv(hue, 0.5, 0.16)
    paper = _hsv(hue2, 0.06, 0.98)
    return _Palette(sky_top, sky_bottom, ground, accent, ink, paper)


def _background(width: int, height: int, pal: _Palette) -> Image.Image:
    """A vertical sky gradient; linear_gradient keeps it Pillow-only and fast."""
    mask = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    top = Image.new("RGB", (width, height), pal.sky_top)
    bottom = Image.new("RGB", (width, height), pal.sky_bottom)
    return Image.composite(bottom, top, mask)


def _sketch_line(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    points: list[tuple[float, float]],
    fill: RGB,
    width: int,
    wobble: float,
) -> None:
    """Two slightly offset strokes, the way a quick pencil line overshoots itself."""
    for _ in range(2):
        shaken = [
            (x + _between(rng, -wobble, wobble), y + _between(rng, -wobble, wobble))
            for x, y in points
        ]
        draw.line(shaken, fill=fill, width=width, joint="curve")


def _sketch_rect(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    box: tuple[float, float, float, float],
    fill: RGB,
    ink: RGB,
    width: int,
    wobble: float,
) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle((x0, y0, x1, y1), fill=fill)
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    _sketch_line(draw, rng, corners, ink, width, wobble)


def _shapes(image: Image.Image, prompt: str, seed: int, pal: _Palette) -> Image.Image:
    """A loose landscape sketch: horizon, a sun, hills, blocks, hatching, all from the seed."""
    w, h = image.size
    ss = _SUPERSAMPLE
    canvas = image.resize((w * ss, h * ss), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    rng = _rng("shapes", seed, prompt)
    W, H = w * ss, h * ss
    stroke = max(1, round(min(W, H) / 220))
    wobble = min(W, H) / 260

    horizon = H * _between(rng, 0.48, 0.70)
    tilt = H * _between(rng, -0.05, 0.05)
    left_y, right_y = horizon + tilt, horizon - tilt

    def ground_at(x: float) -> float:
        return left_y + (right_y - left_y) * (x / W)

    # The sun (or moon) sits in the sky, behind everything else.
    radius = min(W, H) * _between(rng, 0.06, 0.13)
    sun_x = W * _between(rng, 0.12, 0.88)
    sun_y = max(radius * 1.2, min(horizon - radius * 1.5, H * _between(rng, 0.10, 0.35)))
    sun_fill = _mix(pal.accent, pal.paper, 0.35)
    draw.ellipse(
        (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius),
        fill=sun_fill,
        outline=pal.ink,
        width=stroke,
    )

    # Hills behind the horizon.
    for _ in range(int(_between(rng, 0, 3.99))):
        base = W * _between(rng, 0.25, 0.6)
        peak_x = W * _between(rng, 0.0, 1.0)
        peak_y = horizon - H * _between(rng, 0.08, 0.25)
        x0, x1 = peak_x - base / 2, peak_x + base / 2
        hill = [(x0, ground_at(x0)), (peak_x, peak_y), (x1, ground_at(x1))]
        draw.polygon(hill, fill=_mix(pal.sky_bottom, pal.ground, _between(rng, 0.3, 0.6)))
        _sketch_line(draw, rng, hill, pal.ink, stroke, wobble)

    # The ground, with a hand-drawn horizon line.
    draw.polygon([(0, left_y), (W, right_y), (W, H), (0, H)], fill=pal.ground)
    _sketch_line(draw, rng, [(0, left_y), (W / 2, horizon), (W, right_y)], pal.ink, stroke, wobble)

    # Hatching on the ground reads as texture and depth.
    hatch = _mix(pal.ground, pal.ink, 0.45)
    for _ in range(int(_between(rng, 6, 18))):
        x = W * rng.random()
        top = ground_at(x)
        y = top + (H - top) * _between(rng, 0.15, 0.95)
        length = W * _between(rng, 0.02, 0.06)
        draw.line((x, y, x + length, y - length * 0.6), fill=hatch, width=stroke)

    # Blocks standing on the horizon: buildings, figures, props.
    for _ in range(int(_between(rng, 2, 5.99))):
        bw = W * _between(rng, 0.04, 0.14)
        bh = H * _between(rng, 0.08, 0.34)
        x0 = W * _between(rng, 0.02, 0.98) - bw / 2
        y1 = ground_at(x0 + bw / 2) + H * _between(rng, 0.0, 0.03)
        fill = _mix(pal.ground, pal.paper, _between(rng, 0.1, 0.6))
        _sketch_rect(draw, rng, (x0, y1 - bh, x0 + bw, y1), fill, pal.ink, stroke, wobble)
        if rng.random() < 0.5:  # a lit window or two
            win = min(bw, bh) * 0.22
            draw.rectangle(
                (x0 + bw * 0.3, y1 - bh * 0.75, x0 + bw * 0.3 + win, y1 - bh * 0.75 + win),
                fill=pal.accent,
            )

    # A thin inset frame, like the border of a storyboard panel.
    inset = max(2, round(min(W, H) * 0.02))
    draw.rectangle((inset, inset, W - inset, H - inset), outline=pal.ink, width=stroke)
    return canvas.reduce(ss)


def _text_layer(
    image: Image.Image,
    *,
    prompt: str,
    negative_prompt: str,
    seed: int,
    position: int,
    pal: _Palette,
) -> Image.Image:
    """The prompt in a translucent panel and the scene number in a badge."""
    w, h = image.size
    size = max(8, min(48, round(h / 22)))
    if w < size * 5 or h < size * 4:
        return image  # a thumbnail-sized card has no room for legible words

    font = _font(size)
    small = _font(max(8, round(size * 0.8)))
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pad = max(2, round(size * 0.6))
    line_h = round(size * 1.25)

    # Scene badge, top left.
    label = f"Scene {position}"
    label_w = _text_width(font, label)
    badge = (pad, pad, pad + label_w + pad * 2, pad + line_h + pad)
    draw.rounded_rectangle(badge, radius=pad, fill=(*pal.accent, 235))
    label_ink = (20, 20, 20) if _luma(pal.accent) > 140 else (245, 245, 245)
    draw.text((pad * 2, pad + pad / 2), label, font=font, fill=label_ink)

    # The seed, top right, in small dim type: it tells variants apart at a glance.
    seed_text = f"seed {seed}"
    seed_w = _text_width(small, seed_text)
    if seed_w + pad * 2 < w - badge[2]:
        draw.text(
            (w - pad * 2 - seed_w, pad + pad / 2), seed_text, font=small, fill=(*pal.ink, 200)
        )

    # The prompt panel along the bottom, as tall as its text, at most a third of the card.
    panel_w = w - pad * 4
    max_panel_h = h * 0.36
    budget = card_text_budget(panel_w - pad * 2, max_panel_h - pad * 2, size, line_h)
    text = _drawable(card_text(prompt, budget), font) or "(no prompt)"
    negative = _drawable(card_text(negative_prompt, budget), small)
    neg_h = line_h if negative else 0
    max_lines = max(1, int((max_panel_h - pad * 2 - neg_h) // line_h))
    lines = _wrap(text, font, panel_w - pad * 2, max_lines)
    neg_lines = _wrap(f"not: {negative}", small, panel_w - pad * 2, 1) if negative else []
    panel_h = pad * 2 + line_h * len(lines) + (line_h if neg_lines else 0)
    top = h - pad * 2 - panel_h
    draw.rounded_rectangle(
        (pad * 2, top, pad * 2 + panel_w, top + panel_h), radius=pad, fill=(*pal.paper, 215)
    )
    y = top + pad
    for line in lines:
        draw.text((pad * 3, y), line, font=font, fill=(*pal.ink, 255))
        y += line_h
    for line in neg_lines:
        draw.text((pad * 3, y), line, font=small, fill=(*_mix(pal.ink, pal.paper, 0.4), 255))

    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def render_still(
    *,
    prompt: str,
    negative_prompt: str = "",
    seed: int,
    position: int,
    width: int,
    height: int,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> bytes:
    """PNG bytes of a storyboard card.

    Deterministic: the same arguments give the same bytes (with the same Pillow
    and zlib), so an unchanged scene never looks edited.
    """
    if width < 2 or height < 2:
        raise ValueError(f"a card needs at least 2x2 pixels, got {width}x{height}")
    pal = _palette(prompt, seed)

    _stop_if_cancelled(cancel)
    image = _background(width, height, pal)
    _report(progress, 1, STILL_STAGES)

    _stop_if_cancelled(cancel)
    image = _shapes(image, prompt, seed, pal)
    _report(progress, 2, STILL_STAGES)

    _stop_if_cancelled(cancel)
    image = _text_layer(
        image,
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        position=position,
        pal=pal,
    )
    _report(progress, 3, STILL_STAGES)

    _stop_if_cancelled(cancel)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    _report(progress, 4, STILL_STAGES)
    return out.getvalue()


# --------------------------------------------------------------------------- the animatic


def frame_count(duration: float, fps: int) -> int:
    """Frames in a clip: at least one, so even a zero-length scene has a picture."""
    return max(1, round(duration * fps))


def _ease(t: float) -> float:
    """Cosine ease-in-out: the move starts and stops gently, like a hand on a fluid head."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


@dataclass(frozen=True)
class _View:
    """Where the virtual camera looks, in output-sized 'cover' coordinates.

    dx, dy: the view centre's offset from the still's centre, in output pixels;
    zoom: magnification over a plain cover-fit; angle: camera roll in degrees.
    """

    dx: float = 0.0
    dy: float = 0.0
    zoom: float = 1.0
    angle: float = 0.0


def _views(camera: str, motion: float, count: int, width: int, height: int) -> Iterator[_View]:
    """The camera path, one view per frame, made as they are needed: never a list of them.

    Directions follow the camera, not the picture: pan_left turns the camera
    left (the picture slides right), roll_cw rolls it clockwise (the picture
    turns anticlockwise). Pans and rolls are centred on the still (a roll passes
    through level half-way), which keeps the crop they force small.
    """
    pan_x = PAN_FRACTION * motion * width
    pan_y = PAN_FRACTION * motion * height
    zoom_to = 1.0 + (ZOOM_FACTOR - 1.0) * motion
    roll = ROLL_DEGREES * motion
    paths: dict[str, Callable[[float], _View]] = {
        "static": lambda s: _View(),
        "pan_left": lambda s: _View(dx=pan_x * (0.5 - s)),
        "pan_right": lambda s: _View(dx=pan_x * (s - 0.5)),
        "pan_up": lambda s: _View(dy=pan_y * (0.5 - s)),
        "pan_down": lambda s: _View(dy=pan_y * (s - 0.5)),
        "zoom_in": lambda s: _View(zoom=1.0 + (zoom_to - 1.0) * s),
        "zoom_out": lambda s: _View(zoom=zoom_to - (zoom_to - 1.0) * s),
        "roll_cw": lambda s: _View(angle=roll * (s - 0.5)),
        "roll_ccw": lambda s: _View(angle=roll * (0.5 - s)),
    }
    path = paths[camera]
    for i in range(count):
        yield path(_ease(i / (count - 1)) if count > 1 else 0.0)


def _margin(views: Iterable[_View], width: int, height: int) -> float:
    """How much the whole clip must be magnified so no view ever leaves the still.

    A view of size (w/z, h/z) rotated by a and shifted by (dx, dy) has a
    bounding box that must fit inside the w x h cover image; the smallest
    extra scale m satisfying that for every frame is the margin.
    """
    need = 1.0
    for v in views:
        a = math.radians(v.angle)
        cos, sin = abs(math.cos(a)), abs(math.sin(a))
        half_w = (width * cos + height * sin) / (2 * v.zoom)
        half_h = (width * sin + height * cos) / (2 * v.zoom)
        # With everything scaled by m: m*W/2 >= |dx| + half_w (the view keeps its size).
        need = max(need, (abs(v.dx) + half_w) / (width / 2), (abs(v.dy) + half_h) / (height / 2))
    return need


def _prescale(still: Image.Image, width: int, height: int, scale: float) -> Image.Image:
    """Resize the still once to cover the output at `scale`, never upscaling past need.

    Doing the expensive, high-quality resample once lets each frame use a cheap
    bilinear sample without aliasing from a large still or blurring a small one.
    """
    cover = max(width / still.width, height / still.height)
    target = (
        max(1, round(still.width * cover * scale)),
        max(1, round(still.height * cover * scale)),
    )
    if target == still.size:
        return still
    return still.resize(target, Image.Resampling.LANCZOS)


def _frame(
    source: Image.Image, view: _View, margin: float, width: int, height: int, *, affine: bool
) -> Image.Image:
    """One output frame sampled from the pre-scaled still for this view.

    Without a roll a box resize does the job at about twice the speed of an
    affine transform (and filters properly when shrinking); a clip uses one way
    for all its frames so the two never alternate and jitter.
    """
    # Source pixels per output pixel at zoom 1; the source covers (width, height) * k.
    k = min(source.width / width, source.height / height)
    scale = k / (margin * view.zoom)  # the margin magnifies: fewer source px per output px
    # Offsets are in magnified-cover pixels, k / margin source pixels each.
    cx_src = source.width / 2 + view.dx * k / margin
    cy_src = source.height / 2 + view.dy * k / margin
    if not affine:
        half_w, half_h = width / 2 * scale, height / 2 * scale
        # Rounding can push an edge a hair past the still; slide the box back inside.
        x0 = min(max(0.0, cx_src - half_w), max(0.0, source.width - 2 * half_w))
        y0 = min(max(0.0, cy_src - half_h), max(0.0, source.height - 2 * half_h))
        box = (x0, y0, min(source.width, x0 + 2 * half_w), min(source.height, y0 + 2 * half_h))
        return source.resize((width, height), Image.Resampling.BILINEAR, box=box)
    a = math.radians(view.angle)
    cos, sin = math.cos(a) * scale, math.sin(a) * scale
    cx_out, cy_out = width / 2, height / 2
    # Output (x, y) -> source: centre, rotate by the camera roll, scale, re-centre. A
    # clockwise camera roll samples the source along a clockwise-turned rectangle, so
    # the picture appears to turn anticlockwise.
    coeffs = (
        cos,
        -sin,
        cx_src - cos * cx_out + sin * cy_out,
        sin,
        cos,
        cy_src - sin * cx_out - cos * cy_out,
    )
    return source.transform(
        (width, height), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR
    )


Destination = str | os.PathLike[str] | BinaryIO
"""Where a clip is written: a path, or a seekable binary file (mp4 rewrites its index)."""


def render_clip(
    *,
    still: bytes,
    camera: str,
    motion: float,
    duration: float,
    fps: int,
    width: int,
    height: int,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> bytes:
    """MP4 (H.264, yuv420p) bytes of an animatic; see `write_clip`, which streams to a file."""
    out = io.BytesIO()
    write_clip(
        out,
        still=still,
        camera=camera,
        motion=motion,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        progress=progress,
        cancel=cancel,
    )
    return out.getvalue()


def write_clip(
    dest: Destination,
    *,
    still: bytes,
    camera: str,
    motion: float,
    duration: float,
    fps: int,
    width: int,
    height: int,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> None:
    """Encode an animatic (MP4, H.264, yuv420p) straight into `dest`.

    Frames are made, encoded and dropped one at a time, so memory stays flat
    however long the scene. A duration over the scene limit is refused: a
    stored value from before the limit must fail its job, not run for days.

    yuv420p needs even dimensions, so an odd width or height is rounded down by
    one pixel; the clip is at most one pixel narrower or shorter than asked.
    """
    if camera not in CAMERA_NAMES:
        raise ValueError(f"unknown camera {camera!r}; choose one of: {', '.join(CAMERA_NAMES)}")
    if not 0.0 <= motion <= 1.0:
        raise ValueError(f"motion must be between 0.0 and 1.0, got {motion!r}")
    limit = scene_seconds_limit()
    if not (math.isfinite(duration) and 0 <= duration <= limit):
        raise ValueError(f"duration must be between 0 and {limit:g} seconds, got {duration!r}")
    if fps < 1:
        raise ValueError(f"fps must be at least 1, got {fps!r}")
    width -= width % 2
    height -= height % 2
    if width < 2 or height < 2:
        raise ValueError(f"a clip needs at least 2x2 pixels, got {width}x{height}")
    try:
        opened = Image.open(io.BytesIO(still))
        opened.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"the still is not a readable image: {exc}") from exc
    picture = opened.convert("RGB")

    total = frame_count(duration, fps)

    def views() -> Iterator[_View]:
        return _views(camera, motion, total, width, height)

    margin = _margin(views(), width, height)
    native = min(picture.width / width, picture.height / height)  # still px per output px
    best_zoom = margin * max(v.zoom for v in views())
    source = _prescale(picture, width, height, max(margin, min(best_zoom, native)))

    affine = camera.startswith("roll_") and motion > 0
    shape = (total, fps, width, height)
    if not isinstance(dest, os.PathLike | str):
        _encode(dest, source, views(), margin, shape, affine, progress, cancel)
    else:
        path = os.fspath(dest)
        try:
            with _fresh_file(path) as handle:
                _encode(handle, source, views(), margin, shape, affine, progress, cancel)
        except BaseException:
            with contextlib.suppress(OSError):  # no half-written clip is left behind
                os.unlink(path)
            raise
    _report(progress, total, total)


def _fresh_file(path: str) -> BinaryIO:
    """A new file at `path` for writing, never written through a symlink.

    Whatever sits at `path` (a leftover, or a link planted at a staging name) is
    removed first, as an entry: a link's target is never touched.
    """
    with contextlib.suppress(FileNotFoundError):
        if not os.path.isdir(path) or os.path.islink(path):
            os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return open(os.open(path, flags, 0o644), "wb")  # seekable: mp4 goes back to write its index


def _encode(
    target: str | BinaryIO,
    source: Image.Image,
    views: Iterator[_View],
    margin: float,
    shape: tuple[int, int, int, int],
    affine: bool,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> None:
    """Make, encode and drop one frame at a time; `shape` is (frames, fps, width, height)."""
    total, fps, width, height = shape
    with av.open(target, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=dict(X264_OPTIONS))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        for index, view in enumerate(views):
            _stop_if_cancelled(cancel)
            image = _frame(source, view, margin, width, height, affine=affine)
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
            if index + 1 < total:
                _report(progress, index + 1, total)
        for packet in stream.encode():
            container.mux(packet)
