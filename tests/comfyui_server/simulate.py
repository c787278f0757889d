"""What each node "does" in the stand-in: symbolic outputs, steps with previews, real files.

Nothing is computed. Images are `Media` values (size, frames, colour) that flow along the
links; the recorded test nodes keep their recorded behaviour (SlowSolidImage's
fail_at_step, SlowFramesFromImage's camera check) and savers write real files named the
way ComfyUI names them.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import media as m
from .media import Media
from .nodedefs import NodeDefs

CAMERAS = ["static", "pan_left", "pan_right", "pan_up", "pan_down", "zoom_in", "zoom_out"]
"""SlowFramesFromImage's cameras, as its recorded error message lists them."""

SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
STEP_NODES = SAMPLERS | {"SlowSolidImage", "SlowFramesFromImage"}
MEDIA_TYPES = {"IMAGE", "LATENT", "VIDEO", "MASK"}

_EXEC = '  File "/srv/ComfyUI/execution.py", line {line}, in {func}\n    {code}\n'
EXECUTION_FRAMES = [
    _EXEC.format(
        line=496,
        func="execute",
        code="output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data("
        "prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, "
        "pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n"
        "                                                              " + "^" * 163,
    ),
    _EXEC.format(
        line=315,
        func="get_output_data",
        code="return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, "
        "input_data_all, obj.FUNCTION, allow_interrupt=True, "
        "execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, "
        "hidden_inputs=hidden_inputs)\n"
        "                    " + "^" * 209,
    ),
    _EXEC.format(
        line=289, func="_async_map_node_over_list", code="await process_inputs(input_dict, i)"
    ),
    _EXEC.format(
        line=277,
        func="process_inputs",
        code="result = f(**inputs)\n             ^^^^^^^^^^^",
    ),
]
"""The ComfyUI frames above a failing node function, as recorded."""

_SLOW = '  File "/srv/ComfyUI/custom_nodes/slow_test_nodes/__init__.py", line {line}, in {func}\n'
SLOW_SOLID_FRAME = (
    _SLOW.format(line=82, func="generate")
    + '    raise RuntimeError(f"SlowSolidImage: deliberate failure at step {i} '
    '(prompt={prompt!r}, seed={seed})")\n'
)
SLOW_FRAMES_FRAME = (
    _SLOW.format(line=131, func="animate")
    + '    raise ValueError(f"SlowFramesFromImage: unknown camera {camera!r}; '
    'expected one of {CAMERAS}")\n'
)
SIMULATED_FRAME = (
    '  File "/srv/ComfyUI/nodes.py", line 1, in {func}\n'
    '    raise RuntimeError(f"{{class_type}}: simulated failure (fail_node_class)")\n'
)


class Host(Protocol):
    """What a simulated node needs from the server."""

    steps: int
    sampler_previews: bool

    async def work(self) -> None:
        """Wait one unit of simulated work (step_delay)."""

    async def progress(self, value: int, total: int, preview: Media | None) -> None:
        """The progress hook: may raise when interrupted; sends progress and a preview."""


@dataclass
class NodeCall:
    """One node about to run, with its link inputs resolved to upstream outputs."""

    node_id: str
    class_type: str
    inputs: dict[str, Any]
    values: dict[str, Any]
    signature: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    defs: NodeDefs
    root: Path


NodeResult = tuple[list[Any], dict[str, Any] | None]


def node_error(ex: Exception, frame: str) -> Exception:
    """Attach the ComfyUI-style traceback frames that execution_error will report."""
    ex.comfy_frames = [*EXECUTION_FRAMES, frame]  # type: ignore[attr-defined]
    return ex


def simulated_failure(class_type: str) -> Exception:
    return node_error(
        RuntimeError(f"{class_type}: simulated failure (fail_node_class)"),
        SIMULATED_FRAME.format(func="execute"),
    )


def format_value(value: Any) -> Any:
    """ComfyUI's format_value for current_inputs: primitives as is, anything else as str."""
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, Media):
        r, g, b = (c / 255 for c in value.color)
        px = f"[{r:.4f}, {g:.4f}, {b:.4f}]"
        return f"tensor([[[[{px},\n          ...,\n          {px}]]]])"
    return str(value)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def upstream_media(call: NodeCall) -> Media | None:
    for value in call.values.values():
        if isinstance(value, Media):
            return value
    return None


def shaped(call: NodeCall) -> Media:
    """The node's media: upstream's, with size and frame-count inputs applied."""
    media = upstream_media(call) or Media()
    width = _int(call.values.get("width"), 0)
    height = _int(call.values.get("height"), 0)
    if width > 0:
        media = media.with_(width=width)
    if height > 0:
        media = media.with_(height=height)
    for key in ("length", "video_frames", "frames", "num_frames"):
        frames = _int(call.values.get(key), 0)
        if frames > 0:
            return media.with_(frames=frames)
    batch = _int(call.values.get("batch_size"), 0)
    if batch > 0 and upstream_media(call) is None:
        media = media.with_(frames=batch)
    return media


