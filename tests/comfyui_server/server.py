"""ComfyTestServer: a loopback aiohttp server speaking ComfyUI 0.3.64's HTTP and websocket protocol.

It is the only stand-in for ComfyUI in this project's tests, so it copies the recorded
server (tests/fixtures/comfyui) rather than an idea of it: the same routes and bodies, the
same websocket message order, the same quirks (a crash forgets every job, `number`
restarts at 0, messages for an absent client are dropped). Where the recording and this
file disagree, the recording is right and this file is the bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import heapq
import ipaddress
import json
import logging
import mimetypes
import os
import re
import socket
import struct
import sys
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

from . import media as m
from .engine import ExecutionList, OutputCache, ProgressRegistry, signatures
from .media import Media
from .nodedefs import NodeDefs
from .simulate import (
    NodeCall,
    annotated_path,
    format_value,
    run_node,
    simulated_failure,
)
from .transcript import OBJECT_INFO
from .validation import Validator, full_type_name, is_link

log = logging.getLogger(__name__)

SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
MAXIMUM_HISTORY_SIZE = 10000
ERROR_500 = "500 Internal Server Error\n\nServer got itself in trouble"
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_CONTENT_TYPES = {".webp": "image/webp", ".webm": "video/webm", ".mp4": "video/mp4"}
NEWER_VERSION = "0.38.1"
"""What `newer=True` reports: the upstream release the README's "newer releases" notes
were read from (not recorded; see tests/fixtures/comfyui and /work/shared/comfyui)."""
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VIEW_MODES = ("stall", "trickle", "endless", "huge")
"""Hostile `/view` answers (issue 10): 4 bytes then nothing; a byte every 20 ms forever;
64 KiB chunks forever; a 10 GiB Content-Length, 4 bytes, then nothing."""
HANG_LIMIT = 120.0
"""A hanging answer gives up after this long, so a forgotten test cannot wedge a run."""


@dataclass
class Flood:
    """Extra traffic per sampler step (issue 10 item 7): progress repeats and big previews."""

    progress: int = 0
    """Extra copies of each step's `progress` message."""
    previews: int = 0
    """Extra type 4 preview frames per step, each distinct (a counter after the JPEG magic)."""
    preview_bytes: int = 8 * 1024 * 1024
    """Size of each extra preview's image."""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QueueItem = tuple[Any, str, dict[str, Any], dict[str, Any], list[str], dict[str, Any]]


class InterruptProcessing(Exception):
    """Raised at the next interrupt check after POST /interrupt, as ComfyUI does."""


class _NodeFailed(Exception):
    def __init__(self, node_id: str, details: dict[str, Any], cause: BaseException) -> None:
        super().__init__(node_id)
        self.node_id = node_id
        self.details = details
        self.cause = cause


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    loopback = False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            for *_rest, sockaddr in socket.getaddrinfo(host, None, family, socket.SOCK_STREAM):
                if not ipaddress.ip_address(sockaddr[0]).is_loopback:
                    return loopback
                loopback = True
        except socket.gaierror:
            pass
    return loopback


def _error_500() -> web.Response:
    return web.Response(status=500, text=ERROR_500)


class _Job:
    """One prompt while it runs: what the worker needs between nodes."""

    def __init__(self, item: QueueItem, sigs: dict[str, str]) -> None:
        self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs, _ = item
        self.sigs = sigs
        self.executed: list[str] = []
        self.progress: ProgressRegistry | None = None
        self.node_id: str | None = None


