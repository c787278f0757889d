"""One ComfyUI server over the network: REST through httpx, events through a websocket.

The client only speaks the protocol; deciding what a reply means for a job is
the backend's business. Its errors come in two kinds, because the engine treats
them differently: `Unreachable` (try again later, maybe elsewhere) and `Refused`
(the server answered and said no).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from tui.backends.comfyui.protocol import FEATURE_FLAGS, clean, describe_rejection, queue_ids
from tui.config import ServerConfig

WS_MAX_SIZE = 32 * 1024 * 1024
"""The largest websocket frame we read at all; a bigger one ends the connection (code 1009).

Previews of large frames exceed websockets' 1 MiB default; the backend drops any
preview over `PREVIEW_LIMIT` (16 MiB) with a log line, so this is only the hard stop.
"""
WS_MAX_QUEUE = 4
"""Frames websockets buffers before it stops reading the socket, so a server that floods
us is slowed by TCP instead of filling our memory (at most about 4 x WS_MAX_SIZE)."""
WS_PING = 20.0
"""Keepalive: a socket whose pong does not come within this many seconds is closed."""
MAX_DOWNLOAD = 2 * 1024**3
"""Default cap on one downloaded output (`max_download_bytes`)."""
DOWNLOAD_DEADLINE = 600.0
"""Default time one download may take in all (`download_deadline`), on top of the
per-read `timeout`, so a server that trickles a byte at a time cannot hold a job forever."""
_FLUSH = 1024 * 1024
"""Bytes gathered before a chunk of a streamed download is written out (in a thread)."""
_GATEWAY = frozenset({502, 503, 504})
"""A proxy in front of a server that is (re)starting: try again later."""


class ClientError(Exception):
    """Anything that went wrong talking to a server; the message is one readable line."""


class Unreachable(ClientError):
    """No answer (refused, timed out, a proxy's 502): the server may come back."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent
        """The request may have reached the server before the connection failed."""


class Refused(ClientError):
    """The server answered with an error status; `message` says what it objected to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DownloadFailed(ClientError):
    """A download broke a limit (size, deadline) or stalled; the job fails with this line."""


def size_text(count: int) -> str:
    """`2 GiB`, `1.5 MiB`, `512 bytes`: limits as a person would write them."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def duration_text(seconds: float) -> str:
    """`10 min`, `1.5 min`, `40 s`, `0.5 s`."""
    if seconds >= 60:
        return f"{seconds / 60:.1f}".removesuffix(".0") + " min"
    return f"{seconds:.1f}".removesuffix(".0") + " s"


def ws_url(url: str, client_id: str) -> str:
    """`http(s)://host[:port][/prefix]` → `ws(s)://host[:port][/prefix]/ws?clientId=…`."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, f"clientId={client_id}", ""))


def _describe_transport(error: BaseException) -> str:
    """`connection refused`, `timed out`, `unknown host`, or the error's own words."""
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return "timed out"
    cause: BaseException | None = error
    for _ in range(5):  # the OSError under httpx's (or asyncio's) own exception
        if cause is None:
            break
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(error) or type(error).__name__
    return "connection refused" if "refused" in text.lower() else clean(text, 120)


class ComfyClient:
    """REST and websocket calls to one server, each bounded by `timeout` seconds.

    httpx's timeout bounds each connect and each read; a server that answers a
    byte at a time would never trip it, so every call also has an overall
    deadline (`timeout` for REST, `download_deadline` for transfers).
    """

    def __init__(
        self,
        server: ServerConfig,
        *,
        client_id: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = server.url
        self.client_id = client_id
        self.timeout = timeout
        self.headers = dict(server.headers)
        self.ws_url = ws_url(server.url, client_id)
        self._http = httpx.AsyncClient(
            base_url=server.url,
            headers=self.headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(self.timeout if deadline is None else deadline):
                response = await self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise Unreachable(f"{self.url}: {_describe_transport(error)}") from None
        except (httpx.TransportError, TimeoutError) as error:  # timeouts, reset mid-request
            raise Unreachable(
                f"{self.url}: {_describe_transport(error)}", maybe_sent=True
            ) from None
        if response.status_code in _GATEWAY:
            raise Unreachable(f"{self.url}: HTTP {response.status_code} from a gateway")
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise Refused(
                response.status_code,
                f"{method} {path}: {describe_rejection(response.status_code, response.text)}",
            )
        try:
            return response.json()
        except ValueError:
            raise Refused(200, f"{method} {path}: the answer is not JSON") from None

    async def _ok(self, method: str, path: str, **kwargs: Any) -> None:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise Refused(
                response.status_code,
                f"{method} {path}: {describe_rejection(response.status_code, response.text)}",
            )

    # -- REST -------------------------------------------------------------------------

    async def submit(self, graph: Mapping[str, Any], prompt_id: str) -> None:
        """Queue a prompt under our own id; `Refused` carries the server's readable reasons."""
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 200:
            return
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        raise Refused(response.status_code, describe_rejection(response.status_code, answer, graph))

    async def history(self, prompt_id: str) -> Any:
        """`GET /history/{id}`: `{id: {...}}` once finished, `{}` while unknown or running."""
        return await self._json("GET", f"/history/{prompt_id}")

    async def queue(self) -> tuple[set[str], set[str]]:
        """(running, pending) prompt ids."""
        return queue_ids(await self._json("GET", "/queue"))

    async def delete(self, prompt_ids: list[str]) -> None:
        """Remove pending prompts; a running one is not touched (see `interrupt`)."""
        await self._ok("POST", "/queue", json={"delete": prompt_ids})

    async def interrupt(self, prompt_id: str) -> None:
        """Stop the prompt if it is the one running; otherwise nothing happens."""
        await self._ok("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def upload_image(
        self, data: bytes, name: str, subfolder: str, *, deadline: float = DOWNLOAD_DEADLINE
    ) -> str:
        """Upload into `input/subfolder`; returns what LoadImage takes (`subfolder/name`)."""
        files = {"image": (name, data, "application/octet-stream")}
        fields = {"type": "input", "subfolder": subfolder, "overwrite": "true"}
        answer = await self._json(
            "POST", "/upload/image", files=files, data=fields, deadline=deadline
        )
        stored = answer.get("name") if isinstance(answer, dict) else None
        folder = answer.get("subfolder") if isinstance(answer, dict) else None
        if not isinstance(stored, str) or not stored:
            raise Refused(200, f"POST /upload/image: no file name in the answer for {name}")
        return f"{folder}/{stored}" if isinstance(folder, str) and folder else stored

    async def view(self, filename: str, subfolder: str, folder_type: str) -> bytes:
        """Download an output into memory, with the default limits."""
        return await self.download(filename, subfolder, folder_type, name=filename)

    async def download(
        self,
        filename: str,
        subfolder: str,
        folder_type: str,
        *,
        name: str,
        dest: Path | None = None,
        limit: int = MAX_DOWNLOAD,
        deadline: float = DOWNLOAD_DEADLINE,
    ) -> bytes:
        """Stream an output from `/view` into `dest` (then returns b"") or into memory.

        The server's names only go back to it; `name` is ours, for messages. At
        most `limit` bytes are taken (an announced length over it is refused
        before reading), the whole transfer must end within `deadline`, and each
        read within `timeout`. Whatever breaks a rule raises `DownloadFailed` and
        leaves no partial file at `dest`.
        """
        params = {"filename": filename, "subfolder": subfolder, "type": folder_type}
        sink = _Sink(dest)
        try:
            async with asyncio.timeout(deadline):
                await self._stream(params, filename, name, limit, sink)
            return await sink.finish()
        except TimeoutError:
            sink.discard()
            raise DownloadFailed(
                f"ComfyUI took more than {duration_text(deadline)} to send {name}"
            ) from None
        except OSError as error:  # our side: the staging file
            sink.discard()
            raise DownloadFailed(f"cannot write {name}: {error.strerror or error}") from None
        except BaseException:
            sink.discard()
            raise

    async def _stream(
        self, params: dict[str, str], filename: str, name: str, limit: int, sink: _Sink
    ) -> None:
        try:
            async with self._http.stream("GET", "/view", params=params) as response:
                status = response.status_code
                if status in _GATEWAY:
                    raise Unreachable(f"{self.url}: HTTP {status} from a gateway")
                if status != 200:
                    raise Refused(status, f"GET /view {filename!r}: HTTP {status}")
                announced = response.headers.get("content-length", "")
                if announced.isdigit() and int(announced) > limit:
                    raise DownloadFailed(
                        f"ComfyUI offered {size_text(int(announced))} for {name}, "
                        f"more than the {size_text(limit)} limit"
                    )
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > limit:
                        raise DownloadFailed(
                            f"ComfyUI sent more than {size_text(limit)} for {name}"
                        )
                    await sink.add(chunk)
        except httpx.ReadTimeout:
            raise DownloadFailed(
                f"ComfyUI stopped sending {name} (nothing for {duration_text(self.timeout)})"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise Unreachable(f"{self.url}: {_describe_transport(error)}") from None
        except httpx.TransportError as error:
            raise Unreachable(
                f"{self.url}: {_describe_transport(error)}", maybe_sent=True
            ) from None

    async def object_info(self) -> dict[str, Any]:
        answer = await self._json("GET", "/object_info")
        if not isinstance(answer, dict):
            raise Refused(200, "GET /object_info: not an object of node types")
        return answer

    async def system_stats(self) -> dict[str, Any]:
        answer = await self._json("GET", "/system_stats")
        return answer if isinstance(answer, dict) else {}

    # -- websocket --------------------------------------------------------------------

    async def connect(self) -> ClientConnection:
        """Open `/ws?clientId=` and ask for previews with metadata (type 4).

        No Origin header is sent: ComfyUI answers an Origin that differs from
        Host with 403, and a terminal app has no origin to claim.
        """
        try:
            socket = await connect(
                self.ws_url,
                origin=None,
                additional_headers=self.headers or None,
                open_timeout=self.timeout,
                close_timeout=min(self.timeout, 2.0),
                max_size=WS_MAX_SIZE,
                max_queue=WS_MAX_QUEUE,
                ping_interval=WS_PING,
                ping_timeout=WS_PING,
                compression=None,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            raise Refused(status, f"{self.url}: websocket refused with HTTP {status}") from None
        except (InvalidURI, InvalidHandshake) as error:
            raise Refused(0, f"{self.url}: websocket handshake failed ({error})") from None
        except (OSError, TimeoutError) as error:
            raise Unreachable(f"{self.url}: {_describe_transport(error)}") from None
        try:
            await socket.send(FEATURE_FLAGS)
        except Exception:
            await socket.close()
            raise Unreachable(f"{self.url}: the websocket closed at once") from None
        return socket


class _Sink:
    """Where a download goes: memory, or `dest` once there is enough to be worth a file.

    A small output (most stills) reaches `dest` in one thread hop at the end; a
    large one is written out a megabyte at a time, so memory stays flat.
    """

    def __init__(self, dest: Path | None) -> None:
        self.dest = dest
        self.memory = bytearray()
        self.handle: IO[bytes] | None = None

    async def add(self, chunk: bytes) -> None:
        self.memory += chunk
        if self.dest is not None and len(self.memory) >= _FLUSH:
            await asyncio.to_thread(self._spill)

    async def finish(self) -> bytes:
        """The content (in memory), or b"" once `dest` is complete and closed."""
        if self.dest is None:
            return bytes(self.memory)
        await asyncio.to_thread(self._complete)
        return b""

    def discard(self) -> None:
        """After a failure: no partial file stays behind."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.dest is not None:
            with contextlib.suppress(OSError):
                self.dest.unlink()

    def _spill(self) -> None:
        assert self.dest is not None
        if self.handle is None:
            self.handle = self.dest.open("wb")
        self.handle.write(self.memory)
        self.memory.clear()

    def _complete(self) -> None:
        self._spill()
        assert self.handle is not None
        self.handle.close()
        self.handle = None