def annotated_path(root: Path, name: str) -> Path:
    """Where LoadImage finds `name`, `sub/name` or `name [output]`."""
    base = root / "input"
    for suffix, folder in ((" [output]", "output"), (" [input]", "input"), (" [temp]", "temp")):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            base = root / folder
            break
    return base / name


def save_image_path(
    filename_prefix: str, output_dir: Path, width: int = 0, height: int = 0
) -> tuple[Path, str, int, str]:
    """ComfyUI's folder_paths.get_save_image_path: (folder, filename, counter, subfolder).

    The counter continues from the files already on disk, whatever their extension.
    """
    if "%" in filename_prefix:
        now = time.localtime()
        for key, value in (
            ("%width%", str(width)),
            ("%height%", str(height)),
            ("%year%", str(now.tm_year)),
            ("%month%", str(now.tm_mon).zfill(2)),
            ("%day%", str(now.tm_mday).zfill(2)),
            ("%hour%", str(now.tm_hour).zfill(2)),
            ("%minute%", str(now.tm_min).zfill(2)),
            ("%second%", str(now.tm_sec).zfill(2)),
        ):
            filename_prefix = filename_prefix.replace(key, value)
    normalized = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    base = os.path.abspath(output_dir)
    full = os.path.abspath(os.path.join(base, subfolder))
    if os.path.commonpath((base, full)) != base:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {full}\n         output_dir: {base}"
            f"\n         commonpath: {os.path.commonpath((base, full))}"
        )
    prefix_len = len(filename)

    def map_filename(name: str) -> tuple[int, str]:
        prefix = name[: prefix_len + 1]
        try:
            digits = int(name[prefix_len + 1 :].split("_")[0])
        except ValueError:
            digits = 0
        return digits, prefix

    try:
        taken = [
            a
            for a in map(map_filename, os.listdir(full))
            if os.path.normcase(a[1][:-1]) == os.path.normcase(filename) and a[1][-1:] == "_"
        ]
        counter = max(taken)[0] + 1 if taken else 1
    except FileNotFoundError:
        os.makedirs(full, exist_ok=True)
        counter = 1
    return Path(full), filename, counter, subfolder


async def _steps(call: NodeCall, host: Host, total: int, preview: Media | None) -> None:
    for i in range(1, total + 1):
        await host.work()
        await host.progress(i, total, preview)


def _sampler_steps(call: NodeCall, host: Host) -> int:
    inputs = call.inputs
    if call.class_type == "KSamplerAdvanced":
        steps = _int(inputs.get("steps"), host.steps)
        start = _int(inputs.get("start_at_step"), 0)
        end = _int(inputs.get("end_at_step"), steps)
        return max(1, min(end, steps) - start)
    if call.class_type == "KSampler":
        return max(1, _int(inputs.get("steps"), host.steps))
    sigmas = inputs.get("sigmas")
    if isinstance(sigmas, list) and sigmas and sigmas[0] in call.prompt:
        source = call.prompt[sigmas[0]].get("inputs", {})
        steps = _int(source.get("steps"), 0)
        if steps > 0:
            return steps
    return max(1, host.steps)


async def _slow_solid_image(call: NodeCall, host: Host) -> NodeResult:
    inputs = call.inputs
    prompt, seed = inputs["prompt"], inputs["seed"]
    steps = int(inputs["steps"])
    media = Media(int(inputs["width"]), int(inputs["height"]), 1, m.color_of(prompt, seed))
    show = bool(inputs.get("preview", True))
    fail_at = _int(inputs.get("fail_at_step"), -1)
    for i in range(1, steps + 1):
        await host.work()
        await host.progress(i, steps, media if show else None)
        if i == fail_at:
            raise node_error(
                RuntimeError(
                    f"SlowSolidImage: deliberate failure at step {i} "
                    f"(prompt={prompt!r}, seed={seed})"
                ),
                SLOW_SOLID_FRAME,
            )
    return [media], None


async def _slow_frames(call: NodeCall, host: Host) -> NodeResult:
    camera = call.inputs["camera"]
    if camera not in CAMERAS:
        raise node_error(
            ValueError(
                f"SlowFramesFromImage: unknown camera {camera!r}; expected one of {CAMERAS}"
            ),
            SLOW_FRAMES_FRAME,
        )
    source = upstream_media(call) or Media()
    out = source.with_(frames=int(call.inputs["frames"]))
    await _steps(call, host, int(call.inputs["steps"]), source)
    return [out], None


async def _load_image(call: NodeCall, host: Host) -> NodeResult:
    path = annotated_path(call.root, str(call.inputs["image"]))
    media = await asyncio.to_thread(m.image_info, path)
    await host.work()
    return [media, media.with_(color=(255, 255, 255))], None


