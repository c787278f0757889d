"""ComfyUI workflows: the bundled graphs, project overrides, build() and server checks.

Everything runs on real files in tmp_path and the `/object_info` recorded from a
real ComfyUI 0.3.64 server, so a workflow that passes here is one that server takes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.comfyui_server import bundled_models
from tests.comfyui_server.nodedefs import NodeDefs
from tui.backends import registry
from tui.backends.comfyui.workflows import (
    DEFAULT_BINDINGS,
    DEFAULT_SOURCE,
    BoundWorkflow,
    Problem,
    WorkflowError,
    check_against_object_info,
    find_problems,
    frames_for,
    load_workflow,
    refusal,
    workflow_ids,
)
from tui.config import ConfigError, ProjectConfig
from tui.domain.camera import CAMERA_NAMES, WAN_CAMERA_POSES, CameraMovement
from tui.domain.models import AssetKind
from tui.folder import ProjectFolder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "comfyui"
RECORDED: dict[str, Any] = json.loads((FIXTURES / "object_info.core.json").read_text())
"""`/object_info` of the recorded CPU server, which has no model files at all."""


def stocked(root: Path, models: dict[str, list[str]]) -> dict[str, Any]:
    """The recorded `/object_info` once `models` are on disk, listed as a real server lists them."""
    for folder, names in models.items():
        for name in names:
            path = root / "models" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return NodeDefs(copy.deepcopy(RECORDED)).live(root).data


OBJECT_INFO = RECORDED

IMAGE_PARAMS: dict[str, Any] = {
    "image_prompt": "a lighthouse at dusk",
    "negative_prompt": "blurry",
    "seed": 1234,
    "width": 640,
    "height": 384,
    "workflow": "comfyui:x",
}
VIDEO_PARAMS: dict[str, Any] = {
    "video_prompt": "waves crash on the rocks",
    "camera": "pan_left",
    "motion": 0.25,
    "duration": 3.1,
    "fps": 16,
    "image_hash": "abc123",
    "image_inputs": "0123456789abcdef0123",
    "workflow": "comfyui:y",
    "image_file": "assets/images/scene-0001-00000001.png",
}

SLOW_IMAGE = {
    "1": {
        "class_type": "SlowSolidImage",
        "_meta": {"title": "Slow Solid Image"},
        "inputs": {
            "prompt": "placeholder",
            "seed": 1,
            "width": 320,
            "height": 192,
            "steps": 5,
            "delay_ms": 100,
            "preview": True,
            "fail_at_step": -1,
        },
    },
    "2": {
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
        "inputs": {"images": ["1", 0], "filename_prefix": "storyboard/shot"},
    },
}
SLOW_VIDEO = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
    "2": {
        "class_type": "SlowFramesFromImage",
        "inputs": {
            "image": ["1", 0],
            "frames": 16,
            "steps": 4,
            "delay_ms": 100,
            "camera": "pan_right",
            "strength": 0.5,
        },
    },
    "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 8.0}},
    "4": {
        "class_type": "SaveVideo",
        "inputs": {
            "video": ["3", 0],
            "filename_prefix": "storyboard/shot_video",
            "format": "auto",
            "codec": "auto",
        },
    },
}
SLOW_TOML = """
[workflows.image]
path = "workflows/image.json"
[workflows.image.inputs]
prompt = "1.prompt"
seed = "1.seed"
width = "1.width"
height = "1.height"

