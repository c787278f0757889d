"""Node definitions (`/object_info`) as the stand-in server sees them.

The recorded core object_info is the source of truth for inputs, outputs and ranges. A
real server also lists files it finds on disk in some COMBO inputs (uploaded images,
model files); `NodeDefs.live()` does the same from the server root, so a test can make a
checkpoint name valid by creating `root/models/checkpoints/<name>`.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
MODEL_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")

MODEL_FOLDERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("CheckpointLoaderSimple", "ckpt_name"): ("checkpoints",),
    ("ImageOnlyCheckpointLoader", "ckpt_name"): ("checkpoints",),
    ("UNETLoader", "unet_name"): ("diffusion_models", "unet"),
    ("CLIPLoader", "clip_name"): ("text_encoders", "clip"),
    ("VAELoader", "vae_name"): ("vae",),
    ("CLIPVisionLoader", "clip_name"): ("clip_vision",),
    ("LoraLoader", "lora_name"): ("loras",),
    ("LoraLoaderModelOnly", "lora_name"): ("loras",),
}
"""COMBO inputs that a real server fills from its `models/<folder>` directories."""

EXTRA_NODES: dict[str, Any] = {
    "PrimitiveString": {
        "input": {"required": {"value": ["STRING", {"multiline": False}]}},
        "input_order": {"required": ["value"]},
        "output": ["STRING"],
        "output_is_list": [False],
        "output_name": ["STRING"],
        "name": "PrimitiveString",
        "display_name": "String",
        "description": "",
        "python_module": "comfy_extras.nodes_primitive",
        "category": "utils/primitive",
        "output_node": False,
    },
    "PrimitiveInt": {
        "input": {
            "required": {
                "value": [
                    "INT",
                    {
                        "min": -9223372036854775807,
                        "max": 9223372036854775807,
                        "control_after_generate": True,
                    },
                ]
            }
        },
        "input_order": {"required": ["value"]},
        "output": ["INT"],
        "output_is_list": [False],
        "output_name": ["INT"],
        "name": "PrimitiveInt",
        "display_name": "Int",
        "description": "",
        "python_module": "comfy_extras.nodes_primitive",
        "category": "utils/primitive",
        "output_node": False,
    },
    "PrimitiveFloat": {
        "input": {
            "required": {
                "value": ["FLOAT", {"min": -9223372036854775807, "max": 9223372036854775807}]
            }
        },
        "input_order": {"required": ["value"]},
        "output": ["FLOAT"],
        "output_is_list": [False],
        "output_name": ["FLOAT"],
        "name": "PrimitiveFloat",
        "display_name": "Float",
        "description": "",
        "python_module": "comfy_extras.nodes_primitive",
        "category": "utils/primitive",
        "output_node": False,
    },
    "PrimitiveBoolean": {
        "input": {"required": {"value": ["BOOLEAN", {}]}},
        "input_order": {"required": ["value"]},
        "output": ["BOOLEAN"],
        "output_is_list": [False],
        "output_name": ["BOOLEAN"],
        "name": "PrimitiveBoolean",
        "display_name": "Boolean",
        "description": "",
        "python_module": "comfy_extras.nodes_primitive",
        "category": "utils/primitive",
        "output_node": False,
    },
}
"""Core nodes the recorded server had (the record links to PrimitiveString) but the core
object_info file leaves out. Added only where the loaded file lacks them."""


def _list_files(folder: Path, extensions: tuple[str, ...], *, recursive: bool) -> list[str]:
    if not folder.is_dir():
        return []
    found: list[str] = []
    if recursive:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                if name.lower().endswith(extensions):
                    rel = Path(dirpath, name).relative_to(folder)
                    found.append(rel.as_posix())
    else:
        found = [
            p.name for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(extensions)
        ]
    return sorted(found)


class NodeDefs:
    """Lookup helpers over an object_info document."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, path: Path) -> NodeDefs:
        data = json.loads(path.read_text(encoding="utf-8"))
        for name, definition in EXTRA_NODES.items():
            data.setdefault(name, copy.deepcopy(definition))
        return cls(data)

    def live(self, root: Path) -> NodeDefs:
        """A copy whose file COMBOs list what is on disk under root, as a real server's do."""
        data = copy.deepcopy(self.data)
        input_dir = root / "input"
        images = _list_files(input_dir, IMAGE_EXTENSIONS, recursive=False)
        videos = _list_files(input_dir, VIDEO_EXTENSIONS, recursive=False)
        if "LoadImage" in data:
            _set_options(data["LoadImage"], "image", images)
        if "LoadVideo" in data:
            _set_options(data["LoadVideo"], "file", videos)
        for (cls_name, input_name), folders in MODEL_FOLDERS.items():
            if cls_name not in data:
                continue
            files: list[str] = []
            for folder in folders:
                files += _list_files(root / "models" / folder, MODEL_EXTENSIONS, recursive=True)
            static = _get_options(data[cls_name], input_name)
            merged = sorted(set(files)) + [o for o in static if o not in files]
            _set_options(data[cls_name], input_name, merged)
        return NodeDefs(data)

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self.data

    def get(self, class_type: str) -> dict[str, Any]:
        return self.data[class_type]

    def is_output(self, class_type: str) -> bool:
        return bool(self.data.get(class_type, {}).get("output_node", False))

    def return_types(self, class_type: str) -> tuple[Any, ...]:
        return tuple(self.data[class_type].get("output", []))

    def output_names(self, class_type: str) -> list[str]:
        return list(self.data[class_type].get("output_name", []))

    def inputs(self, class_type: str, category: str) -> dict[str, Any]:
        return dict(self.data[class_type].get("input", {}).get(category, {}) or {})

    def input_info(self, class_type: str, name: str) -> tuple[Any, str | None, dict[str, Any]]:
        """(input_type, category, extra_info) as ComfyUI's get_input_info returns them."""
        spec = self.data[class_type].get("input", {})
        for category in ("required", "optional", "hidden"):
            section = spec.get(category) or {}
            if name in section:
                info = section[name]
                if category == "hidden" or not isinstance(info, list):
                    return info, category, {}
                extra = info[1] if len(info) > 1 and isinstance(info[1], dict) else {}
                return info[0], category, extra
        return None, None, {}