async def _generic(call: NodeCall, host: Host) -> NodeResult:
    media = shaped(call)
    generative = call.class_type in SAMPLERS or any(
        key in call.inputs for key in ("seed", "noise_seed")
    )
    if generative:
        media = media.with_(color=m.color_of(call.signature))
    if call.class_type == "EmptyImage":
        color = _int(call.inputs.get("color"), 0)
        media = media.with_(color=((color >> 16) & 255, (color >> 8) & 255, color & 255))
    if call.class_type == "CreateVideo":
        media = media.with_(fps=_float(call.inputs.get("fps"), media.fps))
    if call.class_type in SAMPLERS:
        preview = media.with_(frames=1) if host.sampler_previews else None
        await _steps(call, host, _sampler_steps(call, host), preview)
    else:
        await host.work()
    return _outputs(call, media), None


def _outputs(call: NodeCall, media: Media) -> list[Any]:
    types = call.defs.return_types(call.class_type)
    names = call.defs.output_names(call.class_type)
    out: list[Any] = []
    for i, rtype in enumerate(types):
        name = names[i].lower() if i < len(names) else ""
        if rtype in MEDIA_TYPES:
            out.append(media)
        elif rtype in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            value = call.inputs.get(name, call.inputs.get("value", call.inputs.get("text")))
            if value is None and name == "fps":
                value = media.fps
            out.append(value if not isinstance(value, list) else call.values.get(name))
        else:
            out.append(f"<{rtype} from {call.class_type} #{call.node_id}>")
    return out


def _saved(filename: str, subfolder: str, folder_type: str = "output") -> dict[str, str]:
    return {"filename": filename, "subfolder": subfolder, "type": folder_type}


async def _save_image(call: NodeCall, host: Host, *, temp: bool = False) -> NodeResult:
    media = upstream_media(call) or Media()
    if temp:
        letters = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        prefix, out_dir, kind = f"ComfyUI_temp_{letters}", call.root / "temp", "temp"
    else:
        prefix, out_dir, kind = str(call.inputs["filename_prefix"]), call.root / "output", "output"
    folder, filename, counter, subfolder = save_image_path(
        prefix, out_dir, media.width, media.height
    )
    results = []
    extra = call.extra_data.get("extra_pnginfo")
    for index in range(max(1, media.frames)):
        name = f"{filename.replace('%batch_num%', str(index))}_{counter:05}_.png"
        await asyncio.to_thread(m.write_png, folder / name, media, index, call.prompt, extra)
        results.append(_saved(name, subfolder, kind))
        counter += 1
    return [], {"images": results}


async def _save_animation(
    call: NodeCall, host: Host, ext: str, writer: Callable[[Path, Media], None]
) -> tuple[str, str]:
    media = upstream_media(call) or Media()
    folder, filename, counter, subfolder = save_image_path(
        str(call.inputs["filename_prefix"]), call.root / "output", media.width, media.height
    )
    name = f"{filename}_{counter:05}_.{ext}"
    await asyncio.to_thread(writer, folder / name, media)
    return name, subfolder


async def _save_webp(call: NodeCall, host: Host) -> NodeResult:
    fps = _float(call.inputs.get("fps"), 6.0)
    lossless = bool(call.inputs.get("lossless", True))
    quality = _int(call.inputs.get("quality"), 80)
    name, sub = await _save_animation(
        call, host, "webp", lambda p, media: m.write_webp(p, media, fps, lossless, quality)
    )
    frames = (upstream_media(call) or Media()).frames
    return [], {"images": [_saved(name, sub)], "animated": [frames != 1]}


async def _save_apng(call: NodeCall, host: Host) -> NodeResult:
    fps = _float(call.inputs.get("fps"), 6.0)
    name, sub = await _save_animation(
        call, host, "png", lambda p, media: m.write_apng(p, media, fps)
    )
    return [], {"images": [_saved(name, sub)], "animated": [True]}


async def _save_webm(call: NodeCall, host: Host) -> NodeResult:
    fps = _float(call.inputs.get("fps"), 24.0)
    name, sub = await _save_animation(
        call, host, "webm", lambda p, media: m.write_webm(p, media, fps)
    )
    return [], {"images": [_saved(name, sub)], "animated": [True]}


async def _save_video(call: NodeCall, host: Host) -> NodeResult:
    name, sub = await _save_animation(
        call, host, "mp4", lambda p, media: m.write_mp4(p, media, media.fps)
    )
    return [], {"images": [_saved(name, sub)], "animated": [True]}


async def _preview_image(call: NodeCall, host: Host) -> NodeResult:
    return await _save_image(call, host, temp=True)


SPECIAL: dict[str, Callable[[NodeCall, Host], Awaitable[NodeResult]]] = {
    "SlowSolidImage": _slow_solid_image,
    "SlowFramesFromImage": _slow_frames,
    "LoadImage": _load_image,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
    "SaveAnimatedWEBP": _save_webp,
    "SaveAnimatedPNG": _save_apng,
    "SaveWEBM": _save_webm,
    "SaveVideo": _save_video,
}


async def run_node(call: NodeCall, host: Host) -> NodeResult:
    """Run one node: (outputs by slot, UI result or None)."""
    handler = SPECIAL.get(call.class_type, _generic)
    return await handler(call, host)
