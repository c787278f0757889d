"""The ComfyUI stand-in against the record of a real ComfyUI 0.3.64.

Each replay test drives the stand-in with the requests of one recorded scenario and
compares what comes back (websocket sequences, status codes, JSON bodies) with the record,
so the stand-in cannot drift from the real server. The remaining tests pin behaviour that
other tests rely on: Origin checks, /view guards, uploads, pause/delete, crash/restart.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import websockets
from PIL import Image
from websockets.asyncio.client import ClientConnection

from tests.comfyui_server import ComfyTestServer, label, load_transcript, load_workflow
from tests.comfyui_server.__main__ import parse_args
from tests.comfyui_server.media import sample_png
from tests.comfyui_server.transcript import (
    Exchange,
    Transcript,
    bad_workflows,
    json_shape,
    kind_of,
    scrub,
)

CLIENT = "probe-5959a60b5ae7"
"""The recorder's client id; reusing it makes recorded bodies comparable as they are."""
FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
DONE = "executing node=None"
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


class Socket:
    """A websocket client that labels what it receives the way the recorder did."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def open(
        cls, server: ComfyTestServer, client_id: str | None = CLIENT, *, flags: bool = False
    ) -> Socket:
        url = server.ws_url + (f"?clientId={client_id}" if client_id else "")
        conn = await websockets.connect(url, max_size=None)
        if flags:
            await conn.send(json.dumps(FLAGS))
        return cls(conn)

    async def recv(self, timeout: float = 10.0) -> str | bytes:
        return await asyncio.wait_for(self.conn.recv(), timeout)

    async def until(
        self, stop: str | Callable[[str], bool], timeout: float = 10.0
    ) -> list[tuple[str, str | bytes]]:
        """(label, frame) pairs up to and including the first whose label matches stop."""
        matches = (lambda lbl: lbl == stop) if isinstance(stop, str) else stop
        got: list[tuple[str, str | bytes]] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.conn.recv()
                got.append((label(frame), frame))
                if matches(got[-1][0]):
                    return got

    async def labels_until(self, stop: str | Callable[[str], bool]) -> list[str]:
        return [lbl for lbl, _ in await self.until(stop)]

    async def close(self) -> None:
        await self.conn.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ComfyTestServer]:
    async with ComfyTestServer(tmp_path / "comfy") as srv:
        yield srv


@pytest.fixture
async def client(server: ComfyTestServer) -> AsyncIterator[httpx.AsyncClient]:
    # Plain http on loopback: skip building a CA bundle for every test (about 0.1 s each).
    async with httpx.AsyncClient(base_url=server.url, timeout=10, verify=False) as http:
        yield http


def upload_bytes(length: int) -> bytes:
    """Stand-in content for a recorded upload: equal recorded lengths give equal bytes."""
    return sample_png((32 + length % 7, 32), ((length * 7) % 256, (length * 13) % 256, 90))


async def send_recorded(
    client: httpx.AsyncClient, req: dict[str, Any], **json_extra: Any
) -> httpx.Response:
    """Send a recorded http_request; json_extra is merged into a JSON body (e.g. prompt_id)."""
    kwargs: dict[str, Any] = {"params": req.get("params")}
    if "json" in req:
        kwargs["json"] = {**req["json"], **json_extra} if json_extra else req["json"]
    elif "raw_body" in req:
        kwargs["content"] = req["raw_body"].encode()
    elif "multipart" in req:
        parts = req["multipart"]
        kwargs["files"] = {
            field: (f["filename"], upload_bytes(f["len"]), f["content_type"])
            for field, f in parts["files"].items()
        }
        kwargs["data"] = parts["fields"]
    return await client.request(req["method"], req["path"], **kwargs)


def assert_like(response: httpx.Response, recorded: Exchange, *, exact: bool = False) -> None:
    """Same status and content type as the record, and the same JSON shape (or body)."""
    where = f"{recorded.method} {recorded.path}"
    assert response.status_code == recorded.status, where
    ours = response.headers.get("content-type")
    assert (ours.split(";")[0] if ours else None) == recorded.content_type, where
    if recorded.body_is_summary:
        assert len(response.content) > 0, where
    elif recorded.body == "" or isinstance(recorded.body, str):
        assert response.text == recorded.body, where
    elif exact:
        assert scrub(response.json()) == scrub(recorded.body), where
    else:
        assert json_shape(response.json()) == json_shape(recorded.body), where


def without_number(history: dict[str, Any]) -> dict[str, Any]:
    """A history body with timestamps and the queue `number` blanked (ours restart at 0)."""
    out = scrub(history)
    for entry in out.values():
        entry["prompt"][0] = None
    return out


async def post_recorded(
    client: httpx.AsyncClient, recorded: Exchange, *, same_id: bool = True
) -> str:
    """Submit a recorded prompt (with the recorded prompt_id, so bodies compare as they are)."""
    extra = {"prompt_id": recorded.body["prompt_id"]} if same_id else {}
    response = await send_recorded(client, recorded.request, **extra)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"prompt_id", "number", "node_errors"}
    assert body["node_errors"] == {}
    return str(body["prompt_id"])


def prompt_posts(t: Transcript) -> list[Exchange]:
    return [x for x in t.exchanges() if x.method == "POST" and x.path == "/prompt"]


async def run_image_prelude(client: httpx.AsyncClient, ws: Socket) -> None:
    """The image scenario's job, which the cached and restart scenarios ran after."""
    await post_recorded(client, prompt_posts(load_transcript("image"))[0])
    await ws.labels_until(DONE)


