"""ComfyUI workflows: API-format graphs plus a table of where a scene's values go.

A workflow is exactly what ComfyUI's "Save (API)" writes. Storyboard never
edits its wiring; a job only overwrites the inputs named in its bindings
(`prompt = "6.text"`), so any graph a user builds in ComfyUI can be used as
long as it says where the prompt (and, for video, the still) goes.

Two checks guard a workflow. `load_workflow` checks what the file alone can
tell (it parses, the bound nodes and inputs exist) when the project opens, so
a typo fails at once in one line. `check_against_object_info` checks the rest
against a server's `/object_info` when a server connects: node types,
COMBO choices and number ranges differ from server to server.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tui.config import ConfigError, ProjectConfig, WorkflowConfig
from tui.domain.camera import CAMERA_NAMES, WAN_CAMERA_POSES
from tui.domain.models import SEED_LIMIT, AssetKind
from tui.folder import ProjectFolder


class WorkflowError(ConfigError):
    """A workflow or its bindings cannot be used; one line naming the file, node and input."""


DEFAULT_SOURCE = "default"
"""`BoundWorkflow.source` of the bundled workflows; also accepted as `path = "default"`."""

BINDING_NAMES: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.IMAGE: ("prompt", "negative_prompt", "seed", "width", "height"),
    AssetKind.VIDEO: (
        "image",
        "prompt",
        "negative_prompt",
        "camera",
        "motion",
        "frames",
        "fps_input",
        "width",
        "height",
        "seed",
    ),
}
REQUIRED_BINDINGS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.IMAGE: ("prompt",),
    AssetKind.VIDEO: ("image",),
}
"""A workflow without these cannot depend on the scene at all; every other binding is optional."""

DEFAULT_BINDINGS: dict[AssetKind, dict[str, str]] = {
    AssetKind.IMAGE: {
        "prompt": "6.text",
        "negative_prompt": "7.text",
        "seed": "3.seed",
        "width": "5.width",
        "height": "5.height",
    },
    AssetKind.VIDEO: {
        "image": "52.image",
        "prompt": "6.text",
        "camera": "55.camera_pose",
        "motion": "55.speed",
        "frames": "55.length",
        "fps_input": "57.fps",
        "width": "55.width",
        "height": "55.height",
        "seed": "3.seed",
    },
}
"""Bindings of the bundled graphs in `default_workflows/`."""

DEFAULT_CAMERA_VALUES: dict[str, str] = {
    move.value: pose for move, pose in WAN_CAMERA_POSES.items()
}

DEFAULT_MOTION_RANGE = (0.0, 2.0)
"""Without a `motion_range`, a scene's default motion 0.5 gives WanCameraEmbedding's own
default speed 1.0; the node accepts up to 10, which is far too fast for most shots."""

_VIDEO_ONLY_KEYS = frozenset({"fps", "frames_step", "camera_values", "motion_range"})
_HASH_LENGTH = 12


# -- the bound workflow -----------------------------------------------------------------------


@dataclass(frozen=True)
class BoundWorkflow:
    """A loaded graph and where each scene value goes in it; immutable by convention."""

    kind: AssetKind
    source: str
    """The path as written in storyboard.toml, or `"default"` for the bundled graph."""
    graph: dict[str, Any]
    bindings: dict[str, tuple[str, str]]
    """Binding name → (node id, input name)."""
    fps: int | None = None
    """A rate the model is pinned to; `None` renders at the project's fps."""
    frames_step: int = 4
    camera_values: dict[str, str] = field(default_factory=dict)
    """Our camera name → the camera input's value; empty for image workflows."""
    motion_range: tuple[float, float] = DEFAULT_MOTION_RANGE

    @property
    def label(self) -> str:
        """How messages name this workflow."""
        if self.source == DEFAULT_SOURCE:
            return f"bundled {self.kind.value} workflow"
        return self.source

    @property
    def workflow_id(self) -> str:
        """Stable identity stamped on assets: any change that could change the output changes it.

        Node titles (`_meta`) are left out: renaming a node in ComfyUI renders the same.
        """
        payload = {
            "kind": self.kind.value,
            "graph": {
                node_id: {"class_type": node["class_type"], "inputs": node["inputs"]}
                for node_id, node in self.graph.items()
            },
            "bindings": {name: ".".join(target) for name, target in self.bindings.items()},
            "camera_values": self.camera_values,
            "motion_range": list(self.motion_range),
            "frames_step": self.frames_step,
            "fps": self.fps,
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "comfyui:" + hashlib.sha256(blob.encode()).hexdigest()[:_HASH_LENGTH]

    def effective_fps(self, params: Mapping[str, Any]) -> int:
        """The pinned fps, else the job's."""
        return self.fps if self.fps is not None else int(_param(self, params, "fps"))

    def build(
        self, params: Mapping[str, Any], *, uploaded_image: str | None = None
    ) -> dict[str, Any]:
        """A fresh copy of the graph with every bound input set from a job's params snapshot.

        Bound inputs whose value the snapshot does not carry (a video job has no
        negative prompt) keep the workflow's own value.
        """
        graph = copy.deepcopy(self.graph)
        for name, value in self._values(params, uploaded_image).items():
            node_id, input_name = self.bindings[name]
            inputs = graph[node_id]["inputs"]
            inputs[input_name] = _in_type_of(inputs[input_name], value)
        return graph

    def _values(self, params: Mapping[str, Any], uploaded_image: str | None) -> dict[str, Any]:
        """Binding name → value for every bound input this job has a value for."""
        bound = self.bindings
        values: dict[str, Any] = {}
        for name, key in _FROM_PARAMS[self.kind].items():
            if name not in bound:
                continue
            if key in params:
                values[name] = params[key]
            elif key in _NEEDED_PARAMS[self.kind]:
                values[name] = _param(self, params, key)
        if self.kind is AssetKind.IMAGE:
            return values

        if "image" in bound:
            if not uploaded_image:
                raise WorkflowError(f"{self.label}: the image binding needs the uploaded still")
            values["image"] = uploaded_image
        if "camera" in bound:
            camera = str(_param(self, params, "camera"))
            pose = self.camera_values.get(camera)
            if pose is None:
                raise WorkflowError(f"{self.label}: no camera value for {camera!r}")
            values["camera"] = pose
        if "motion" in bound:
            low, high = self.motion_range
            motion = float(_param(self, params, "motion"))
            values["motion"] = round(low + motion * (high - low), 6)
        if "frames" in bound:
            duration = float(_param(self, params, "duration"))
            values["frames"] = frames_for(duration, self.effective_fps(params), self.frames_step)
        if "fps_input" in bound:
            values["fps_input"] = self.effective_fps(params)
        if "seed" in bound:
            values["seed"] = params["seed"] if "seed" in params else _seed_from(params)
        return values


_FROM_PARAMS: dict[AssetKind, dict[str, str]] = {
    AssetKind.IMAGE: {
        "prompt": "image_prompt",
        "negative_prompt": "negative_prompt",
        "seed": "seed",
        "width": "width",
        "height": "height",
    },
    AssetKind.VIDEO: {
        "prompt": "video_prompt",
        "negative_prompt": "negative_prompt",
        "width": "width",
        "height": "height",
    },
}
"""Bindings copied straight from a job's params snapshot (binding → params key)."""
_NEEDED_PARAMS: dict[AssetKind, frozenset[str]] = {
    AssetKind.IMAGE: frozenset({"image_prompt", "seed"}),
    AssetKind.VIDEO: frozenset({"video_prompt"}),
}
"""Params every snapshot of that kind carries; the others are used only when present."""


def _param(workflow: BoundWorkflow, params: Mapping[str, Any], key: str) -> Any:
    try:
        return params[key]
    except KeyError:
        raise WorkflowError(
            f"{workflow.label}: the job's parameters have no {key!r}, which a binding needs"
        ) from None


def _seed_from(params: Mapping[str, Any]) -> int:
    """A seed that stays the same for the same still, so an unchanged video job is cached."""
    digest = hashlib.sha256(str(params.get("image_hash")).encode()).hexdigest()
    return int(digest[:16], 16) % SEED_LIMIT


def _in_type_of(existing: Any, value: Any) -> Any:
    """`value` in the number type the workflow already uses there (INT stays int)."""
    if isinstance(value, bool) or isinstance(existing, bool):
        return value
    if isinstance(existing, int) and isinstance(value, int | float):
        return int(round(value))
    if isinstance(existing, float) and isinstance(value, int | float):
        return float(value)
    return value


def frames_for(duration: float, fps: int, step: int) -> int:
    """`duration * fps` rounded to the nearest `step * k + 1` (what Wan-style models take)."""
    step = max(1, int(step))
    k = math.floor((duration * fps - 1) / step + 0.5)
    return max(1, step * k + 1)


# -- loading ----------------------------------------------------------------------------------


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _is_default(path: str | None) -> bool:
    return path is None or path.strip() in ("", DEFAULT_SOURCE)


def _default_text(kind: AssetKind) -> str:
    package = resources.files("tui.backends.comfyui")
    return (package / "default_workflows" / f"{kind.value}.json").read_text(encoding="utf-8")


def parse_graph(text: str, label: str) -> dict[str, Any]:
    """An API-format graph from JSON text, or a WorkflowError saying what the file really is."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WorkflowError(
            f"{label}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise WorkflowError(
            f"{label}: this is ComfyUI's UI format (nodes and links); "
            "export it with Save (API) instead"
        )
    if not isinstance(data, dict) or not data:
        raise WorkflowError(
            f"{label}: not an API-format workflow (expected an object of nodes); "
            "export it with Save (API)"
        )
    for node_id, node in data.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise WorkflowError(
                f"{label}: node {node_id} has no class_type; not an API-format workflow, "
                "export it with Save (API)"
            )
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            raise WorkflowError(f"{label}: node {node_id} ({node['class_type']}) has no inputs")
        for name, value in inputs.items():
            if _is_link(value) and value[0] not in data:
                raise WorkflowError(
                    f"{label}: node {node_id} ({node['class_type']}) input {name!r} is wired "
                    f"to node {value[0]}, which is not in the workflow"
                )
    return data


def _bind(
    kind: AssetKind, raw: Mapping[str, str], graph: Mapping[str, Any], label: str, where: str
) -> dict[str, tuple[str, str]]:
    known = BINDING_NAMES[kind]
    bindings: dict[str, tuple[str, str]] = {}
    for name, target in raw.items():
        if name not in known:
            raise WorkflowError(
                f"{where}: unknown binding {name!r} for {label}; "
                f"{kind.value} workflows bind: {', '.join(known)}"
            )
        node_id, dot, input_name = target.strip().rpartition(".")
        if not dot or not node_id or not input_name:
            raise WorkflowError(
                f'{where}: {name} = {target!r} should be "node_id.input_name", e.g. "6.text"'
            )
        node = graph.get(node_id)
        if node is None:
            raise WorkflowError(
                f"{where}: {name} = {target!r}: {label} has no node {node_id} "
                f"(its nodes: {_some_of(list(graph))})"
            )
        inputs = node["inputs"]
        if input_name not in inputs:
            raise WorkflowError(
                f"{where}: {name} = {target!r}: {label} node {node_id} ({node['class_type']}) "
                f"has no input {input_name!r} (its inputs: {_some_of(list(inputs))})"
            )
        if _is_link(inputs[input_name]):
            source = inputs[input_name][0]
            raise WorkflowError(
                f"{where}: {name} = {target!r}: {label} node {node_id} ({node['class_type']}) "
                f"input {input_name!r} is wired to node {source}; "
                "bind the input that holds the value"
            )
        bindings[name] = (node_id, input_name)
    missing = [name for name in REQUIRED_BINDINGS[kind] if name not in bindings]
    if missing:
        raise WorkflowError(
            f"{where}: {label} needs a binding for {', '.join(missing)} "
            f'(e.g. {missing[0]} = "node_id.input_name")'
        )
    return bindings


def load_workflow(kind: AssetKind, folder: ProjectFolder, config: ProjectConfig) -> BoundWorkflow:
    """The project's workflow for `kind` (or the bundled one), checked as far as the file allows."""
    table = getattr(config.workflows, kind.value) or WorkflowConfig()
    where = f"{folder.config_path.name} [workflows.{kind.value}]"
    if kind is AssetKind.IMAGE:
        extra = sorted(table.model_fields_set & _VIDEO_ONLY_KEYS)
        if extra:
            raise WorkflowError(f"{where}: {', '.join(extra)} only apply to the video workflow")

    if _is_default(table.path):
        source = DEFAULT_SOURCE
        label = f"bundled {kind.value} workflow"
        graph = parse_graph(_default_text(kind), label)
        raw_bindings = table.inputs or DEFAULT_BINDINGS[kind]
    else:
        assert table.path is not None
        source = label = table.path
        if not table.inputs:
            raise WorkflowError(
                f"{where}: path = {table.path!r} needs a [workflows.{kind.value}.inputs] table "
                f'saying where the scene\'s values go, e.g. prompt = "6.text"'
            )
        path = Path(table.path).expanduser()
        path = path if path.is_absolute() else folder.root / path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkflowError(f"{where}: {table.path}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise WorkflowError(f"{table.path}: cannot read ({error})") from None
        graph = parse_graph(text, label)
        raw_bindings = table.inputs

    bindings = _bind(kind, raw_bindings, graph, label, f"{where}.inputs")
    if kind is AssetKind.IMAGE:
        return BoundWorkflow(kind, source, graph, bindings)

    unknown = sorted(set(table.camera_values) - set(CAMERA_NAMES))
    if unknown:
        raise WorkflowError(
            f"{where}.camera_values: unknown camera {unknown[0]!r}; "
            f"ours are: {', '.join(CAMERA_NAMES)}"
        )
    motion = DEFAULT_MOTION_RANGE
    if table.motion_range is not None:
        motion = (table.motion_range.min, table.motion_range.max)
        if motion[0] > motion[1]:
            raise WorkflowError(f"{where}.motion_range: min {motion[0]} is above max {motion[1]}")
    return BoundWorkflow(
        kind,
        source,
        graph,
        bindings,
        fps=table.fps,
        frames_step=table.frames_step,
        camera_values={**DEFAULT_CAMERA_VALUES, **table.camera_values},
        motion_range=motion,
    )


def workflow_ids(folder: ProjectFolder, config: ProjectConfig) -> tuple[str, str]:
    """The (image, video) ids assets rendered through ComfyUI are stamped with."""
    return (
        load_workflow(AssetKind.IMAGE, folder, config).workflow_id,
        load_workflow(AssetKind.VIDEO, folder, config).workflow_id,
    )


# -- checking against a server ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something a server would refuse, and (when we know it) what to change."""

    text: str
    fix: str = ""

    @property
    def line(self) -> str:
        """Problem and fix on one line, for a job's failure or a status bar."""
        return f"{self.text}; {self.fix}" if self.fix else self.text

    def __str__(self) -> str:
        return self.line


LIST_LIMIT = 10
"""How many of a server's choices a problem lists."""

MODEL_INPUTS: dict[tuple[str, str], tuple[str, str]] = {
    ("CheckpointLoaderSimple", "ckpt_name"): ("checkpoints", "models/checkpoints"),
    ("ImageOnlyCheckpointLoader", "ckpt_name"): ("checkpoints", "models/checkpoints"),
    ("VAELoader", "vae_name"): ("VAEs", "models/vae"),
    ("LoraLoader", "lora_name"): ("LoRAs", "models/loras"),
    ("LoraLoaderModelOnly", "lora_name"): ("LoRAs", "models/loras"),
    ("UNETLoader", "unet_name"): ("diffusion models", "models/diffusion_models"),
    ("CLIPLoader", "clip_name"): ("text encoders", "models/text_encoders"),
    ("CLIPVisionLoader", "clip_name"): ("CLIP vision models", "models/clip_vision"),
    ("LoadImage", "image"): ("input images", "input"),
}
"""COMBOs a server fills from a folder: (what the files are, the folder under ComfyUI/)."""
_MODEL_NAMES: dict[str, tuple[str, str]] = {
    "ckpt_name": ("checkpoints", "models/checkpoints"),
    "vae_name": ("VAEs", "models/vae"),
    "lora_name": ("LoRAs", "models/loras"),
    "unet_name": ("diffusion models", "models/diffusion_models"),
    "control_net_name": ("ControlNets", "models/controlnet"),
}
"""The same by input name alone, for custom loaders that follow core's naming."""
_CHOICE_NAMES = {"sampler_name": "samplers", "scheduler": "schedulers"}


def _some_of(options: list[Any], limit: int = 8) -> str:
    shown = ", ".join(str(option) for option in options[:limit])
    more = len(options) - limit
    return f"{shown} (and {more} more)" if more > 0 else shown or "none"


def _input_specs(info: Mapping[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Input name → (section, spec) for one node type of `/object_info`."""
    specs: dict[str, tuple[str, list[Any]]] = {}
    for section in ("required", "optional", "hidden"):
        for name, spec in (info.get("input", {}).get(section) or {}).items():
            specs[name] = (section, spec if isinstance(spec, list) else [spec])
    return specs


def _combo_options(spec: list[Any]) -> list[Any] | None:
    head = spec[0] if spec else None
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(head, list):
        return head
    if head == "COMBO":
        return list(extra.get("options") or [])
    return None


def _is_file_name(value: Any) -> bool:
    return isinstance(value, str) and "." in value


def _check_choice(
    where: str, class_type: str, name: str, options: list[Any], value: Any
) -> list[Problem]:
    """A fixed COMBO value the server does not offer: name it and list what it has.

    Model files get the folder they belong in, because an empty or different
    models folder is the usual reason (a fresh install, another box's models).
    """
    model = MODEL_INPUTS.get((class_type, name)) or (
        _MODEL_NAMES.get(name) if _is_file_name(value) else None
    )
    if model is not None:
        noun, folder = model
        files = [option for option in options if _is_file_name(option)]
        if not files:
            return [
                Problem(
                    f"{where} input {name!r}: {value!r} is missing: this server has no {noun}",
                    f"put one in ComfyUI/{folder}",
                )
            ]
        return [
            Problem(
                f"{where} input {name!r}: {value!r} is not on this server. "
                f"Available {noun}: {_some_of(files, LIST_LIMIT)}",
                f"put it in ComfyUI/{folder}, or use one of those in the workflow",
            )
        ]
    noun = _CHOICE_NAMES.get(name, "values")
    return [
        Problem(
            f"{where} input {name!r}: {value!r} is not offered. "
            f"Available {noun}: {_some_of(options, LIST_LIMIT)}",
            "use one of those in the workflow",
        )
    ]


def _check_value(
    where: str, class_type: str, name: str, spec: list[Any], value: Any
) -> list[Problem]:
    head = spec[0] if spec else None
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    options = _combo_options(spec)
    if options is not None:
        if extra.get("multiselect") or value in options:
            return []
        return _check_choice(where, class_type, name, options, value)
    if head not in ("INT", "FLOAT"):
        return []
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [Problem(f"{where} input {name!r}: expects a number ({head}), got {value!r}")]
    low, high = extra.get("min"), extra.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [
            Problem(
                f"{where} input {name!r}: {value} is outside {low}..{high}",
                "pick a value in range",
            )
        ]
    return []


def _check_link(
    where: str, name: str, spec: list[Any], link: list[Any], graph: Mapping[str, Any], info: Any
) -> list[Problem]:
    source_id, index = link
    source = graph.get(source_id)
    if source is None or not isinstance(info.get(source["class_type"]), Mapping):
        return []  # a missing node is a load error; an unknown type is reported on its own
    outputs = info[source["class_type"]].get("output") or []
    if index >= len(outputs) or index < 0:
        return [
            Problem(
                f"{where} input {name!r}: wired to output {index} of node {source_id} "
                f"({source['class_type']}), which has {len(outputs)} outputs"
            )
        ]
    wanted, given = spec[0] if spec else None, outputs[index]
    if not isinstance(wanted, str) or not isinstance(given, str) or wanted == "COMBO":
        return []
    if "*" in (wanted, given) or set(wanted.split(",")) & set(given.split(",")):
        return []
    return [
        Problem(
            f"{where} input {name!r}: wants {wanted} but node {source_id} "
            f"({source['class_type']}) output {index} gives {given}"
        )
    ]


def _check_binding(
    workflow: BoundWorkflow,
    binding: str,
    where: str,
    class_type: str,
    name: str,
    spec: list[Any],
) -> list[Problem]:
    """Bound inputs are set per job, so check the values a job can put there instead."""
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    problems: list[Problem] = []
    if binding == "camera":
        options = _combo_options(spec)
        if options:
            for camera, value in workflow.camera_values.items():
                if value not in options:
                    problems.append(
                        Problem(
                            f"{where} input {name!r}: camera value {value!r} (for {camera}) is "
                            f"not offered. Available values: {_some_of(options, LIST_LIMIT)}",
                            "set [workflows.video.camera_values] to values from that list",
                        )
                    )
    elif binding == "motion":
        low, high = extra.get("min"), extra.get("max")
        first, last = workflow.motion_range
        if (low is not None and first < low) or (high is not None and last > high):
            problems.append(
                Problem(
                    f"{where} input {name!r}: motion_range {first}..{last} is outside the "
                    f"input's {low}..{high}",
                    "set [workflows.video.motion_range] within it",
                )
            )
    elif binding == "fps_input" and workflow.fps is not None:
        problems.extend(_check_value(where, class_type, name, spec, workflow.fps))
    return problems


def find_problems(workflow: BoundWorkflow, object_info: Mapping[str, Any]) -> list[Problem]:
    """Everything a server would refuse, found before a job is sent, each with its fix."""
    problems: list[Problem] = []
    bound = {target: name for name, target in workflow.bindings.items()}
    has_output = unknown_types = False
    for node_id, node in workflow.graph.items():
        class_type = node["class_type"]
        where = f"{workflow.label}: node {node_id} ({class_type})"
        info = object_info.get(class_type)
        if not isinstance(info, Mapping):
            unknown_types = True
            problems.append(
                Problem(
                    f"{where}: the server has no node type {class_type!r}",
                    "install the custom node that provides it, or replace the node",
                )
            )
            continue
        has_output = has_output or bool(info.get("output_node"))
        specs = _input_specs(info)
        inputs = node["inputs"]
        for name, (section, _spec) in specs.items():
            if section == "required" and name not in inputs:
                problems.append(Problem(f"{where}: required input {name!r} is missing"))
        for name, value in inputs.items():
            if name not in specs:
                known = [n for n, (section, _) in specs.items() if section != "hidden"]
                problems.append(
                    Problem(f"{where}: unknown input {name!r}; this node takes: {_some_of(known)}")
                )
                continue
            spec = specs[name][1]
            if _is_link(value):
                problems.extend(_check_link(where, name, spec, value, workflow.graph, object_info))
            elif (node_id, name) in bound:
                problems.extend(
                    _check_binding(workflow, bound[node_id, name], where, class_type, name, spec)
                )
            else:
                problems.extend(_check_value(where, class_type, name, spec, value))
    if not has_output and not unknown_types:
        problems.append(
            Problem(
                f"{workflow.label}: no output node (such as SaveImage or SaveVideo); "
                "the server would refuse it"
            )
        )
    return problems


def check_against_object_info(workflow: BoundWorkflow, object_info: Mapping[str, Any]) -> list[str]:
    """`find_problems` as one line each (problem; fix), as a job's failure reads."""
    return [problem.line for problem in find_problems(workflow, object_info)]


def refusal(problems_by_server: Mapping[str, Sequence[Problem | str]]) -> str:
    """The one line that refuses work no server can do: each server's first problem.

    Shared by the backend's `submit` and the pre-batch check, so a refused batch
    and a refused job say the same thing.
    """
    parts: list[str] = []
    for url, problems in problems_by_server.items():
        if not problems:
            continue
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        parts.append(f"{url}: {problems[0]}{more}")
    return "; ".join(parts)