class ComfyTestServer:
    """A real HTTP + websocket ComfyUI look-alike on 127.0.0.1 for tests.

    Usage::

        async with ComfyTestServer(tmp_path) as server:
            httpx.post(f"{server.url}/prompt", json={...})

    Knobs a test may set at any time: `step_delay` (seconds per sampler step, and per
    node without steps), `steps` (steps for samplers whose step count is not an input),
    `fail_node_class` (nodes of that class raise -> execution_error), `sampler_previews`.
    """

    def __init__(
        self,
        root: Path,
        *,
        step_delay: float = 0.0,
        object_info_path: Path | None = None,
        models: Mapping[str, Iterable[str]] | None = None,
        host: str = "127.0.0.1",
        newer: bool = False,
    ) -> None:
        self.root = Path(root)
        self.step_delay = step_delay
        self.steps = 4
        self.fail_node_class: str | None = None
        self.sampler_previews = True
        self.newer = newer
        """Speak like a newer upstream release (0.38.x) instead of the recorded 0.3.64:
        canonical-uuid prompt ids, `assets.*` broadcasts, `activity` in progress_state,
        `id`/`preview_id` on outputs, the /api/jobs API and a few extra fields."""
        self.view_mode: str | None = None
        """One of VIEW_MODES: how `/view` misbehaves for outputs (previews are untouched)."""
        self.stall_history = False
        """`GET /history/{id}` never answers."""
        self.stall_queue = False
        """`GET /queue` never answers."""
        self.mute_socket = False
        """The websocket stays open (pings answered) but no message reaches any client."""
        self.flood: Flood | None = None
        self.last_preview: dict[str, bytes] = {}
        """Prompt id → the image of the last preview frame sent for it."""
        self.previews_sent = 0
        self.requests: list[tuple[str, str]] = []
        self.host = host
        self._defs = NodeDefs.load(object_info_path or OBJECT_INFO)
        self._models = {k: list(v) for k, v in (models or {}).items()}
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._paused = False
        self._fresh_state()

    # ----------------------------------------------------------------- lifecycle

    def _fresh_state(self) -> None:
        """Everything a ComfyUI process holds in memory and loses when it dies."""
        self._number = 0
        self._queue: list[QueueItem] = []
        self._running: dict[int, QueueItem] = {}
        self._task_counter = 0
        self._history: dict[str, dict[str, Any]] = {}
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._socket_meta: dict[str, dict[str, Any]] = {}
        self._client_id: str | None = None
        self._last_node_id: str | None = None
        self._interrupted = False
        self._job_times: dict[str, dict[str, int | None]] = {}
        """Newer servers' /api/jobs timestamps (ms) per prompt id."""
        self._cache = OutputCache()
        self._messages: asyncio.Queue[tuple[str, str | bytes, str | None]] | None = None
        self._wake: asyncio.Event | None = None
        self._job: _Job | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self._site is not None

    async def start(self, port: int | None = None) -> None:
        """Listen on 127.0.0.1 (port 0: any free port; a restart reuses the last one)."""
        if self._site is not None:
            raise RuntimeError("server already running")
        for sub in ("input", "output", "temp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        example = self.root / "input" / "example.png"
        if not example.exists():
            example.write_bytes(m.sample_png())
        for folder, names in self._models.items():
            for name in names:
                self.add_model(folder, name)
        self._fresh_state()
        self._messages = asyncio.Queue()
        self._wake = asyncio.Event()
        if port is None:
            port = self._port if self._port is not None else 0
        app = self._build_app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await self._site.start()
        server = self._site._server  # the real port when asked for 0
        assert server is not None and server.sockets
        self._port = int(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._worker(), name="comfy-test-worker"),
            loop.create_task(self._publisher(), name="comfy-test-publisher"),
        ]

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _close_listener(self) -> None:
        if self._site is not None:
            await self._site.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self._site = None
        self._runner = None

    async def stop(self) -> None:
        """Clean shutdown: close frames to every socket, then stop listening."""
        await self._cancel_tasks()
        for ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), 2.0)
        await self._close_listener()
        self._fresh_state()

    async def crash(self) -> None:
        """Die like a killed process: sockets cut without close frames (clients see 1006),
        nothing listening, every job, the history and the cache forgotten. Files stay."""
        await self._cancel_tasks()
        if self._runner is not None and self._runner.server is not None:
            for conn in self._runner.server.connections:
                if conn.transport is not None:
                    conn.transport.abort()
        await self._close_listener()
        self._fresh_state()

    async def restart(self) -> None:
        """Start again on the same port after crash() or stop(); `number` restarts at 0."""
        if self._site is not None:
            await self.crash()
        await self.start(self._port)

    async def __aenter__(self) -> ComfyTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._site is not None:
            await self.stop()

    def pause(self) -> None:
        """Hold the queue: the running job finishes, the next one waits for resume()."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self._wake is not None:
            self._wake.set()

    # ----------------------------------------------------------------- test helpers

    def add_model(self, folder: str, name: str) -> Path:
        """Create an (empty) model file so loader COMBOs accept `name`, as on a real install."""
        path = self.root / "models" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return path

    def history_ids(self) -> list[str]:
        return list(self._history)

    def queue_ids(self) -> list[str]:
        """Running then pending prompt ids."""
        running = [item[1] for item in self._running.values()]
        return running + [item[1] for item in sorted(self._queue, key=lambda i: i[0])]

    def node_defs(self) -> NodeDefs:
        """The node definitions as `/object_info` serves them now."""
        return self._defs.live(self.root)

    # ----------------------------------------------------------------- messaging

    def _send(self, event: str, data: Any, sid: str | None) -> None:
        """ComfyUI's send_sync: queue for the publisher; sid None means every socket."""
        if self._messages is not None:
            self._messages.put_nowait(("text", json.dumps({"type": event, "data": data}), sid))

    def _send_bytes(self, payload: bytes, sid: str | None) -> None:
        if self._messages is not None:
            self._messages.put_nowait(("bytes", payload, sid))

    async def _publisher(self) -> None:
        assert self._messages is not None
        while True:
            kind, payload, sid = await self._messages.get()
            if self.mute_socket:
                continue
            if sid is None:
                targets = list(self._sockets.values())
            else:
                ws = self._sockets.get(sid)
                targets = [ws] if ws is not None else []
            for ws in targets:
                try:
                    if kind == "text":
                        await ws.send_str(str(payload))
                    else:
                        await ws.send_bytes(bytes(payload))  # type: ignore[arg-type]
                except Exception as ex:  # a dead socket must not stop the loop
                    log.debug("send error: %s", ex)

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self._queue) + len(self._running)}}

    def _queue_updated(self) -> None:
        self._send("status", {"status": self._queue_info()}, None)

    def _supports_metadata(self, sid: str | None) -> bool:
        if sid is None or sid not in self._socket_meta:
            return False
        flags = self._socket_meta[sid].get("feature_flags", {})
        return isinstance(flags, dict) and flags.get("supports_preview_metadata", False) is True

    # ----------------------------------------------------------------- app

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=SERVER_FEATURES["max_upload_size"],
            middlewares=[self._record_mw, self._origin_mw],
        )
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/ws", self._ws),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/features", self._features),
            ("GET", "/prompt", self._get_prompt),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("POST", "/interrupt", self._post_interrupt),
            ("POST", "/free", self._post_free),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_item),
            ("POST", "/history", self._post_history),
            ("GET", "/object_info", self._object_info),
            ("GET", "/object_info/{node_class}", self._object_info_node),
            ("POST", "/upload/image", self._upload_image),
            ("GET", "/view", self._view),
            ("GET", "/embeddings", self._empty_list),
            ("GET", "/extensions", self._empty_list),
            ("GET", "/models", self._models_list),
            ("GET", "/models/{folder}", self._models_folder),
            ("GET", "/jobs", self._jobs_list),
            ("GET", "/jobs/{job_id}", self._job_item),
            ("POST", "/jobs/{job_id}/cancel", self._job_cancel),
            ("POST", "/jobs/cancel", self._jobs_cancel),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, "/api" + path, handler)
        return app

    @web.middleware
    async def _record_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        return await handler(request)

    @web.middleware
    async def _origin_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """ComfyUI's origin_only_middleware: a loopback Host with another Origin gets 403."""
        if "Host" in request.headers and "Origin" in request.headers:
            host_domain: str | None = request.headers["Host"].lower()
            parsed = urllib.parse.urlparse(request.headers["Origin"])
            origin_domain: str | None = parsed.netloc.lower()
            host_parsed = urllib.parse.urlsplit("//" + (host_domain or ""))
            loopback = _is_loopback(host_parsed.hostname)
            if parsed.port is None:
                host_domain = host_parsed.hostname
            if host_parsed.port is None:
                origin_domain = parsed.hostname
            if loopback and host_domain and origin_domain and host_domain != origin_domain:
                return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response()
        return await handler(request)

    # ----------------------------------------------------------------- websocket

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        sid = request.query.get("clientId", "")
        if sid:
            self._sockets.pop(sid, None)  # reusing a session: the old socket is dropped
        else:
            sid = uuid.uuid4().hex
        self._sockets[sid] = ws
        self._socket_meta[sid] = {"feature_flags": {}}
        try:
            await ws.send_str(
                json.dumps({"type": "status", "data": {"status": self._queue_info(), "sid": sid}})
            )
            if self._client_id == sid and self._last_node_id is not None:
                await ws.send_str(
                    json.dumps({"type": "executing", "data": {"node": self._last_node_id}})
                )
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if first_message and data.get("type") == "feature_flags":
                        self._socket_meta[sid]["feature_flags"] = data.get("data", {})
                        await ws.send_str(
                            json.dumps({"type": "feature_flags", "data": SERVER_FEATURES})
                        )
                    first_message = False
                except Exception as ex:  # ComfyUI logs and carries on
                    log.debug("bad websocket message from %s: %s", sid, ex)
        finally:
            # As in ComfyUI: this pops the sid even if a newer socket took it over.
            self._sockets.pop(sid, None)
            self._socket_meta.pop(sid, None)
        return ws

    # ----------------------------------------------------------------- simple routes

    async def _system_stats(self, request: web.Request) -> web.Response:
        ram = 25276510208
        system: dict[str, Any] = {
            "os": os.name,
            "ram_total": ram,
            "ram_free": ram - 884760576,
            "comfyui_version": "0.3.64",
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.95",
            "required_templates_version": "0.1.95",
            "python_version": sys.version,
            "pytorch_version": "2.13.0+cpu",
            "embedded_python": False,
            "argv": ["main.py", "--cpu", "--listen", self.host, "--port", str(self.port)],
        }
        if self.newer:
            system["comfyui_version"] = NEWER_VERSION
            system["comfy_package_versions"] = {"comfyui-frontend-package": "1.30.6"}
            system["deploy_environment"] = "local"
        return web.json_response(
            {
                "system": system,
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": ram,
                        "vram_free": ram - 884760576,
                        "torch_vram_total": ram,
                        "torch_vram_free": ram - 884760576,
                    }
                ],
            }
        )

    async def _features(self, request: web.Request) -> web.Response:
        return web.json_response(SERVER_FEATURES)

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    async def _empty_list(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def _models_list(self, request: web.Request) -> web.Response:
        folders = sorted({f for names in _model_folder_names() for f in names})
        return web.json_response(folders)

    async def _models_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        base = self.root / "models" / folder
        if folder not in {f for names in _model_folder_names() for f in names}:
            return web.Response(status=404)
        files = (
            sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
            if base.is_dir()
            else []
        )
        return web.json_response(files)

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.node_defs().data)

    async def _object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        defs = self.node_defs()
        return web.json_response({name: defs.get(name)} if name in defs else {})

    async def _post_free(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    # ----------------------------------------------------------------- queue routes

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except Exception:  # the real server answers a bad body with a 500
            return _error_500()
        try:
            return self._queue_prompt(json_data)
        except Exception:  # e.g. a prompt that is a list
            log.debug("POST /prompt raised", exc_info=True)
            return _error_500()

    def _queue_prompt(self, json_data: Any) -> web.Response:
        if "number" in json_data:
            number: Any = float(json_data["number"])
        else:
            number = self._number
            if "front" in json_data and json_data["front"]:
                number = -number
            self._number += 1

        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)

        prompt = json_data["prompt"]
        prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        if self.newer and not _CANONICAL_UUID.fullmatch(prompt_id):
            error = {
                "type": "invalid_prompt_id",
                "message": "Invalid prompt_id format",
                "details": f"prompt_id must be a canonical lowercase UUID, got {prompt_id!r}",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        partial = json_data.get("partial_execution_targets")
        validator = Validator(self.node_defs(), self._custom_checks())
        valid, error, outputs, node_errors = validator.validate_prompt(prompt, partial)
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if not valid:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        if self.newer:
            extra_data["create_time"] = int(time.time() * 1000)
            self._job_times[prompt_id] = {"start": None, "end": None}
        heapq.heappush(self._queue, (number, prompt_id, prompt, extra_data, outputs, sensitive))
        self._queue_updated()
        if self._wake is not None:
            self._wake.set()
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        )

    def _custom_checks(self) -> dict[str, dict[str, Callable[[Any], bool | str]]]:
        """The VALIDATE_INPUTS of core nodes that read files."""
        root = self.root

        def image(name: Any) -> bool | str:
            ok = isinstance(name, str) and annotated_path(root, name).is_file()
            return True if ok else f"Invalid image file: {name}"

        def video(name: Any) -> bool | str:
            ok = isinstance(name, str) and annotated_path(root, name).is_file()
            return True if ok else f"Invalid video file: {name}"

        return {"LoadImage": {"image": image}, "LoadVideo": {"file": video}}

    async def _hang(self, request: web.Request) -> web.Response:
        """Answer nothing until the client goes away (or HANG_LIMIT): a stalled server."""
        deadline = time.monotonic() + HANG_LIMIT
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            await asyncio.sleep(0.02)
        return web.Response(status=503)

    async def _get_queue(self, request: web.Request) -> web.Response:
        if self.stall_queue:
            return await self._hang(request)
        return web.json_response(
            {
                "queue_running": [list(item[:5]) for item in self._running.values()],
                "queue_pending": [list(item[:5]) for item in self._queue],
            }
        )

    async def _post_queue(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if "clear" in json_data and json_data["clear"]:
            self._queue = []
            self._queue_updated()
        if "delete" in json_data:
            for id_to_delete in json_data["delete"]:
                for i, item in enumerate(self._queue):
                    if item[1] != id_to_delete:
                        continue
                    if len(self._queue) == 1:
                        self._queue = []
                        self._queue_updated()  # ComfyUI's wipe_queue, then once more below
                    else:
                        self._queue.pop(i)
                        heapq.heapify(self._queue)
                    self._queue_updated()
                    break
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        if prompt_id:
            if any(item[1] == prompt_id for item in self._running.values()):
                self._interrupted = True
        else:
            self._interrupted = True
        return web.Response(status=200)

    async def _get_history(self, request: web.Request) -> web.Response:
        max_items_q = request.query.get("max_items")
        max_items = int(max_items_q) if max_items_q is not None else None
        offset_q = request.query.get("offset")
        offset = int(offset_q) if offset_q is not None else -1
        if offset < 0 and max_items is not None:
            offset = len(self._history) - max_items
        out: dict[str, Any] = {}
        for i, (key, value) in enumerate(self._history.items()):
            if i >= offset:
                out[key] = value
                if max_items is not None and len(out) >= max_items:
                    break
        return web.json_response(out)

    async def _get_history_item(self, request: web.Request) -> web.Response:
        if self.stall_history:
            return await self._hang(request)
        prompt_id = request.match_info["prompt_id"]
        if prompt_id in self._history:
            return web.json_response({prompt_id: self._history[prompt_id]})
        return web.json_response({})

    async def _post_history(self, request: web.Request) -> web.Response:
        json_data = await request.json()
        if "clear" in json_data and json_data["clear"]:
            self._history = {}
        for id_to_delete in json_data.get("delete", []):
            self._history.pop(id_to_delete, None)
        return web.Response(status=200)

    # ----------------------------------------------------------------- /api/jobs (newer)

    def _job_entry(self, prompt_id: str) -> dict[str, Any] | None:
        """One job as newer releases' /api/jobs describe it, or None if unknown."""
        times = self._job_times.get(prompt_id, {})
        item: Any = next((i for i in self._running.values() if i[1] == prompt_id), None)
        status = "in_progress" if item is not None else None
        if item is None:
            item = next((i for i in self._queue if i[1] == prompt_id), None)
            status = "pending" if item is not None else None
        error: Any = None
        outputs: dict[str, Any] = {}
        if item is None:
            entry = self._history.get(prompt_id)
            if entry is None:
                return None
            item = entry["prompt"]
            outputs = entry.get("outputs", {})
            kinds = {message[0]: message[1] for message in entry["status"]["messages"]}
            if entry["status"]["status_str"] == "success":
                status = "completed"
            elif "execution_interrupted" in kinds:
                status = "cancelled"
            else:
                status = "failed"
                error = kinds.get("execution_error")
        files = [f for output in outputs.values() for f in output.get("images", [])]
        return {
            "id": prompt_id,
            "status": status,
            "priority": item[0],
            "create_time": item[3].get("create_time"),
            "execution_start_time": times.get("start"),
            "execution_end_time": times.get("end"),
            "execution_error": error,
            "outputs_count": len(files),
            "preview_output": files[0] if files else None,
            "workflow_id": None,
        }

    async def _jobs_list(self, request: web.Request) -> web.Response:
        if not self.newer:
            return web.Response(status=404)
        query = request.query
        wanted = set(query.get("status", "").split(",")) - {""}
        ids = [i[1] for i in self._running.values()] + [i[1] for i in self._queue]
        ids += [key for key in self._history if key not in ids]
        found = [job for job in map(self._job_entry, ids) if job is not None]
        found = [job for job in found if not wanted or job["status"] in wanted]
        found.sort(
            key=lambda job: job["create_time"] or 0, reverse=query.get("sort_order") != "asc"
        )
        offset = int(query.get("offset", 0))
        limit = int(query["limit"]) if query.get("limit") else None
        page = found[offset : None if limit is None else offset + limit]
        more = offset + len(page) < len(found)
        pagination = {"offset": offset, "limit": limit, "total": len(found), "has_more": more}
        return web.json_response({"jobs": page, "pagination": pagination})

    async def _job_item(self, request: web.Request) -> web.Response:
        job = self._job_entry(request.match_info["job_id"]) if self.newer else None
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    def _cancel_job(self, prompt_id: str) -> bool:
        if any(item[1] == prompt_id for item in self._running.values()):
            self._interrupted = True
            return True
        kept = [item for item in self._queue if item[1] != prompt_id]
        if len(kept) == len(self._queue):
            return False
        self._queue = kept
        heapq.heapify(self._queue)
        self._queue_updated()
        return True

    async def _job_cancel(self, request: web.Request) -> web.Response:
        if not self.newer:
            return web.Response(status=404)
        return web.json_response({"cancelled": self._cancel_job(request.match_info["job_id"])})

    async def _jobs_cancel(self, request: web.Request) -> web.Response:
        if not self.newer:
            return web.Response(status=404)
        body = await request.json()
        ids = body.get("job_ids", []) if isinstance(body, dict) else []
        return web.json_response({"cancelled": [i for i in ids if self._cancel_job(str(i))]})

    # ----------------------------------------------------------------- files

    def _dir_of(self, kind: str | None) -> Path | None:
        """ComfyUI's get_directory_by_type."""
        return self.root / kind if kind in ("input", "output", "temp") else None

    async def _upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        overwrite = post.get("overwrite")
        upload_type = post.get("type")
        kind = "input" if upload_type is None else str(upload_type)
        base = self._dir_of(kind)
        if base is None:
            return _error_500()
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        filename = image.filename
        subfolder = str(post.get("subfolder", ""))
        upload_dir = os.path.abspath(base)
        full_folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        filepath = os.path.abspath(os.path.join(full_folder, filename))
        if os.path.commonpath((upload_dir, filepath)) != upload_dir:
            return web.Response(status=400)
        os.makedirs(full_folder, exist_ok=True)
        content = image.file.read()
        duplicate = False
        if overwrite not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            i = 1
            while os.path.exists(filepath):
                existing = Path(filepath).read_bytes()
                if hashlib.sha256(existing).digest() == hashlib.sha256(content).digest():
                    duplicate = True
                    break
                filename = f"{stem} ({i}){ext}"
                filepath = os.path.join(full_folder, filename)
                i += 1
        if not duplicate:
            Path(filepath).write_bytes(content)
        answer: dict[str, Any] = {"name": filename, "subfolder": subfolder, "type": kind}
        if self.newer:
            answer["asset"] = {
                "id": str(uuid.uuid4()),
                "name": filename,
                "asset_hash": "blake3:" + hashlib.sha256(content).hexdigest(),
                "size": len(content),
                "mime_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
                "tags": ["input"],
            }
        return web.json_response(answer)

    async def _view(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        output_dir: Path | None = None
        for suffix, folder in ((" [output]", "output"), (" [input]", "input"), (" [temp]", "temp")):
            if filename.endswith(suffix):
                filename, output_dir = filename[: -len(suffix)], self.root / folder
                break
        if not filename:
            return _error_500()
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if output_dir is None:
            output_dir = self._dir_of(query.get("type", "output"))
        if output_dir is None:
            return web.Response(status=400)
        base = os.path.abspath(output_dir)
        if "subfolder" in query:
            full = os.path.join(base, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full), base)) != base:
                return web.Response(status=403)
            base = full
        filename = os.path.basename(filename)
        file = os.path.join(base, filename)
        if not os.path.isfile(file):
            return web.Response(status=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        if self.newer:
            disposition["X-Content-Type-Options"] = "nosniff"
        if "preview" in query:
            return await asyncio.to_thread(self._preview_response, file, query, disposition)
        if self.view_mode is not None:
            return await self._hostile_view(request)
        ext = os.path.splitext(filename)[1].lower()
        content_type = (
            _CONTENT_TYPES.get(ext)
            or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )
        if content_type in {"text/html", "application/xhtml+xml", "text/javascript", "text/css"}:
            content_type = "application/octet-stream"
        return web.FileResponse(file, headers={**disposition, "Content-Type": content_type})

    async def _hostile_view(self, request: web.Request) -> web.StreamResponse:
        """`/view` as a broken or hostile server sends it; see VIEW_MODES."""
        mode = self.view_mode
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        if mode == "huge":
            response.content_length = 10 * 1024**3
        await response.prepare(request)
        deadline = time.monotonic() + HANG_LIMIT
        try:
            if mode in ("stall", "huge"):
                await response.write(b"\x89PNG")
                await self._hang(request)
            elif mode == "trickle":
                await response.write(b"\x89PNG")
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                    await response.write(b"\x00")
            elif mode == "endless":
                chunk = b"\x89PNG" + bytes(64 * 1024 - 4)
                while time.monotonic() < deadline:
                    await response.write(chunk)
        except (ConnectionError, RuntimeError):  # the client went away
            pass
        return response

    @staticmethod
    def _preview_response(
        file: str, query: Mapping[str, str], headers: dict[str, str]
    ) -> web.Response:
        info = query["preview"].split(";")
        fmt = (
            info[0]
            if info[0] in ("webp", "jpeg") and "a" not in query.get("channel", "")
            else "webp"
        )
        quality = int(info[-1]) if info[-1].isdigit() else 90
        with Image.open(file) as img:
            out = img.convert("RGB") if fmt == "jpeg" or query.get("channel") == "rgb" else img
            buf = BytesIO()
            out.save(buf, format=fmt, quality=quality)
        return web.Response(body=buf.getvalue(), content_type=f"image/{fmt}", headers=headers)

    # ----------------------------------------------------------------- execution

    async def _worker(self) -> None:
        """ComfyUI's prompt_worker: one job at a time, lowest number first."""
        assert self._wake is not None
        while True:
            if self._paused or not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = heapq.heappop(self._queue)
            task_id = self._task_counter
            self._task_counter += 1
            self._running[task_id] = copy.deepcopy(item)
            self._queue_updated()
            try:
                success, messages, result = await self._execute(item)
            except Exception:  # a stand-in bug must not wedge the queue
                log.exception("test server failed to run %s", item[1])
                success, messages, result = False, [], {"outputs": {}, "meta": {}}
            prompt = self._running.pop(task_id)
            if self.newer:
                self._job_times.setdefault(item[1], {})["end"] = int(time.time() * 1000)
            if len(self._history) > MAXIMUM_HISTORY_SIZE:
                self._history.pop(next(iter(self._history)))
            self._history[prompt[1]] = {
                "prompt": list(prompt[:5]),
                "outputs": {},
                "status": {
                    "status_str": "success" if success else "error",
                    "completed": success,
                    "messages": messages,
                },
                **result,
            }
            self._queue_updated()
            if self._client_id is not None:
                self._send("executing", {"node": None, "prompt_id": item[1]}, self._client_id)

    def _is_changed(self, prompt: dict[str, Any]) -> Callable[[str], Any]:
        """IS_CHANGED: loaders of input files change when the file does."""

        def is_changed(node_id: str) -> Any:
            node = prompt[node_id]
            key = {"LoadImage": "image", "LoadVideo": "file"}.get(node.get("class_type", ""))
            if key is None:
                return ""
            path = annotated_path(self.root, str(node.get("inputs", {}).get(key, "")))
            try:
                return hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return "missing"

        return is_changed

    async def _execute(self, item: QueueItem) -> tuple[bool, list[list[Any]], dict[str, Any]]:
        """Run one prompt; returns (success, status messages, {"outputs", "meta"})."""
        _number, prompt_id, prompt, extra_data, outputs_to_execute, _sensitive = item
        self._interrupted = False
        self._client_id = extra_data.get("client_id")
        messages: list[list[Any]] = []

        def add_message(event: str, data: dict[str, Any], broadcast: bool) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            if self._client_id is not None or broadcast:
                self._send(event, data, self._client_id)

        add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)
        if self.newer:  # the asset seeder pauses while a prompt runs; a broadcast
            self._send("assets.seed.paused", {"reason": "prompt_running"}, None)
            self._job_times.setdefault(prompt_id, {})["start"] = int(time.time() * 1000)
        sigs = signatures(prompt, self._is_changed(prompt))
        job = _Job(item, sigs)
        job.progress = ProgressRegistry(
            prompt_id,
            lambda event, data: self._send(event, data, self._client_id),
            activity=self.newer,
        )
        self._job = job
        self._cache.keep_only(set(sigs.values()))
        cached = [n for n in prompt if sigs[n] in self._cache.outputs]
        add_message("execution_cached", {"nodes": cached, "prompt_id": prompt_id}, broadcast=False)
        current_outputs = list(prompt)
        plan = ExecutionList(prompt, self._defs, lambda n: sigs.get(n) in self._cache.outputs)
        for node_id in outputs_to_execute:
            plan.add_node(node_id)
        success = True
        try:
            while not plan.is_empty():
                node_id = plan.stage()
                await self._execute_node(job, node_id)
                plan.complete(node_id)
            add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)
        except _NodeFailed as failure:
            success = False
            base = {
                "prompt_id": prompt_id,
                "node_id": failure.node_id,
                "node_type": prompt[failure.node_id]["class_type"],
                "executed": list(job.executed),
            }
            if isinstance(failure.cause, InterruptProcessing):
                add_message("execution_interrupted", base, broadcast=True)
            else:
                details = {**failure.details, "current_outputs": current_outputs}
                add_message("execution_error", {**base, **details}, broadcast=False)
        finally:
            self._last_node_id = None
            self._job = None
        ui_outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for node_id in prompt:
            ui = self._cache.ui.get(sigs[node_id])
            if ui is not None:
                ui_outputs[node_id] = ui["output"]
                meta[node_id] = ui["meta"]
        return success, messages, {"outputs": ui_outputs, "meta": meta}

    async def _execute_node(self, job: _Job, node_id: str) -> None:
        assert job.progress is not None
        node = job.prompt[node_id]
        class_type = node["class_type"]
        sig = job.sigs[node_id]
        if sig in self._cache.outputs:
            if self._client_id is not None:
                ui = self._cache.ui.get(sig) or {}
                self._send(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": ui.get("output"),
                        "prompt_id": job.prompt_id,
                    },
                    self._client_id,
                )
            job.progress.finish(node_id)
            return

        job.progress.start(node_id)
        job.node_id = node_id
        if self._client_id is not None:
            self._last_node_id = node_id
            self._send(
                "executing",
                {"node": node_id, "display_node": node_id, "prompt_id": job.prompt_id},
                self._client_id,
            )
        inputs = node.get("inputs", {})
        values = {
            name: self._upstream(job, value) if is_link(value) else value
            for name, value in inputs.items()
        }
        call = NodeCall(
            node_id=node_id,
            class_type=class_type,
            inputs=inputs,
            values=values,
            signature=sig,
            prompt=job.prompt,
            extra_data=job.extra_data,
            defs=self._defs,
            root=self.root,
        )
        try:
            self._check_interrupt()
            if self.fail_node_class is not None and class_type == self.fail_node_class:
                raise simulated_failure(class_type)
            outputs, ui = await run_node(call, self)
        except InterruptProcessing as ex:
            raise _NodeFailed(node_id, {}, ex) from ex
        except Exception as ex:  # any node error becomes execution_error
            log.debug("node %s (%s) failed", node_id, class_type, exc_info=True)
            raise _NodeFailed(node_id, self._error_details(call, ex), ex) from ex
        self._cache.outputs[sig] = outputs
        if ui and self.newer:  # the asset manager gives each output file an id
            ui = {
                key: [
                    {**item, "id": str(uuid.uuid4()), "preview_id": None}
                    if isinstance(item, dict)
                    else item
                    for item in items
                ]
                if key == "images" and isinstance(items, list)
                else items
                for key, items in ui.items()
            }
        if ui:
            self._cache.ui[sig] = {
                "output": ui,
                "meta": {
                    "node_id": node_id,
                    "display_node": node_id,
                    "parent_node": None,
                    "real_node_id": node_id,
                },
            }
            if self._client_id is not None:
                self._send(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": ui,
                        "prompt_id": job.prompt_id,
                    },
                    self._client_id,
                )
        job.progress.finish(node_id)
        job.executed.append(node_id)

    def _upstream(self, job: _Job, link: list[Any]) -> Any:
        outputs = self._cache.outputs.get(job.sigs.get(link[0], ""), [])
        index = int(link[1])
        return outputs[index] if 0 <= index < len(outputs) else None

    def _error_details(self, call: NodeCall, ex: Exception) -> dict[str, Any]:
        current_inputs: dict[str, Any] = {}
        for name, value in call.inputs.items():
            _type, category, _extra = self._defs.input_info(call.class_type, name)
            if is_link(value):
                current_inputs[name] = [format_value(call.values.get(name))]
            elif category is not None:
                current_inputs[name] = [format_value(value)]
        for name, kind in self._defs.inputs(call.class_type, "hidden").items():
            if kind == "PROMPT":
                current_inputs[name] = [format_value(call.prompt)]
            elif kind == "EXTRA_PNGINFO":
                current_inputs[name] = [format_value(call.extra_data.get("extra_pnginfo"))]
            elif kind == "UNIQUE_ID":
                current_inputs[name] = [call.node_id]
        frames = getattr(ex, "comfy_frames", None) or getattr(
            simulated_failure(call.class_type), "comfy_frames", []
        )
        return {
            "exception_message": f"{ex}\n",
            "exception_type": full_type_name(type(ex)),
            "traceback": list(frames),
            "current_inputs": current_inputs,
        }

    # ----------------------------------------------------------------- simulate.Host

    def _check_interrupt(self) -> None:
        if self._interrupted:
            raise InterruptProcessing("Processing interrupted")

    async def work(self) -> None:
        await asyncio.sleep(self.step_delay)

    async def progress(self, value: int, total: int, preview: Media | None) -> None:
        """The sampler progress hook: interrupt check, progress_state, progress, preview."""
        self._check_interrupt()
        job = self._job
        if job is None or job.progress is None or job.node_id is None:
            return
        node_id = job.node_id
        sid = self._client_id
        job.progress.update(node_id, value, total)
        image = m.preview_jpeg(preview) if preview is not None else None
        if image is not None and self._supports_metadata(sid):
            metadata = json.dumps(
                {
                    "node_id": node_id,
                    "prompt_id": job.prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                    "image_type": "image/jpeg",
                }
            ).encode()
            self._send_bytes(
                struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(metadata)) + metadata + image,
                sid,
            )
        self._send(
            "progress",
            {"value": value, "max": total, "prompt_id": job.prompt_id, "node": node_id},
            sid,
        )
        if image is not None and not self._supports_metadata(sid):
            self._send_bytes(struct.pack(">II", PREVIEW_IMAGE, 1) + image, sid)
        if image is not None:
            self.last_preview[job.prompt_id] = image
            self.previews_sent += 1
        if self.flood is not None:
            self._flood(self.flood, job.prompt_id, node_id, value, total, sid)

    def _flood(
        self, flood: Flood, prompt_id: str, node_id: str, value: int, total: int, sid: str | None
    ) -> None:
        """Issue 10 item 7's hostile server: the step's messages again and again."""
        for _ in range(flood.progress):
            data = {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id}
            self._send("progress", data, sid)
        metadata = json.dumps(
            {"node_id": node_id, "prompt_id": prompt_id, "image_type": "image/jpeg"}
        ).encode()
        for _ in range(flood.previews):
            self.previews_sent += 1
            counter = self.previews_sent.to_bytes(8, "big")
            image = b"\xff\xd8\xff\xe0" + counter + bytes(max(0, flood.preview_bytes - 12))
            header = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(metadata))
            self._send_bytes(header + metadata + image, sid)
            self.last_preview[prompt_id] = image


def _model_folder_names() -> list[tuple[str, ...]]:
    from .nodedefs import MODEL_FOLDERS

    return list(MODEL_FOLDERS.values())


__all__ = ["ComfyTestServer", "InterruptProcessing"]