[workflows.video]
path = "workflows/video.json"
fps = 8
frames_step = 1
[workflows.video.inputs]
image = "1.image"
camera = "2.camera"
motion = "2.strength"
frames = "2.frames"
fps_input = "3.fps"
[workflows.video.camera_values]
static = "static"
pan_left = "pan_left"
pan_right = "pan_right"
pan_up = "pan_up"
pan_down = "pan_down"
zoom_in = "zoom_in"
zoom_out = "zoom_out"
roll_cw = "static"
roll_ccw = "static"
[workflows.video.motion_range]
min = 0.2
max = 1.0
"""


def make_project(
    root: Path, toml: str = "", files: dict[str, Any] | None = None
) -> tuple[ProjectFolder, ProjectConfig]:
    """A project folder with a storyboard.toml and workflow files (dicts become JSON)."""
    folder = ProjectFolder(root)
    root.mkdir(parents=True, exist_ok=True)
    folder.config_path.write_text(toml, encoding="utf-8")
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text, encoding="utf-8")
    return folder, ProjectConfig.load(folder.config_path)


def image_override(inputs: str = 'prompt = "1.prompt"') -> str:
    return f'[workflows.image]\npath = "workflows/image.json"\n[workflows.image.inputs]\n{inputs}\n'


def load_error(root: Path, toml: str, files: dict[str, Any], kind: AssetKind) -> str:
    folder, config = make_project(root, toml, files)
    with pytest.raises(WorkflowError) as caught:
        load_workflow(kind, folder, config)
    return str(caught.value)


def defaults(tmp_path: Path) -> tuple[BoundWorkflow, BoundWorkflow]:
    folder, config = make_project(tmp_path / "film")
    return (
        load_workflow(AssetKind.IMAGE, folder, config),
        load_workflow(AssetKind.VIDEO, folder, config),
    )


# -- the bundled workflows ----------------------------------------------------------------------


def test_bundled_workflows_pass_the_real_servers_object_info_once_it_has_the_models(
    tmp_path: Path,
) -> None:
    image, video = defaults(tmp_path)
    assert image.source == video.source == DEFAULT_SOURCE
    info = stocked(tmp_path / "comfy", bundled_models())
    assert check_against_object_info(image, info) == []
    assert check_against_object_info(video, info) == []


def test_a_server_without_models_is_told_where_each_one_goes(tmp_path: Path) -> None:
    """Issue 12 item 2: the recorded server has no models; every loader is named, not passed."""
    image, video = defaults(tmp_path)
    [checkpoint] = find_problems(image, OBJECT_INFO)
    assert checkpoint == Problem(
        "bundled image workflow: node 4 (CheckpointLoaderSimple) input 'ckpt_name': "
        "'v1-5-pruned-emaonly.safetensors' is missing: this server has no checkpoints",
        "put one in ComfyUI/models/checkpoints",
    )
    assert checkpoint.line.endswith(
        "this server has no checkpoints; put one in ComfyUI/models/checkpoints"
    )
    lines = check_against_object_info(video, OBJECT_INFO)
    assert [line.split(": node ")[1].split(" input")[0] for line in lines] == [
        "37 (UNETLoader)",
        "38 (CLIPLoader)",
        "39 (VAELoader)",
        "49 (CLIPVisionLoader)",
    ]
    assert (
        "this server has no diffusion models; put one in ComfyUI/models/diffusion_models"
        in (lines[0])
    )
    assert "this server has no text encoders; put one in ComfyUI/models/text_encoders" in lines[1]
    # the VAE list holds only the built-in "pixel_space", which is not a file
    assert "'wan_2.1_vae.safetensors' is missing: this server has no VAEs" in lines[2]
    assert "put one in ComfyUI/models/clip_vision" in lines[3]


def test_a_missing_model_lists_up_to_ten_the_server_has(tmp_path: Path) -> None:
    """Issue 12 item 2: "Available checkpoints: …", at most 10 of them."""
    image, _ = defaults(tmp_path)
    names = [f"model-{i:02d}.safetensors" for i in range(13)]
    [problem] = find_problems(image, stocked(tmp_path / "comfy", {"checkpoints": names}))
    assert problem.text == (
        "bundled image workflow: node 4 (CheckpointLoaderSimple) input 'ckpt_name': "
        "'v1-5-pruned-emaonly.safetensors' is not on this server. Available checkpoints: "
        + ", ".join(names[:10])
        + " (and 3 more)"
    )
    assert (
        problem.fix == "put it in ComfyUI/models/checkpoints, or use one of those in the workflow"
    )


def test_loras_samplers_and_schedulers_are_checked_by_what_they_are(tmp_path: Path) -> None:
    """Issue 12 item 2: every fixed COMBO value, named as the kind of thing it is."""
    image, _ = defaults(tmp_path)
    graph = copy.deepcopy(image.graph)
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "model": ["4", 0],
            "clip": ["4", 1],
            "lora_name": "detail.safetensors",
            "strength_model": 1.0,
            "strength_clip": 1.0,
        },
    }
    graph["3"]["inputs"]["model"] = ["10", 0]
    graph["3"]["inputs"]["scheduler"] = "fancy"
    models = {"checkpoints": ["v1-5-pruned-emaonly.safetensors"], "loras": ["style.safetensors"]}
    workflow = override(tmp_path, graph, 'prompt = "6.text"')
    lines = check_against_object_info(workflow, stocked(tmp_path / "comfy", models))
    assert len(lines) == 2, lines
    assert lines[0].startswith("workflows/image.json: node 3 (KSampler) input 'scheduler': ")
    assert "'fancy' is not offered. Available schedulers: simple, sgm_uniform" in lines[0]
    assert lines[1] == (
        "workflows/image.json: node 10 (LoraLoader) input 'lora_name': 'detail.safetensors' is "
        "not on this server. Available LoRAs: style.safetensors; put it in ComfyUI/models/loras, "
        "or use one of those in the workflow"
    )


def test_a_refusal_is_one_line_naming_each_server() -> None:
    """Issue 12 item 2: a batch no server can run is refused with one message."""
    first = [Problem("image: no checkpoints", "put one in ComfyUI/models/checkpoints")]
    second = [Problem("image: no node type 'X'"), Problem("image: bad seed")]
    assert refusal({"http://a": first, "http://b": second, "http://c": []}) == (
        "http://a: image: no checkpoints; put one in ComfyUI/models/checkpoints; "
        "http://b: image: no node type 'X' (and 1 more)"
    )
    assert refusal({"http://a": []}) == ""


def test_bundled_workflows_have_the_documented_nodes_and_bindings(tmp_path: Path) -> None:
    image, video = defaults(tmp_path)
    assert image.bindings == {
        "prompt": ("6", "text"),
        "negative_prompt": ("7", "text"),
        "seed": ("3", "seed"),
        "width": ("5", "width"),
        "height": ("5", "height"),
    }
    classes = {node_id: node["class_type"] for node_id, node in image.graph.items()}
    assert classes["4"] == "CheckpointLoaderSimple"
    assert image.graph["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
    assert image.graph["9"]["inputs"]["filename_prefix"] == "storyboard/image"

    assert video.bindings["image"] == ("52", "image")
    assert video.bindings["camera"] == ("55", "camera_pose")
    assert video.bindings["motion"] == ("55", "speed")
    assert video.bindings["frames"] == ("55", "length")
    assert video.bindings["fps_input"] == ("57", "fps")
    assert "negative_prompt" not in video.bindings
    video_classes = {node["class_type"] for node in video.graph.values()}
    assert {"WanCameraEmbedding", "WanCameraImageToVideo", "CLIPVisionEncode"} <= video_classes
    assert video.graph["58"]["inputs"]["format"] == "mp4"
    assert video.graph["58"]["inputs"]["filename_prefix"] == "storyboard/video"
    assert video.camera_values == {move.value: WAN_CAMERA_POSES[move] for move in CameraMovement}


def test_build_puts_every_image_param_in_place_and_leaves_the_graph_alone(tmp_path: Path) -> None:
    image, _ = defaults(tmp_path)
    before = copy.deepcopy(image.graph)
    graph = image.build(IMAGE_PARAMS)
    assert graph["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert graph["7"]["inputs"]["text"] == "blurry"
    assert graph["3"]["inputs"]["seed"] == 1234
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (640, 384)
    assert graph["3"]["inputs"]["steps"] == before["3"]["inputs"]["steps"]
    assert image.graph == before
    graph["6"]["inputs"]["clip"][0] = "changed"
    assert image.graph == before, "build must deep-copy nested inputs too"


def test_build_puts_every_video_param_in_place(tmp_path: Path) -> None:
    _, video = defaults(tmp_path)
    before = copy.deepcopy(video.graph)
    params = {**VIDEO_PARAMS, "width": 832, "height": 480}
    graph = video.build(params, uploaded_image="storyboard/abc.png")
    embed = graph["55"]["inputs"]
    assert graph["52"]["inputs"]["image"] == "storyboard/abc.png"
    assert graph["6"]["inputs"]["text"] == "waves crash on the rocks"
    assert embed["camera_pose"] == "Pan Left"
    assert embed["speed"] == pytest.approx(0.5)  # 0.25 of the default 0..2 range
    assert isinstance(embed["speed"], float)
    assert embed["length"] == 49  # 3.1 s at 16 fps, on the 4k+1 grid
    assert (embed["width"], embed["height"]) == (832, 480)
    assert graph["57"]["inputs"]["fps"] == 16.0
    assert isinstance(graph["57"]["inputs"]["fps"], float)
    assert graph["7"]["inputs"]["text"] == before["7"]["inputs"]["text"]
    assert video.graph == before


def test_video_seed_is_stable_per_still_unless_the_job_gives_one(tmp_path: Path) -> None:
    _, video = defaults(tmp_path)
    seed_a = video.build(VIDEO_PARAMS, uploaded_image="a.png")["3"]["inputs"]["seed"]
    again = video.build(VIDEO_PARAMS, uploaded_image="a.png")["3"]["inputs"]["seed"]
    other = video.build({**VIDEO_PARAMS, "image_hash": "def456"}, uploaded_image="a.png")
    given = video.build({**VIDEO_PARAMS, "seed": 77}, uploaded_image="a.png")
    assert seed_a == again
    assert 0 <= seed_a < 2**32
    assert other["3"]["inputs"]["seed"] != seed_a
    assert given["3"]["inputs"]["seed"] == 77


def test_video_build_without_the_uploaded_still_or_a_param_fails_clearly(tmp_path: Path) -> None:
    _, video = defaults(tmp_path)
    with pytest.raises(WorkflowError, match="uploaded still"):
        video.build(VIDEO_PARAMS)
    params = {key: value for key, value in VIDEO_PARAMS.items() if key != "duration"}
    with pytest.raises(WorkflowError, match="'duration'"):
        video.build(params, uploaded_image="a.png")


def test_every_camera_name_maps_to_a_pose_the_server_offers(tmp_path: Path) -> None:
    _, video = defaults(tmp_path)
    options = OBJECT_INFO["WanCameraEmbedding"]["input"]["required"]["camera_pose"][1]["options"]
    for camera in CAMERA_NAMES:
        graph = video.build({**VIDEO_PARAMS, "camera": camera}, uploaded_image="a.png")
        assert graph["55"]["inputs"]["camera_pose"] in options


def test_registry_stamps_comfyui_assets_with_the_loaded_ids(tmp_path: Path) -> None:
    folder, config = make_project(tmp_path / "film")
    image, video = defaults(tmp_path / "other")
    ids = workflow_ids(folder, config)
    assert ids == (image.workflow_id, video.workflow_id)
    assert registry.workflow_ids("comfyui", folder, config) == ids
    assert all(one.startswith("comfyui:") for one in ids)
    assert ids[0] != ids[1]


# -- project overrides --------------------------------------------------------------------------


def test_a_project_override_loads_builds_and_passes_the_server_check(tmp_path: Path) -> None:
    folder, config = make_project(
        tmp_path / "film",
        SLOW_TOML,
        {"workflows/image.json": SLOW_IMAGE, "workflows/video.json": SLOW_VIDEO},
    )
    image = load_workflow(AssetKind.IMAGE, folder, config)
    video = load_workflow(AssetKind.VIDEO, folder, config)
    assert image.source == "workflows/image.json"
    assert video.fps == 8
    assert video.motion_range == (0.2, 1.0)
    assert video.camera_values["roll_cw"] == "static"
    assert check_against_object_info(image, OBJECT_INFO) == []
    assert check_against_object_info(video, OBJECT_INFO) == []

    built = image.build(IMAGE_PARAMS)["1"]["inputs"]
    assert built["prompt"] == "a lighthouse at dusk"
    assert (built["seed"], built["width"], built["height"]) == (1234, 640, 384)

    graph = video.build({**VIDEO_PARAMS, "motion": 0.5}, uploaded_image="up/still.png")
    frames = graph["2"]["inputs"]
    assert graph["1"]["inputs"]["image"] == "up/still.png"
    assert frames["camera"] == "pan_left"
    assert frames["strength"] == pytest.approx(0.6)
    assert frames["frames"] == 25  # 3.1 s at the pinned 8 fps, step 1
    assert graph["3"]["inputs"]["fps"] == 8.0  # pinned fps wins over the project's 16


def test_camera_values_not_given_fall_back_to_the_wan_pose_names(tmp_path: Path) -> None:
    toml = SLOW_TOML.split("[workflows.video.camera_values]")[0] + (
        '[workflows.video.camera_values]\nzoom_in = "Dolly In"\n'
    )
    folder, config = make_project(
        tmp_path / "film",
        toml,
        {"workflows/image.json": SLOW_IMAGE, "workflows/video.json": SLOW_VIDEO},
    )
    video = load_workflow(AssetKind.VIDEO, folder, config)
    assert video.camera_values["zoom_in"] == "Dolly In"
    assert video.camera_values["pan_up"] == "Pan Up"
    assert video.motion_range == (0.0, 2.0)


def test_the_default_path_may_take_its_own_bindings_and_settings(tmp_path: Path) -> None:
    toml = (
        '[workflows.video]\npath = "default"\nfps = 24\n'
        '[workflows.video.inputs]\nimage = "52.image"\nprompt = "6.text"\n'
    )
    folder, config = make_project(tmp_path / "film", toml)
    video = load_workflow(AssetKind.VIDEO, folder, config)
    assert video.source == DEFAULT_SOURCE
    assert set(video.bindings) == {"image", "prompt"}
    graph = video.build(VIDEO_PARAMS, uploaded_image="a.png")
    assert graph["55"]["inputs"]["camera_pose"] == "Static", "an unbound input keeps its value"
    assert graph["57"]["inputs"]["fps"] == 16.0
    default = load_workflow(AssetKind.VIDEO, *make_project(tmp_path / "plain"))
    assert video.workflow_id != default.workflow_id


def test_a_workflow_without_a_negative_prompt_binding_leaves_it_alone(tmp_path: Path) -> None:
    toml = (
        '[workflows.image]\n[workflows.image.inputs]\nprompt = "6.text"\nseed = "3.seed"\n'
        'width = "5.width"\nheight = "5.height"\n'
    )
    folder, config = make_project(tmp_path / "film", toml)
    image = load_workflow(AssetKind.IMAGE, folder, config)
    assert "negative_prompt" not in image.bindings
    graph = image.build({**IMAGE_PARAMS, "negative_prompt": "SHOULD NOT APPEAR"})
    assert graph["7"]["inputs"]["text"] == image.graph["7"]["inputs"]["text"]
    assert "SHOULD NOT APPEAR" not in json.dumps(graph)
    assert graph["6"]["inputs"]["text"] == "a lighthouse at dusk"


def test_motion_into_an_int_input_stays_an_int(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_VIDEO)
    graph["2"]["inputs"]["steps"] = 4
    toml = (
        '[workflows.video]\npath = "workflows/video.json"\n'
        '[workflows.video.inputs]\nimage = "1.image"\nmotion = "2.steps"\n'
        "[workflows.video.motion_range]\nmin = 1\nmax = 20\n"
    )
    folder, config = make_project(tmp_path / "film", toml, {"workflows/video.json": graph})
    video = load_workflow(AssetKind.VIDEO, folder, config)
    built = video.build({**VIDEO_PARAMS, "motion": 0.6}, uploaded_image="a.png")
    assert built["2"]["inputs"]["steps"] == 12  # 1 + 0.6 * 19 = 12.4
    assert isinstance(built["2"]["inputs"]["steps"], int)
    assert built["2"]["inputs"]["frames"] == 16, "frames is not bound here"


# -- load-time errors ---------------------------------------------------------------------------


def test_a_ui_format_file_says_to_export_with_save_api(tmp_path: Path) -> None:
    ui = {"last_node_id": 9, "nodes": [{"id": 1, "type": "KSampler"}], "links": [], "version": 0.4}
    message = load_error(tmp_path, image_override(), {"workflows/image.json": ui}, AssetKind.IMAGE)
    assert "workflows/image.json" in message
    assert "Save (API)" in message
    assert issubclass(WorkflowError, ConfigError), "the CLI reports config errors in one line"


def test_invalid_json_names_the_file_and_the_line(tmp_path: Path) -> None:
    broken = '{\n  "1": {"class_type": "SaveImage",\n  "inputs": {}\n'
    message = load_error(
        tmp_path, image_override(), {"workflows/image.json": broken}, AssetKind.IMAGE
    )
    assert message.startswith("workflows/image.json: not valid JSON")
    assert "line" in message


def test_a_node_without_class_type_is_not_api_format(tmp_path: Path) -> None:
    graph = {"1": {"inputs": {"prompt": "x"}}}
    message = load_error(
        tmp_path, image_override(), {"workflows/image.json": graph}, AssetKind.IMAGE
    )
    assert "node 1 has no class_type" in message
    assert "Save (API)" in message


def test_a_missing_workflow_file_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, image_override(), {}, AssetKind.IMAGE)
    assert "workflows/image.json: no such file" in message


def test_a_binding_to_a_missing_node_names_the_node(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        image_override('prompt = "99.prompt"'),
        {"workflows/image.json": SLOW_IMAGE},
        AssetKind.IMAGE,
    )
    assert "[workflows.image].inputs" in message
    assert "workflows/image.json has no node 99" in message
    assert "its nodes: 1, 2" in message


def test_a_binding_to_a_missing_input_names_node_and_input(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        image_override('prompt = "1.text"'),
        {"workflows/image.json": SLOW_IMAGE},
        AssetKind.IMAGE,
    )
    assert "workflows/image.json node 1 (SlowSolidImage) has no input 'text'" in message
    assert "prompt" in message and "seed" in message  # lists the inputs it does have


def test_a_binding_to_a_wired_input_is_refused(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        image_override('prompt = "1.prompt"\nwidth = "2.images"'),
        {"workflows/image.json": SLOW_IMAGE},
        AssetKind.IMAGE,
    )
    assert "node 2 (SaveImage) input 'images' is wired to node 1" in message


def test_a_missing_required_binding_is_an_error(tmp_path: Path) -> None:
    toml = (
        '[workflows.video]\npath = "workflows/video.json"\n'
        '[workflows.video.inputs]\nframes = "2.frames"\n'
    )
    message = load_error(tmp_path, toml, {"workflows/video.json": SLOW_VIDEO}, AssetKind.VIDEO)
    assert "workflows/video.json needs a binding for image" in message
    assert "storyboard.toml [workflows.video]" in message


def test_an_unknown_binding_name_is_an_error(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        image_override('prompt = "1.prompt"\nsteps = "1.steps"'),
        {"workflows/image.json": SLOW_IMAGE},
        AssetKind.IMAGE,
    )
    assert "unknown binding 'steps'" in message
    assert "negative_prompt" in message  # says which names are allowed


def test_a_path_without_inputs_is_an_error(tmp_path: Path) -> None:
    toml = '[workflows.image]\npath = "workflows/image.json"\n'
    message = load_error(tmp_path, toml, {"workflows/image.json": SLOW_IMAGE}, AssetKind.IMAGE)
    assert "[workflows.image.inputs]" in message


def test_a_malformed_binding_target_is_an_error(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        image_override('prompt = "prompt"'),
        {"workflows/image.json": SLOW_IMAGE},
        AssetKind.IMAGE,
    )
    assert '"node_id.input_name"' in message


def test_a_link_to_a_node_not_in_the_workflow_is_an_error(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["2"]["inputs"]["images"] = ["99", 0]
    message = load_error(
        tmp_path, image_override(), {"workflows/image.json": graph}, AssetKind.IMAGE
    )
    assert "node 2 (SaveImage) input 'images' is wired to node 99" in message


def test_video_settings_in_the_image_table_and_unknown_cameras_are_errors(tmp_path: Path) -> None:
    message = load_error(tmp_path / "a", "[workflows.image]\nfps = 16\n", {}, AssetKind.IMAGE)
    assert "fps only apply to the video workflow" in message
    message = load_error(
        tmp_path / "b", '[workflows.video.camera_values]\nspin = "Spin"\n', {}, AssetKind.VIDEO
    )
    assert "unknown camera 'spin'" in message
    message = load_error(
        tmp_path / "c", "[workflows.video.motion_range]\nmin = 5\nmax = 1\n", {}, AssetKind.VIDEO
    )
    assert "min 5.0 is above max 1.0" in message


# -- checks against a server's object_info ------------------------------------------------------


def override(tmp_path: Path, graph: dict[str, Any], inputs: str = 'prompt = "1.prompt"') -> Any:
    folder, config = make_project(
        tmp_path / "film", image_override(inputs), {"workflows/image.json": graph}
    )
    return load_workflow(AssetKind.IMAGE, folder, config)


def test_an_unknown_node_type_is_named(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["1"]["class_type"] = "NoSuchNode"
    problems = check_against_object_info(override(tmp_path, graph), OBJECT_INFO)
    assert len(problems) == 1
    assert problems[0].startswith("workflows/image.json: node 1 (NoSuchNode)")
    assert "install the custom node" in problems[0]


def test_a_model_file_the_server_does_not_have_is_caught(tmp_path: Path) -> None:
    _, video = defaults(tmp_path)
    models = bundled_models()
    models["diffusion_models"] = [
        "wan2.1_i2v_480p_14B_fp16.safetensors",
        "wan2.1_t2v_1.3B_fp16.safetensors",
    ]
    problems = check_against_object_info(video, stocked(tmp_path / "comfy", models))
    assert len(problems) == 1
    assert "bundled video workflow: node 37 (UNETLoader) input 'unet_name'" in problems[0]
    assert "'wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors' is not on this server" in problems[0]
    assert "Available diffusion models: wan2.1_i2v_480p_14B_fp16.safetensors" in problems[0]


def test_a_bad_combo_value_lists_the_allowed_ones(tmp_path: Path) -> None:
    image, _ = defaults(tmp_path)
    image.graph["3"]["inputs"]["sampler_name"] = "euler_fancy"
    problems = check_against_object_info(image, stocked(tmp_path / "comfy", bundled_models()))
    assert len(problems) == 1
    assert "node 3 (KSampler) input 'sampler_name': 'euler_fancy' is not offered" in problems[0]
    assert "Available samplers: euler, euler_cfg_pp" in problems[0] and "more)" in problems[0]


def test_a_camera_value_the_node_does_not_offer_is_caught(tmp_path: Path) -> None:
    folder, config = make_project(
        tmp_path / "film", '[workflows.video.camera_values]\nroll_cw = "Spin"\n'
    )
    video = load_workflow(AssetKind.VIDEO, folder, config)
    problems = check_against_object_info(video, stocked(tmp_path / "comfy", bundled_models()))
    assert len(problems) == 1
    assert "node 55 (WanCameraEmbedding) input 'camera_pose'" in problems[0]
    assert "'Spin' (for roll_cw) is not offered" in problems[0]
    assert "Pan Up" in problems[0]


def test_an_int_outside_its_range_is_caught(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["1"]["inputs"]["steps"] = 0
    graph["1"]["inputs"]["delay_ms"] = "slow"
    problems = check_against_object_info(override(tmp_path, graph), OBJECT_INFO)
    assert len(problems) == 2
    assert "node 1 (SlowSolidImage) input 'steps': 0 is outside 1..10000" in problems[0]
    assert "input 'delay_ms': expects a number (INT)" in problems[1]


def test_bound_inputs_are_not_judged_by_their_placeholder(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["1"]["inputs"]["width"] = 0  # replaced by every job, so not a problem
    workflow = override(tmp_path, graph, 'prompt = "1.prompt"\nwidth = "1.width"')
    assert check_against_object_info(workflow, OBJECT_INFO) == []


def test_a_motion_range_beyond_the_input_is_caught(tmp_path: Path) -> None:
    folder, config = make_project(
        tmp_path / "film", "[workflows.video.motion_range]\nmin = 0\nmax = 12\n"
    )
    video = load_workflow(AssetKind.VIDEO, folder, config)
    problems = check_against_object_info(video, stocked(tmp_path / "comfy", bundled_models()))
    assert len(problems) == 1
    assert "node 55 (WanCameraEmbedding) input 'speed'" in problems[0]
    assert "motion_range 0.0..12.0 is outside" in problems[0]


def test_unknown_and_missing_inputs_and_miswired_links_are_caught(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["1"]["inputs"]["colour"] = "red"
    del graph["1"]["inputs"]["seed"]
    graph["2"]["inputs"]["images"] = ["1", 3]
    problems = check_against_object_info(override(tmp_path, graph), OBJECT_INFO)
    assert any("node 1 (SlowSolidImage): required input 'seed' is missing" in p for p in problems)
    assert any("unknown input 'colour'; this node takes: prompt" in p for p in problems)
    assert any("node 2 (SaveImage) input 'images': wired to output 3" in p for p in problems)
    assert len(problems) == 3


def test_a_link_of_the_wrong_type_and_no_output_node_are_caught(tmp_path: Path) -> None:
    graph = copy.deepcopy(SLOW_IMAGE)
    graph["2"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["1", 0]}}
    problems = check_against_object_info(override(tmp_path, graph), OBJECT_INFO)
    assert any("input 'vae': wants VAE but node 1 (SlowSolidImage)" in p for p in problems)
    assert any("no output node" in p for p in problems)
    assert len(problems) == 2


# -- frames and identity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "fps", "step", "frames"),
    [
        (3.1, 16, 4, 49),
        (3.0, 16, 4, 49),
        (5.0, 16, 4, 81),
        (2.5, 16, 4, 41),
        (1.0, 24, 8, 25),
        (3.1, 8, 1, 25),
        (0.0, 16, 4, 1),
        (0.01, 16, 4, 1),
    ],
)
def test_frames_for_rounds_to_the_step_grid(
    duration: float, fps: int, step: int, frames: int
) -> None:
    assert frames_for(duration, fps, step) == frames
    assert (frames - 1) % step == 0


def test_workflow_id_follows_the_file_and_the_bindings(tmp_path: Path) -> None:
    files = {"workflows/image.json": SLOW_IMAGE}
    first = override(tmp_path, SLOW_IMAGE).workflow_id
    assert first == override(tmp_path, SLOW_IMAGE).workflow_id
    folder, config = make_project(tmp_path / "film", image_override(), files)
    assert load_workflow(AssetKind.IMAGE, folder, config).workflow_id == first

    retitled = copy.deepcopy(SLOW_IMAGE)
    retitled["1"]["_meta"]["title"] = "Renamed in the UI"
    assert override(tmp_path, retitled).workflow_id == first

    edited = copy.deepcopy(SLOW_IMAGE)
    edited["1"]["inputs"]["steps"] = 6
    assert override(tmp_path, edited).workflow_id != first

    rebound = override(tmp_path, SLOW_IMAGE, 'prompt = "1.prompt"\nseed = "1.seed"')
    assert rebound.workflow_id != first
    assert first.startswith("comfyui:") and len(first) == len("comfyui:") + 12


def test_bundled_defaults_cover_every_binding_name(tmp_path: Path) -> None:
    image, video = defaults(tmp_path)
    for workflow in (image, video):
        for name, target in DEFAULT_BINDINGS[workflow.kind].items():
            node_id, field = target.split(".")
            assert workflow.bindings[name] == (node_id, field)
            assert field in workflow.graph[node_id]["inputs"]