def _get_options(definition: dict[str, Any], input_name: str) -> list[str]:
    for category in ("required", "optional"):
        info = definition.get("input", {}).get(category, {}).get(input_name)
        if info is None:
            continue
        if isinstance(info[0], list):
            return list(info[0])
        if info[0] == "COMBO" and len(info) > 1:
            return list(info[1].get("options", []))
    return []


def _set_options(definition: dict[str, Any], input_name: str, options: list[str]) -> None:
    for category in ("required", "optional"):
        section = definition.get("input", {}).get(category, {})
        info = section.get(input_name)
        if info is None:
            continue
        if isinstance(info[0], list):
            section[input_name] = [list(options), *info[1:]]
        elif info[0] == "COMBO":
            extra = dict(info[1]) if len(info) > 1 else {}
            extra["options"] = list(options)
            section[input_name] = ["COMBO", extra, *info[2:]]


def models_in(*graphs: dict[str, Any]) -> dict[str, list[str]]:
    """Model folder → the files these API-format graphs load, e.g. to stock a test server.

    Derived from the graphs and MODEL_FOLDERS rather than listed by hand, so a test
    that installs "the bundled workflows' models" follows the workflows.
    """
    found: dict[str, list[str]] = {}
    for graph in graphs:
        for node in graph.values():
            for name, value in node.get("inputs", {}).items():
                folders = MODEL_FOLDERS.get((node.get("class_type"), name))
                if folders and isinstance(value, str) and value not in found.get(folders[0], []):
                    found.setdefault(folders[0], []).append(value)
    return found


def bundled_models() -> dict[str, list[str]]:
    """The model files the app's bundled workflows load, read from the package's JSON.

    A server stocked with these is what `doctor` calls "All good" for a project
    without workflow overrides.
    """
    from importlib import resources

    folder = resources.files("tui.backends.comfyui") / "default_workflows"
    graphs = [
        json.loads((folder / f"{kind}.json").read_text("utf-8")) for kind in ("image", "video")
    ]
    return models_in(*graphs)