async def upload_prelude(client: httpx.AsyncClient) -> None:
    """The upload scenario's uploads, which the video scenario's LoadImage nodes need."""
    for x in load_transcript("upload").exchanges():
        if x.path == "/upload/image":
            response = await send_recorded(client, x.request)
            assert_like(response, x, exact=True)


# --------------------------------------------------------------------------- replays


async def test_replay_basics(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("basics")
    ws = await Socket.open(server)
    connect = load_transcript("connect").messages("status")[0]
    assert json.loads(await ws.recv()) == connect  # status with the recorded sid
    for x in t.exchanges():
        response = await send_recorded(client, x.request)
        exact = x.path not in ("/system_stats",)
        assert_like(response, x, exact=exact)
    served = (await client.get("/object_info")).json()
    present = t.notes("object_info summary")[0]["present"]
    core = json.loads((REPO / "tests/fixtures/comfyui/object_info.core.json").read_text())
    assert {name for name in present if name in core} <= set(served)
    assert (await client.get("/object_info/NoSuchNode")).json() == {}
    await ws.close()


async def test_replay_upload(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    for x in load_transcript("upload").exchanges():
        response = await send_recorded(client, x.request)
        assert_like(response, x, exact=True)
    assert (server.root / "input" / "storyboard_refs" / "ref.png").is_file()
    assert (server.root / "input" / "probe_upload (1).png").is_file()


async def test_replay_image(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("image")
    ws = await Socket.open(server)
    await ws.recv()
    post = prompt_posts(t)[0]
    response = await send_recorded(client, post.request, prompt_id=post.body["prompt_id"])
    assert_like(response, post, exact=True)
    assert await ws.labels_until(DONE) == t.sequence("image run")
    for x in t.exchanges()[1:]:
        response = await send_recorded(client, x.request)
        assert_like(response, x, exact=x.path.startswith("/history"))
    with Image.open(server.root / "output" / "storyboard" / "shot_00001_.png") as img:
        assert img.size == (320, 192)
        assert json.loads(img.info["prompt"]) == post.request["json"]["prompt"]
    await ws.close()


async def test_replay_cached(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("cached")
    ws = await Socket.open(server)
    await ws.recv()
    await run_image_prelude(client, ws)
    notes = ["identical repeat", "partial cache", "changed seed", None]
    for post, note in zip(prompt_posts(t), notes, strict=True):
        pid = await post_recorded(client, post)
        got = await ws.until(DONE)
        if note is not None:
            assert [lbl for lbl, _ in got] == t.sequence(note)
        recorded = [json.loads(e["raw"]) for e in t.frames("main") if e["kind"] == "ws_text"]
        executed = [json.loads(f) for lbl, f in got if lbl.startswith("executed")]
        assert executed[0] in [r for r in recorded if r["type"] == "executed"]
        history = (await client.get(f"/history/{pid}")).json()
        recorded_history = t.find_exchange("GET", f"/history/{pid}")
        if recorded_history is not None:
            assert scrub(history) == scrub(recorded_history.body)
        else:
            assert history[pid]["status"]["status_str"] == "success"
    # The fully cached repeat wrote nothing: one file per job that really ran.
    names = sorted(p.name for p in (server.root / "output" / "storyboard").iterdir())
    assert names == ["shot_00001_.png", "shot_00002_.png", "shot_00003_.png", "shot_alt_00001_.png"]
    await ws.close()


async def test_replay_video(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("video")
    await upload_prelude(client)
    ws = await Socket.open(server)
    await ws.recv()
    notes = ["video: all savers", "video: CreateVideo", "video: text->frames", "video: LoadImage"]
    recorded_executed = [m["data"] for m in t.messages("executed")]
    for post, note in zip(prompt_posts(t), notes, strict=True):
        pid = await post_recorded(client, post)
        got = await ws.labels_until(DONE)
        expected = t.sequence(note)
        if note == "video: all savers":
            # Independent outputs run in ComfyUI's set order (hash-seeded); ours is fixed.
            assert [kind_of(x) for x in got] == [kind_of(x) for x in expected]
        else:
            assert got == expected
        history = (await client.get(f"/history/{pid}")).json()
        recorded_history = t.find_exchange("GET", f"/history/{pid}")
        if recorded_history is not None:
            assert json_shape(history) == json_shape(recorded_history.body)
        for node_id, output in history[pid]["outputs"].items():
            assert {"node": node_id, "output": output} in [
                {"node": e["node"], "output": e["output"]}
                for e in recorded_executed
                if e["prompt_id"] == pid
            ]
    for x in t.exchanges():
        if x.path == "/view":
            assert_like(await send_recorded(client, x.request), x)
    with av.open(str(server.root / "output" / "storyboard" / "clip_mp4_00001_.mp4")) as mp4:
        stream = mp4.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in mp4.decode(stream)) == 12
    with Image.open(server.root / "output" / "storyboard" / "clip_webp_00001_.webp") as webp:
        assert webp.n_frames == 12
    with Image.open(server.root / "output" / "storyboard" / "clip_apng_00001_.png") as apng:
        assert apng.n_frames == 12
    await ws.close()


async def test_replay_failure(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("failure")
    ws = await Socket.open(server)
    await ws.recv()
    recorded_errors = [m["data"] for m in t.messages("execution_error")]
    notes = ["node raises RuntimeError", "downstream node raises", "same failing prompt"]
    for post, note, recorded in zip(prompt_posts(t), notes, recorded_errors, strict=True):
        pid = await post_recorded(client, post)
        got = await ws.until(DONE)
        assert [lbl for lbl, _ in got] == t.sequence(note)
        error = next(json.loads(f)["data"] for lbl, f in got if lbl == "execution_error")
        assert set(error) == set(recorded)
        if "image" in recorded["current_inputs"]:  # a tensor's repr: only its form is kept
            assert error["current_inputs"]["image"][0].startswith("tensor(")
            error["current_inputs"]["image"] = recorded["current_inputs"]["image"]
        # current_outputs lists the prompt's nodes in set order on the real server.
        assert sorted(error.pop("current_outputs")) == sorted(recorded["current_outputs"])
        assert scrub(error) == scrub({k: v for k, v in recorded.items() if k != "current_outputs"})
        history = (await client.get(f"/history/{pid}")).json()
        recorded_history = t.find_exchange("GET", f"/history/{pid}")
        if recorded_history is not None:
            assert json_shape(history) == json_shape(recorded_history.body)
        assert history[pid]["status"]["status_str"] == "error"
        assert history[pid]["status"]["completed"] is False
    await ws.close()


async def test_replay_bad_workflows(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("bad_workflows")
    ws = await Socket.open(server)
    await ws.recv()
    exchanges = [x for x in t.exchanges() if x.path == "/prompt"]
    cases = [n["text"].removeprefix("bad workflow: ") for n in t.notes("bad workflow: ")]
    assert len(exchanges) == len(cases) == 14
    assert set(bad_workflows()) <= set(cases)
    for case, x in zip(cases, exchanges, strict=True):
        response = await send_recorded(client, x.request)
        assert response.status_code == x.status, case
        assert response.headers["content-type"].split(";")[0] == x.content_type, case
        if x.content_type == "application/json":
            assert response.json() == x.body, case
        else:
            assert response.text == x.body, case
    # Invalid prompts cause no websocket message at all...
    with pytest.raises(TimeoutError):
        await ws.recv(timeout=0.2)
    assert t.sequence("websocket messages caused by invalid prompts") == []
    # ...but each parsed body took a queue number, as on the real server (25 - 12 = 13).
    post = prompt_posts(load_transcript("image"))[0]
    response = await send_recorded(client, post.request)
    assert response.json()["number"] == 13
    await ws.close()


async def test_replay_queue_interrupt(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("queue_interrupt")
    server.step_delay = 0.05
    ws = await Socket.open(server)
    await ws.recv()
    posts = prompt_posts(t)
    a, b, c, _d = [await post_recorded(client, p) for p in posts[:4]]
    await ws.labels_until("status queue_remaining=4")

    queue_calls = [x for x in t.exchanges() if x.path == "/queue"]
    assert_like(await client.get("/queue"), queue_calls[0])
    assert (await client.get("/prompt")).json() == {"exec_info": {"queue_remaining": 4}}

    def is_status(lbl: str) -> bool:
        return lbl.startswith("status")

    assert_like(await send_recorded(client, queue_calls[1].request), queue_calls[1])  # delete B
    assert (await ws.labels_until(is_status))[-1] == "status queue_remaining=3"
    assert_like(await client.get("/queue"), queue_calls[2])
    assert_like(await send_recorded(client, queue_calls[3].request), queue_calls[3])  # clear
    assert (await ws.labels_until(is_status))[-1] == "status queue_remaining=1"
    assert_like(await client.get("/queue"), queue_calls[4], exact=False)
    assert (await client.get("/queue")).json()["queue_pending"] == []

    interrupts = [x for x in t.exchanges() if x.path == "/interrupt"]
    await send_recorded(client, interrupts[0].request)  # C is not running: nothing happens
    for _ in range(2):
        got = await ws.labels_until(lambda lbl: lbl.startswith("progress "))
        assert "execution_interrupted" not in got
    assert_like(await send_recorded(client, interrupts[1].request), interrupts[1])  # global
    tail = await ws.until(DONE)
    assert [lbl for lbl, _ in tail][-3:] == t.sequence("queue/interrupt: sequence for prompt A")[
        -3:
    ]
    interrupted = json.loads(tail[-3][1])["data"]
    assert scrub(interrupted) == scrub(t.messages("execution_interrupted")[0]["data"])
    history = (await client.get(f"/history/{a}")).json()
    assert without_number(history) == without_number(t.exchange("GET", f"/history/{a}").body)
    for gone in (b, c):
        assert (await client.get(f"/history/{gone}")).json() == {}
    assert (await client.get("/queue")).json() == {"queue_running": [], "queue_pending": []}

    # Interrupting the running prompt by id.
    e = await post_recorded(client, posts[4])
    await ws.labels_until("progress 1/40 node=1")
    await client.post("/interrupt", json={"prompt_id": e})
    got = await ws.labels_until(DONE)
    assert got[-3:] == t.sequence("targeted interrupt")[-3:]

    # An interrupt while idle does not touch the next job.
    server.step_delay = 0.01
    await client.post("/interrupt")
    await post_recorded(client, posts[5])
    assert await ws.labels_until(DONE) == t.sequence("job after an idle interrupt")

    # front=true jumps the queue with a negative number.
    g, h, i = [await post_recorded(client, p) for p in posts[6:9]]
    pending = (await client.get("/queue")).json()["queue_pending"]
    assert [item[1] for item in pending] == [i, h]
    assert pending[0][0] < 0
    started = []
    while len(started) < 3:
        frame = json.loads((await ws.until("execution_start"))[-1][1])
        started.append(frame["data"]["prompt_id"])
    assert started == t.notes("execution order with front=true")[0]["started"] == [g, i, h]
    await ws.labels_until(DONE)
    await ws.close()


async def test_replay_no_client_id(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("no_client_id")
    main = await Socket.open(server)
    await main.recv()
    other = await Socket.open(server, "226f6e41daf14a6d8988bbcadd443172")
    hello = json.loads(await other.recv())
    assert hello == t.messages("status", "other")[0]
    posts = prompt_posts(t)
    anonymous = await post_recorded(client, posts[0])
    last = "status queue_remaining=0"
    assert await main.labels_until(last) == t.sequence("no client_id: main ws saw")
    assert await other.labels_until(last) == t.sequence("no client_id: other ws saw")
    history = (await client.get(f"/history/{anonymous}")).json()
    assert history[anonymous]["prompt"][3] == {}
    await post_recorded(client, posts[1])
    assert await main.labels_until(DONE) == t.sequence("main job: websocket sequence")
    assert await other.labels_until(last) == t.sequence("other ws saw during main")
    await main.close()
    await other.close()


async def test_replay_feature_flags(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("feature_flags")
    ws = await Socket.open(server, "ff-a85b4cac", flags=True)
    assert json.loads(await ws.recv()) == t.messages("status", "ff")[0]
    assert json.loads(await ws.recv()) == t.messages("feature_flags", "ff")[0]
    await post_recorded(client, prompt_posts(t)[0])
    got = await ws.until(DONE)
    assert [lbl for lbl, _ in got] == t.sequence("job on a ws that sent feature_flags")
    recorded = [e for e in t.frames("ff") if e["kind"] == "ws_binary"]
    binaries = [f for _, f in got if isinstance(f, bytes)]
    assert len(binaries) == len(recorded)
    for frame, rec in zip(binaries, recorded, strict=True):
        event, length = struct.unpack(">II", frame[:8])
        assert frame[:8].hex() == rec["head8_hex"]
        assert (event, length) == (rec["event_type"], rec["u32_2"])
        assert json.loads(frame[8 : 8 + length]) == rec["metadata"]
        assert frame[8 + length : 12 + length].hex() == rec["image_magic_hex"]
    await ws.close()


async def test_replay_reconnect(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("reconnect")
    server.step_delay = 0.02
    rc1 = await Socket.open(server, "rc-60f07a99")
    assert json.loads(await rc1.recv())["data"]["sid"] == "rc-60f07a99"
    await post_recorded(client, prompt_posts(t)[0])
    await rc1.labels_until("progress 1/20 node=1")
    await rc1.close()
    rc2 = await Socket.open(server, "rc-60f07a99")
    first, second = await rc2.recv(), await rc2.recv()
    recorded = t.messages("executing", "rc2")[0]
    assert json.loads(second) == recorded == {"type": "executing", "data": {"node": "1"}}
    assert json.loads(first) == t.messages("status", "rc2")[0]
    got = [label(first), label(second), *await rc2.labels_until(DONE)]
    expected = t.sequence("reconnect with same clientId")
    assert got[:2] == expected[:2]
    tail = expected[expected.index("progress_state 1:finished") :]
    assert got[-len(tail) :] == tail
    middle = got[2 : -len(tail)]
    steps = [int(x.split()[1].split("/")[0]) for x in middle if x.startswith("progress ")]
    assert steps == list(range(steps[0], 21)) and steps[0] > 1
    assert len(middle) == 3 * len(steps)
    await rc2.close()
    nocid = await Socket.open(server, None)
    sid = json.loads(await nocid.recv())["data"]["sid"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    assert re.fullmatch(r"[0-9a-f]{32}", t.notes("ws without clientId")[0]["sid"])
    await nocid.close()


async def test_replay_restart(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    t = load_transcript("restart")
    main = await Socket.open(server)
    await main.recv()
    await run_image_prelude(client, main)
    server.step_delay = 0.02
    ws = await Socket.open(server, "restart-kill-80e3ed")
    await ws.recv()
    posts = [x for x in prompt_posts(t) if "restart-kill" in json.dumps(x.request)]
    a = await post_recorded(client, posts[0])
    b = await post_recorded(client, posts[1])
    await ws.labels_until("progress 1/100 node=1")
    queue_calls = [x for x in t.exchanges() if x.path == "/queue"]
    assert_like(await client.get("/queue"), queue_calls[0])

    await server.crash()
    with pytest.raises(websockets.ConnectionClosedError) as closed:
        while True:
            await ws.recv()
    assert closed.value.rcvd is None and ws.conn.close_code == 1006
    assert t.notes("client websocket closed")[0]["info"]["code"] == 1006
    with pytest.raises(httpx.TransportError):
        await client.get("/queue")
    with pytest.raises(OSError):
        await websockets.connect(server.ws_url)

    await server.restart()
    ws = await Socket.open(server, "restart-kill-80e3ed")
    assert json.loads(await ws.recv()) == t.messages("status", "restart_kill_after")[0]
    for pid in (a, b):
        assert (await client.get(f"/history/{pid}")).json() == {}
    assert (await client.get("/history")).json() == {}
    assert (await client.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    view = t.exchange("GET", "/view")
    assert_like(await send_recorded(client, view.request), view)
    server.step_delay = 0.0
    again = [x for x in posts if "restart A" not in json.dumps(x.request)][-1]
    response = await send_recorded(client, again.request)
    assert response.json()["number"] == 0 == again.body["number"]
    assert await ws.labels_until(DONE) == t.sequence("old prompt after restart", 1)
    await ws.close()


# --------------------------------------------------------------------------- behaviours


async def test_origin_mismatch_gets_403(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    evil = {"Origin": "http://evil.example:8188"}
    assert (await client.get("/queue", headers=evil)).status_code == 403
    prompt = {"prompt": load_workflow("trivial_timing"), "client_id": CLIENT}
    response = await client.post("/prompt", json=prompt, headers=evil)
    assert response.status_code == 403 and response.content == b""
    assert server.queue_ids() == [] and server.history_ids() == []
    same = {"Origin": server.url}
    assert (await client.get("/queue", headers=same)).status_code == 200
    assert ("POST", "/prompt") in server.requests


async def test_view_guards(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    ok = await client.get("/view", params={"filename": "example.png", "type": "input"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    missing = await client.get("/view", params={"filename": "nope.png", "type": "output"})
    assert missing.status_code == 404
    dotdot = await client.get("/view", params={"filename": "../x.png", "type": "output"})
    assert dotdot.status_code == 400
    escape = {"filename": "example.png", "subfolder": "../input", "type": "output"}
    assert (await client.get("/view", params=escape)).status_code == 403
    bad_type = {"filename": "example.png", "type": "models"}
    assert (await client.get("/view", params=bad_type)).status_code == 400


async def test_upload_name_collision(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    async def upload(content: bytes, **fields: str) -> httpx.Response:
        return await client.post(
            "/upload/image", files={"image": ("a.png", content, "image/png")}, data=fields
        )

    first, other, third = sample_png(color=(1, 2, 3)), sample_png(color=(4, 5, 6)), b"x"
    assert (await upload(first)).json() == {"name": "a.png", "subfolder": "", "type": "input"}
    assert (await upload(first)).json()["name"] == "a.png"  # same bytes: no copy
    assert (await upload(other)).json()["name"] == "a (1).png"
    assert (await upload(third)).json()["name"] == "a (2).png"
    assert (await upload(other, overwrite="true")).json()["name"] == "a.png"
    assert (server.root / "input" / "a.png").read_bytes() == other
    nested = await upload(first, subfolder="refs/x")
    assert nested.json() == {"name": "a.png", "subfolder": "refs/x", "type": "input"}
    assert (await upload(first, subfolder="../../etc")).status_code == 400
    assert (await client.post("/upload/image", data={"type": "input"})).status_code == 400
    names = (await client.get("/object_info/LoadImage")).json()["LoadImage"]
    assert names["input"]["required"]["image"][0] == [
        "a (1).png",
        "a (2).png",
        "a.png",
        "example.png",
    ]


async def test_history_shape(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    ws = await Socket.open(server)
    await ws.recv()
    prompt = load_workflow("trivial_timing")
    body = {"prompt": prompt, "client_id": CLIENT, "prompt_id": "0000-mine"}
    assert (await client.get("/history/0000-mine")).json() == {}
    assert (await client.post("/prompt", json=body)).json()["prompt_id"] == "0000-mine"
    await ws.labels_until(DONE)
    entry = (await client.get("/history/0000-mine")).json()["0000-mine"]
    assert list(entry) == ["prompt", "outputs", "status", "meta"]
    assert entry["prompt"] == [0, "0000-mine", prompt, {"client_id": CLIENT}, ["2"]]
    assert entry["outputs"] == {
        "2": {"images": [{"filename": "t_00001_.png", "subfolder": "timing", "type": "output"}]}
    }
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    assert entry["meta"] == {
        "2": {"node_id": "2", "display_node": "2", "parent_node": None, "real_node_id": "2"}
    }
    assert list((await client.get("/history", params={"max_items": 1})).json()) == ["0000-mine"]
    await ws.close()


async def test_crash_then_restart_forgets_everything(
    server: ComfyTestServer, client: httpx.AsyncClient
) -> None:
    ws = await Socket.open(server)
    await ws.recv()
    first = {"prompt": load_workflow("trivial_timing"), "client_id": CLIENT}
    done = (await client.post("/prompt", json=first)).json()["prompt_id"]
    await ws.labels_until(DONE)
    server.step_delay = 0.05
    slow = load_workflow("image_slow_solid_save")
    running = (await client.post("/prompt", json={"prompt": slow, "client_id": CLIENT})).json()
    assert running["number"] == 1
    await ws.labels_until("executing node=1")
    port = server.port
    await server.crash()
    with pytest.raises(websockets.ConnectionClosedError):
        while True:
            await ws.recv()
    assert ws.conn.close_code == 1006
    await server.restart()
    assert server.port == port
    assert (await client.get(f"/history/{done}")).json() == {}
    assert (await client.get(f"/history/{running['prompt_id']}")).json() == {}
    assert (await client.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    assert (server.root / "output" / "timing" / "t_00001_.png").is_file()  # files survive
    again = await client.post("/prompt", json=first)
    assert again.json()["number"] == 0


async def test_pause_then_delete_keeps_jobs_out_of_history(
    server: ComfyTestServer, client: httpx.AsyncClient
) -> None:
    ws = await Socket.open(server)
    await ws.recv()
    server.pause()
    ids = []
    for seed in (1, 2, 3):
        prompt = load_workflow("trivial_timing")
        prompt["1"]["inputs"]["seed"] = seed
        answer = await client.post("/prompt", json={"prompt": prompt, "client_id": CLIENT})
        ids.append(answer.json()["prompt_id"])
    queue = (await client.get("/queue")).json()
    assert queue["queue_running"] == [] and [q[1] for q in queue["queue_pending"]] == ids
    assert server.queue_ids() == ids
    await client.post("/queue", json={"delete": ids[:2]})
    assert server.queue_ids() == ids[2:]
    server.resume()
    got = await ws.until(DONE)
    started = [json.loads(f)["data"]["prompt_id"] for lbl, f in got if lbl == "execution_start"]
    assert started == [ids[2]]
    assert server.history_ids() == [ids[2]]
    for gone in ids[:2]:
        assert (await client.get(f"/history/{gone}")).json() == {}


async def test_interrupt_running_job(server: ComfyTestServer, client: httpx.AsyncClient) -> None:
    ws = await Socket.open(server)
    await ws.recv()
    server.step_delay = 0.05
    body = {"prompt": load_workflow("image_slow_solid_save"), "client_id": CLIENT}
    pid = (await client.post("/prompt", json=body)).json()["prompt_id"]
    await ws.labels_until("progress 1/5 node=1")
    await client.post("/interrupt", json={"prompt_id": pid})
    got = await ws.until(DONE)
    assert [lbl for lbl, _ in got][-3:] == [
        "execution_interrupted",
        "status queue_remaining=0",
        DONE,
    ]
    data = json.loads(got[-3][1])["data"]
    assert {k: data[k] for k in ("prompt_id", "node_id", "node_type", "executed")} == {
        "prompt_id": pid,
        "node_id": "1",
        "node_type": "SlowSolidImage",
        "executed": [],
    }
    status = (await client.get(f"/history/{pid}")).json()[pid]["status"]
    assert status["status_str"] == "error" and status["messages"][-1][0] == "execution_interrupted"


async def test_fail_node_class_and_bundled_workflows(
    server: ComfyTestServer, client: httpx.AsyncClient
) -> None:
    """The app's own workflows run once their models exist, and fail_node_class fails them."""
    workflows = REPO / "tui" / "backends" / "comfyui" / "default_workflows"
    image = json.loads((workflows / "image.json").read_text())
    ws = await Socket.open(server)
    await ws.recv()
    body = {"prompt": image, "client_id": CLIENT}
    rejected = (await client.post("/prompt", json=body)).json()
    assert rejected["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"
    server.add_model("checkpoints", image["4"]["inputs"]["ckpt_name"])
    image["5"]["inputs"].update(width=96, height=64)
    ok = (await client.post("/prompt", json=body)).json()
    got = await ws.labels_until(DONE)
    assert got.count("<binary event 1>") == image["3"]["inputs"]["steps"]
    saved = (await client.get(f"/history/{ok['prompt_id']}")).json()[ok["prompt_id"]]
    name = saved["outputs"]["9"]["images"][0]
    with Image.open(server.root / "output" / name["subfolder"] / name["filename"]) as img:
        assert img.size == (96, 64)

    server.fail_node_class = "VAEDecode"
    image["3"]["inputs"]["seed"] = 1
    await client.post("/prompt", json=body)
    got = await ws.until(DONE)
    error = next(json.loads(f)["data"] for lbl, f in got if lbl == "execution_error")
    assert error["node_type"] == "VAEDecode" and error["exception_type"] == "RuntimeError"
    assert error["executed"] == ["3"]  # the loaders and encoders were cached
    server.fail_node_class = None

    video = json.loads((workflows / "video.json").read_text())
    for folder, node, key in (
        ("diffusion_models", "37", "unet_name"),
        ("text_encoders", "38", "clip_name"),
        ("vae", "39", "vae_name"),
        ("clip_vision", "49", "clip_name"),
    ):
        server.add_model(folder, video[node]["inputs"][key])
    video["55"]["inputs"].update(width=64, height=48, length=9)
    answer = (await client.post("/prompt", json={"prompt": video, "client_id": CLIENT})).json()
    assert answer["node_errors"] == {}, answer
    await ws.labels_until(DONE)
    entry = (await client.get(f"/history/{answer['prompt_id']}")).json()[answer["prompt_id"]]
    clip = entry["outputs"]["58"]
    assert clip["animated"] == [True] and clip["images"][0]["filename"].endswith(".mp4")
    path = server.root / "output" / clip["images"][0]["subfolder"] / clip["images"][0]["filename"]
    with av.open(str(path)) as mp4:
        stream = mp4.streams.video[0]
        assert (stream.width, stream.height, stream.frames) == (64, 48, 9)
    await ws.close()


def test_command_line_defaults() -> None:
    args = parse_args(["--port", "8199", "--root", "/tmp/comfy", "--step-delay", "0"])
    assert (args.port, args.root, args.step_delay) == (8199, Path("/tmp/comfy"), 0.0)
    assert not args.newer and parse_args(["--newer"]).newer


async def test_object_info_is_the_recorded_core(
    server: ComfyTestServer, client: httpx.AsyncClient
) -> None:
    """A fresh root serves the recorded definitions unchanged; files on disk fill the lists."""
    core = json.loads((REPO / "tests/fixtures/comfyui/object_info.core.json").read_text())
    served = (await client.get("/object_info")).json()
    assert {name: served[name] for name in core} == core
    server.add_model("checkpoints", "sd/v1-5.safetensors")
    (server.root / "input" / "clip.mp4").write_bytes(b"")
    served = (await client.get("/object_info")).json()
    ckpt = served["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    assert ckpt[0] == ["sd/v1-5.safetensors"]
    assert served["LoadVideo"]["input"]["required"]["file"][1]["options"] == ["clip.mp4"]
    assert served["VAELoader"]["input"]["required"]["vae_name"][0] == ["pixel_space"]


# --------------------------------------------------------------------------- newer releases


@pytest.fixture
async def newer(tmp_path: Path) -> AsyncIterator[ComfyTestServer]:
    async with ComfyTestServer(tmp_path / "newer", newer=True) as srv:
        yield srv


async def test_newer_mode_wants_canonical_prompt_ids_and_the_recorded_one_does_not(
    server: ComfyTestServer, newer: ComfyTestServer
) -> None:
    """Issue 12 item 2: the newer generation's 400 `invalid_prompt_id`; 0.3.64 took any id."""
    prompt = load_workflow("trivial_timing")
    for srv, status in ((server, 200), (newer, 400)):
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
            body = {"prompt": prompt, "client_id": CLIENT, "prompt_id": "not-a-uuid"}
            answer = await http.post("/prompt", json=body)
            assert answer.status_code == status, srv.url
    async with httpx.AsyncClient(base_url=newer.url, timeout=10) as http:
        answer = await http.post("/prompt", json=body)
        assert answer.json() == {
            "error": {
                "type": "invalid_prompt_id",
                "message": "Invalid prompt_id format",
                "details": "prompt_id must be a canonical lowercase UUID, got 'not-a-uuid'",
                "extra_info": {},
            },
            "node_errors": {},
        }


async def test_newer_mode_adds_messages_fields_and_the_jobs_api(
    newer: ComfyTestServer, server: ComfyTestServer
) -> None:
    """Issue 12 item 2: assets.* broadcasts, `activity`, output `id`s and /api/jobs."""
    ws = await Socket.open(newer, flags=True)
    await ws.recv()
    await ws.recv()  # feature_flags
    newer.step_delay = 0.01
    key = "5e1f0b5c-1a2b-4c3d-8e9f-0123456789ab"
    async with httpx.AsyncClient(base_url=newer.url, timeout=10) as http:
        body = {
            "prompt": load_workflow("image_slow_solid_save"),
            "client_id": CLIENT,
            "prompt_id": key,
        }
        newer.pause()
        assert (await http.post("/prompt", json=body)).status_code == 200
        pending = (await http.get(f"/api/jobs/{key}")).json()
        assert pending["status"] == "pending" and isinstance(pending["create_time"], int)
        newer.resume()
        got = await ws.until(DONE)
        kinds = [json.loads(f)["type"] for _, f in got if isinstance(f, str)]
        assert "assets.seed.paused" in kinds
        states = [
            node
            for _, f in got
            if isinstance(f, str) and json.loads(f)["type"] == "progress_state"
            for node in json.loads(f)["data"]["nodes"].values()
        ]
        assert any(node.get("activity") == "loading" for node in states)
        [executed] = [
            json.loads(f)["data"] for _, f in got if isinstance(f, str) and '"executed"' in f
        ]
        [image] = executed["output"]["images"]
        assert set(image) == {"filename", "subfolder", "type", "id", "preview_id"}
        history = (await http.get(f"/history/{key}")).json()[key]
        assert history["outputs"]["2"]["images"] == [image]
        done = (await http.get(f"/api/jobs/{key}")).json()
        assert done["status"] == "completed" and done["outputs_count"] == 1
        assert done["execution_end_time"] >= done["execution_start_time"]
        listed = (await http.get("/api/jobs", params={"status": "completed"})).json()
        assert [job["id"] for job in listed["jobs"]] == [key]
        assert listed["pagination"] == {"offset": 0, "limit": None, "total": 1, "has_more": False}
        missing = await http.get("/api/jobs/0e1f0b5c-1a2b-4c3d-8e9f-0123456789ab")
        assert (missing.status_code, missing.json()) == (404, {"error": "Job not found"})
        stats = (await http.get("/system_stats")).json()["system"]
        assert stats["comfyui_version"] == "0.38.1" and "deploy_environment" in stats
    await ws.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/api/jobs")).status_code == 404  # 0.3.64 has no jobs API


async def test_newer_mode_cancels_through_the_jobs_api(newer: ComfyTestServer) -> None:
    newer.pause()
    keys = [str(uuid.uuid4()) for _ in range(2)]
    async with httpx.AsyncClient(base_url=newer.url, timeout=10) as http:
        for key in keys:
            body = {"prompt": load_workflow("trivial_timing"), "prompt_id": key}
            body["prompt"]["1"]["inputs"]["seed"] = keys.index(key)
            assert (await http.post("/prompt", json=body)).status_code == 200
        assert (await http.post(f"/api/jobs/{keys[0]}/cancel")).json() == {"cancelled": True}
        answer = await http.post("/api/jobs/cancel", json={"job_ids": keys})
        assert answer.json() == {"cancelled": [keys[1]]}
    assert newer.queue_ids() == []


async def test_hostile_view_modes_do_what_they_say(
    server: ComfyTestServer, client: httpx.AsyncClient
) -> None:
    """Issue 10 item 5: the stand-in's broken /view answers, checked on the wire."""
    (server.root / "output" / "x.png").write_bytes(sample_png((4, 4), (1, 2, 3)))
    params = {"filename": "x.png", "type": "output"}
    server.view_mode = "huge"
    async with client.stream("GET", "/view", params=params) as response:
        assert response.headers["content-length"] == str(10 * 1024**3)
        assert await anext(response.aiter_raw()) == b"\x89PNG"
    server.view_mode = "endless"
    async with client.stream("GET", "/view", params=params) as response:
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > 4 * 1024 * 1024:
                break
    assert received > 4 * 1024 * 1024
    server.view_mode = "stall"
    with pytest.raises(httpx.ReadTimeout):
        async with client.stream("GET", "/view", params=params, timeout=0.3) as response:
            async for _chunk in response.aiter_raw():
                pass
