"""The ComfyUI client, its protocol parsing and `storyboard doctor`.

Parsing is checked against the transcripts recorded from a real ComfyUI 0.3.64
(tests/fixtures/comfyui); the client and the doctor talk to the stand-in server
over loopback.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rich.console import Console

from tests.comfyui_server import (
    ComfyTestServer,
    bad_workflows,
    bundled_models,
    load_transcript,
)
from tests.comfyui_server.media import sample_png
from tests.comfyui_server.transcript import SCENARIOS
from tui.backends.comfyui.client import ComfyClient, DownloadFailed, Refused, Unreachable, ws_url
from tui.backends.comfyui.doctor import load_workflows, print_report, run_doctor
from tui.backends.comfyui.protocol import (
    FEATURE_FLAGS,
    OutputFile,
    ProgressTracker,
    decode_preview,
    describe_rejection,
    execution_error_message,
    no_output_message,
    parse_history,
    parse_message,
    pick_output,
    queue_ids,
)
from tui.config import ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.folder import ProjectFolder

IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def history_body(scenario: str, index: int = 0) -> tuple[str, Any]:
    exchange = load_transcript(scenario).exchange("GET", "/history/", index)
    return exchange.path.removeprefix("/history/"), exchange.body


# --------------------------------------------------------------------------- messages


def test_every_recorded_text_frame_parses() -> None:
    count = 0
    for scenario in SCENARIOS:
        for frame in load_transcript(scenario).of_kind("ws_text"):
            parsed = parse_message(frame["raw"])
            assert parsed is not None, frame["raw"]
            count += 1
    assert count > 500
    assert parse_message("not json") is None
    assert parse_message('{"type": 1, "data": {}}') is None
    assert parse_message("[1, 2]") is None


def test_progress_over_the_recorded_image_run_rises_and_stays_below_one() -> None:
    tracker = ProgressTracker(nodes=2)
    fractions = []
    for frame in load_transcript("image").of_kind("ws_text"):
        kind, data = parse_message(frame["raw"]) or ("", {})
        if kind == "execution_cached":
            tracker.on_cached(data["nodes"])
        elif kind == "executing" and data.get("node"):
            tracker.on_executing(data["node"])
        elif kind == "progress":
            tracker.on_progress(data["node"], data["value"], data["max"])
        elif kind == "progress_state":
            tracker.on_state(data["nodes"])
        else:
            continue
        fraction = tracker.update()
        if fraction is not None:
            fractions.append(fraction)
    assert fractions == [0.1, 0.2, 0.3, 0.4, 0.5]  # 5 steps of node 1 of 2
    assert tracker.update() is None


def test_progress_ignores_cached_nodes_and_never_goes_back() -> None:
    tracker = ProgressTracker(nodes=4)
    tracker.on_cached(["1", "2"])
    tracker.on_executing("3")
    tracker.on_progress("3", 1, 2)
    assert tracker.update() == 0.25  # half of node 3, of the 2 nodes that run
    tracker.on_progress("3", 1, 4)  # a repeat after a reconnect, or a smaller max
    assert tracker.update() is None and tracker.fraction == 0.25
    tracker.on_executing("4")
    tracker.on_progress("4", 10, 10)
    assert tracker.update() == 0.99  # never 1 before the result is in
    tracker.on_progress("4", True, "x")  # junk is ignored
    assert tracker.value == 10


def test_previews_decode_type_1_and_type_4() -> None:
    assert decode_preview(struct.pack(">II", 1, 1) + JPEG) == decode_preview(
        struct.pack(">II", 1, 2) + JPEG
    )
    png = sample_png((4, 4), (1, 2, 3))
    one = decode_preview(struct.pack(">II", 1, 2) + png)
    assert one is not None and one.mime == "image/png" and one.prompt_id is None
    meta = json.dumps({"node_id": "3", "prompt_id": "abc", "image_type": "image/jpeg"}).encode()
    four = decode_preview(struct.pack(">II", 4, len(meta)) + meta + JPEG)
    assert four is not None
    assert (four.data, four.mime, four.prompt_id, four.node) == (JPEG, "image/jpeg", "abc", "3")
    for broken in (
        b"",
        struct.pack(">II", 1, 1),  # no image
        struct.pack(">II", 4, 999) + b"{}",  # length past the end
        struct.pack(">II", 4, 2) + b"[]" + JPEG,  # metadata not an object
        struct.pack(">II", 4, 1) + b"{" + JPEG,  # not JSON
        struct.pack(">II", 3, 1) + JPEG,  # another event type
        struct.pack(">II", 1, 9) + b"not an image",
    ):
        assert decode_preview(broken) is None


def test_recorded_previews_are_the_types_we_decode() -> None:
    frames = load_transcript("feature_flags").of_kind("ws_binary")
    assert frames and {f["event_type"] for f in frames} == {4}
    assert {f["metadata"]["image_type"] for f in frames} == {"image/jpeg"}
    sent = load_transcript("feature_flags").of_kind("ws_send")[0]["raw"]
    assert json.loads(sent) == json.loads(FEATURE_FLAGS)
    assert {f["event_type"] for f in load_transcript("image").of_kind("ws_binary")} == {1}


# --------------------------------------------------------------------------- errors


def test_every_recorded_rejection_reads_well() -> None:
    exchanges = [
        x
        for x in load_transcript("bad_workflows").exchanges()
        if x.method == "POST" and x.path == "/prompt"
    ]
    messages = [describe_rejection(x.status, x.body) for x in exchanges]
    assert messages == [
        "Cannot execute because node NoSuchNode does not exist. (Node ID '#1')",
        "Prompt outputs failed validation; node 1 (SlowSolidImage) input 'seed': "
        "Required input is missing",
        "Prompt outputs failed validation; node 2 (SaveImage): Exception when validating node "
        "('99')",
        "Prompt outputs failed validation; node 2 (SaveImage): Exception when validating node "
        "(tuple index out of range)",
        "Prompt outputs failed validation; node 2 (SaveImage) input 'images': Return type "
        "mismatch between linked nodes (images, received_type(STRING) mismatch input_type(IMAGE))",
        "Prompt outputs failed validation; node 1 (SlowSolidImage) input 'width': "
        "Value 0 smaller than min of 1",
        "Prompt outputs failed validation; node 1 (SlowSolidImage) input 'seed': Failed to "
        "convert an input value to a INT value (seed, abc, invalid literal for int() with "
        "base 10: 'abc')",
        "Prompt has no outputs",
        "Prompt outputs failed validation; node 1 (LoadImage) input 'image': Custom validation "
        "failed for node (image - Invalid image file: does_not_exist.png)",
        "Cannot execute because a node is missing the class_type property. (Node ID '#1')",
        "Prompt outputs failed validation",
        "No prompt provided",
        "HTTP 500: 500 Internal Server Error Server got itself in trouble",
        "HTTP 500: 500 Internal Server Error Server got itself in trouble",
    ]


def test_rejection_text_is_one_line_and_bounded() -> None:
    body = {"error": {"message": "bad\n\x1b[31mred" + "x" * 1000}, "node_errors": []}
    message = describe_rejection(400, body)
    assert "\n" not in message and "\x1b" not in message and len(message) < 220
    many = {str(i): {"errors": [{"message": "no"}], "class_type": "N"} for i in range(9)}
    assert describe_rejection(400, {"error": "x", "node_errors": many}).endswith("(and 3 more)")


def test_execution_error_message_is_node_type_and_exception() -> None:
    [error] = load_transcript("failure").messages("execution_error")[:1]
    assert execution_error_message(error["data"]) == (
        "SlowSolidImage: SlowSolidImage: deliberate failure at step 2 "
        "(prompt='this one fails', seed=11)"
    )
    assert execution_error_message({}) == "ComfyUI: failed"


# --------------------------------------------------------------------------- history


def test_recorded_histories_give_the_right_file_per_kind() -> None:
    key, body = history_body("image")
    result = parse_history(body, key)
    assert result is not None and result.succeeded
    still = pick_output(result.files, IMAGE)
    assert still == OutputFile("2", "shot_00001_.png", "storyboard", "output", False)
    assert pick_output(result.files, VIDEO) is None  # a still is not a clip

    key, body = history_body("video")  # mp4, webp, webm and apng from one prompt
    result = parse_history(body, key)
    assert result is not None
    clip = pick_output(result.files, VIDEO)
    assert clip is not None and clip.filename == "clip_mp4_00001_.mp4"
    assert pick_output(result.files, IMAGE) is None  # every file is animated
    webp_only = [f for f in result.files if f.suffix == ".webp"]
    assert pick_output(webp_only, VIDEO) == webp_only[0]

    assert parse_history({}, key) is None
    assert parse_history({key: "junk"}, key) is None


def test_recorded_failure_interrupt_and_cache_in_history() -> None:
    key, body = history_body("failure")
    failed = parse_history(body, key)
    assert failed is not None and not failed.succeeded
    assert failed.error is not None and failed.error.startswith("SlowSolidImage: ")

    key, body = history_body("queue_interrupt")
    interrupted = parse_history(body, key)
    assert interrupted is not None and interrupted.interrupted and not interrupted.succeeded

    key, body = history_body("cached")
    cached = parse_history(body, key)
    assert cached is not None and cached.succeeded and cached.cached == {"1", "2"}
    assert pick_output(cached.files, IMAGE) is not None  # 0.3.64 replays the old name


def test_a_success_without_usable_output_says_why() -> None:
    key, body = history_body("cached")
    body = json.loads(json.dumps(body))
    body[key]["outputs"] = {}  # what older servers record for a fully cached prompt
    result = parse_history(body, key)
    assert result is not None and result.succeeded and not result.files
    assert "answered from its cache" in no_output_message(IMAGE, result)
    key, body = history_body("image")
    result = parse_history(body, key)
    assert result is not None
    assert "not a clip" in no_output_message(VIDEO, result)


def test_temp_previews_lose_to_saved_files() -> None:
    temp = OutputFile("9", "ComfyUI_temp_x_00001_.png", "", "temp", False)
    saved = OutputFile("10", "shot_00001_.png", "storyboard", "output", False)
    assert pick_output([temp, saved], IMAGE) == saved
    assert pick_output([temp], IMAGE) == temp


def test_queue_ids_from_the_recorded_queue() -> None:
    exchange = load_transcript("queue_interrupt").exchange("GET", "/queue")
    running, pending = queue_ids(exchange.body)
    assert len(running) == 1 and len(pending) == 3
    assert queue_ids({"queue_running": "x"}) == (set(), set())


# --------------------------------------------------------------------------- the client


def test_ws_url_follows_scheme_port_and_path() -> None:
    assert ws_url("http://127.0.0.1:8188", "c") == "ws://127.0.0.1:8188/ws?clientId=c"
    assert ws_url("https://gpu.example/comfy", "c") == "wss://gpu.example/comfy/ws?clientId=c"


@pytest.fixture
async def comfy(tmp_path: Path) -> AsyncIterator[ComfyTestServer]:
    async with ComfyTestServer(tmp_path / "comfy") as server:
        yield server


@pytest.fixture
async def client(comfy: ComfyTestServer) -> AsyncIterator[ComfyClient]:
    api = ComfyClient(ServerConfig(url=comfy.url), client_id="test-client", timeout=5)
    yield api
    await api.aclose()


async def test_recorded_bad_workflows_are_refused_with_reasons(client: ComfyClient) -> None:
    for name, graph in bad_workflows().items():
        with pytest.raises(Refused) as refused:
            await client.submit(graph, str(uuid.uuid4()))
        assert refused.value.status == 400, name
        assert "Prompt" in str(refused.value) or "Cannot execute" in str(refused.value)
    with pytest.raises(Refused, match="HTTP 500: 500 Internal Server Error"):
        await client.submit([1, 2], str(uuid.uuid4()))  # type: ignore[arg-type]


async def test_submit_uses_our_prompt_id_and_upload_returns_the_loadimage_name(
    comfy: ComfyTestServer, client: ComfyClient
) -> None:
    comfy.pause()
    graph = load_transcript("image").exchange("POST", "/prompt").request["json"]["prompt"]
    key = str(uuid.uuid4())
    await client.submit(graph, key)
    assert (await client.queue()) == (set(), {key})
    assert comfy._queue[0][3] == {"client_id": "test-client"}
    await client.delete([key])
    assert (await client.queue()) == (set(), set())
    name = await client.upload_image(sample_png((8, 8), (9, 9, 9)), "still.png", "storyboard-p1")
    assert name == "storyboard-p1/still.png"
    assert (comfy.root / "input" / "storyboard-p1" / "still.png").is_file()
    assert (
        await client.view("still.png", "storyboard-p1", "input")
        == (comfy.root / "input" / "storyboard-p1" / "still.png").read_bytes()
    )
    with pytest.raises(Refused) as missing:
        await client.view("nope.png", "", "output")
    assert missing.value.status == 404


async def test_unreachable_and_slow_servers_are_unreachable(tmp_path: Path) -> None:
    server = ComfyTestServer(tmp_path / "comfy")
    original = server._system_stats

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return await original(request)

    setattr(server, "_system_stats", slow)  # noqa: B010 - a test-only hook on the stand-in
    async with server:
        api = ComfyClient(ServerConfig(url=server.url), client_id="c", timeout=0.1)
        with pytest.raises(Unreachable, match="timed out") as slow_error:
            await api.system_stats()
        assert slow_error.value.maybe_sent
        await api.aclose()
    api = ComfyClient(ServerConfig(url=server.url), client_id="c", timeout=1)
    with pytest.raises(Unreachable, match="connection refused") as down:
        await api.system_stats()
    assert not down.value.maybe_sent
    with pytest.raises(Unreachable, match="connection refused"):
        await api.connect()
    await api.aclose()


# --------------------------------------------------------------------------- doctor


def _report_text(report: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = print_report(report, Console(file=out, width=200, color_system=None))
    return code, out.getvalue()


async def test_doctor_passes_a_good_server(tmp_path: Path) -> None:
    comfy = ComfyTestServer(tmp_path / "comfy", models=bundled_models())
    await comfy.start()
    comfy.pause()
    graph = load_transcript("image").exchange("POST", "/prompt").request["json"]["prompt"]
    api = ComfyClient(ServerConfig(url=comfy.url), client_id="other", timeout=5)
    await api.submit(graph, str(uuid.uuid4()))
    await api.aclose()
    workflows = load_workflows(ProjectFolder(tmp_path), ProjectConfig())
    report = await run_doctor([ServerConfig(url=comfy.url)], workflows, timeout=5)
    await comfy.stop()
    code, text = _report_text(report)
    assert code == 0 and report.ok, text
    assert "ComfyUI 0.3.64" in text and "queue 0 running, 1 pending" in text
    assert "websocket ok" in text and "All good." in text
    assert "bundled image workflow: every node and input is available" in text


async def test_doctor_names_each_problem_with_a_fix(tmp_path: Path) -> None:
    info = json.loads(
        (Path(__file__).parent / "fixtures" / "comfyui" / "object_info.core.json").read_text()
    )
    del info["WanCameraEmbedding"]
    trimmed = tmp_path / "object_info.json"
    trimmed.write_text(json.dumps(info))
    (tmp_path / "project").mkdir()
    folder = ProjectFolder(tmp_path / "project")
    config = ProjectConfig.model_validate(
        {"workflows": {"image": {"path": "missing.json", "inputs": {"prompt": "6.text"}}}}
    )
    async with ComfyTestServer(tmp_path / "comfy", object_info_path=trimmed) as server:
        down = ComfyTestServer(tmp_path / "down")
        await down.start()
        await down.stop()
        servers = [ServerConfig(url=server.url), ServerConfig(url=down.url)]
        report = await run_doctor(servers, load_workflows(folder, config), timeout=2)
    code, text = _report_text(report)
    assert code == 1 and not report.ok
    assert "missing.json: no such file" in text
    assert "no node type 'WanCameraEmbedding'\n        fix: install the custom node" in text
    assert f"  ✗ {down.url}: connection refused\n      fix: start ComfyUI" in text
    assert "problems found" in text


async def test_doctor_sends_the_servers_headers_and_no_origin(tmp_path: Path) -> None:
    server = ComfyTestServer(tmp_path / "comfy")
    seen: list[dict[str, str]] = []

    @web.middleware
    async def record(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)
        return await handler(request)

    build = server._build_app

    def build_app() -> web.Application:
        app = build()
        app.middlewares.insert(0, record)
        return app

    server._build_app = build_app  # type: ignore[method-assign]
    async with server:
        plain = await run_doctor([ServerConfig(url=server.url)], [], timeout=2)
        assert plain.servers[0].error is not None and "401" in plain.servers[0].error
        assert "Authorization" in (plain.servers[0].fix or "")
        headers = {"Authorization": "Bearer s3cret"}
        good = await run_doctor([ServerConfig(url=server.url, headers=headers)], [], timeout=2)
        assert good.servers[0].ok, good.servers[0]
    assert seen and not any("Origin" in h for h in seen)
    assert any(h.get("Upgrade", "").lower() == "websocket" for h in seen)


async def test_a_large_download_streams_to_its_file_in_flat_memory(
    comfy: ComfyTestServer, client: ComfyClient, tmp_path: Path
) -> None:
    """Issue 10 item 5: an 8 MiB output goes to the file a megabyte at a time, not to memory."""
    import tracemalloc

    content = bytes(range(256)) * (8 * 4096)  # 8 MiB
    (comfy.root / "output" / "big.png").write_bytes(content)
    dest = tmp_path / ".tmp-big.png"
    tracemalloc.start()
    try:
        got = await client.download("big.png", "", "output", name="scene-0001.png", dest=dest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == b"" and dest.read_bytes() == content
    assert peak < 4 * 1024 * 1024, peak  # about one flush buffer, never the whole file
    limited = tmp_path / ".tmp-limited.png"
    with pytest.raises(DownloadFailed) as caught:
        await client.download(
            "big.png", "", "output", name="scene-0001.png", dest=limited, limit=3 * 1024 * 1024
        )
    assert str(caught.value) == (
        "ComfyUI offered 8 MiB for scene-0001.png, more than the 3 MiB limit"
    )
    assert not limited.exists()
    assert await client.view("big.png", "", "output") == content  # no staging: bytes
