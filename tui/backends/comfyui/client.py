"""One ComfyUI server over the network: REST through httpx, events through a websocket.

The client only speaks the protocol; deciding what a reply means for a job is
the backend's business. Its errors come in two kinds, because the engine treats
them differently: `Unreachable` (try again later, maybe elsewhere) and `Refused`
(the server answered and said no).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from tui.backends.comfyui.protocol import FEATURE_FLAGS, clean, describe_rejection, queue_ids
from tui.config import ServerConfig

WS_MAX_SIZE = 64 * 1024 * 1024
"""Previews of large frames exceed websockets' 1 MiB default."""
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
    """REST and websocket calls to one server, each bounded by `timeout` seconds."""

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

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise Unreachable(f"{self.url}: {_describe_transport(error)}") from None
        except httpx.TransportError as error:  # read/write timeout, reset mid-request
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

    async def upload_image(self, data: bytes, name: str, subfolder: str) -> str:
        """Upload into `input/subfolder`; returns what LoadImage takes (`subfolder/name`)."""
        files = {"image": (name, data, "application/octet-stream")}
        fields = {"type": "input", "subfolder": subfolder, "overwrite": "true"}
        answer = await self._json("POST", "/upload/image", files=files, data=fields)
        stored = answer.get("name") if isinstance(answer, dict) else None
        folder = answer.get("subfolder") if isinstance(answer, dict) else None
        if not isinstance(stored, str) or not stored:
            raise Refused(200, f"POST /upload/image: no file name in the answer for {name}")
        return f"{folder}/{stored}" if isinstance(folder, str) and folder else stored

    async def view(self, filename: str, subfolder: str, folder_type: str) -> bytes:
        """Download an output; the names are the server's own and only go back to it."""
        params = {"filename": filename, "subfolder": subfolder, "type": folder_type}
        response = await self._request("GET", "/view", params=params)
        if response.status_code != 200:
            raise Refused(
                response.status_code, f"GET /view {filename!r}: HTTP {response.status_code}"
            )
        return response.content

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
                max_queue=None,
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
