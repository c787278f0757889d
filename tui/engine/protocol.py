"""What the runner and its clients say to each other over the project's Unix socket.

One JSON object per line, each with a `type`. The database is the truth for
job states and errors; the socket carries only what is too fast or too big to
journal (progress, previews, "started"), a hint that the database changed,
and the runner's own state for headers. So a client that cannot connect
loses nothing but liveliness.

Runner → client, in order: `hello`, then the current `progress` of every
running job (a late client sees where things stand), then live messages:
`progress`, `started`, `preview`, `changed` (read the database), `state`
(runner and backend status), `bye` (the runner is exiting).
Client → runner: `hello`, `poke` (I changed the database), `stop` (cancel
every job and exit).

Bump VERSION whenever a message changes shape; a client that meets another
version says so in one line and falls back to the database.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tui.backends.base import BackendStatus
from tui.domain.models import AssetKind

VERSION = 1
MAX_LINE = 16 * 1024 * 1024
"""The longest message read; previews are the big ones."""


class ProtocolError(Exception):
    """A message that is not ours: bad JSON, an unknown type, another version."""


@dataclass(frozen=True)
class Hello:
    """The first message each side sends."""

    pid: int
    role: str
    """"runner", "tui" or "cli"."""
    version: int = VERSION
    backend: str = ""
    """The runner's backend name."""
    servers: tuple[str, ...] = ()
    """The ComfyUI servers the runner renders with."""


@dataclass(frozen=True)
class LiveProgress:
    job: int
    scene: int
    kind: AssetKind
    value: int
    max: int
    fraction: float
    node: str | None = None


@dataclass(frozen=True)
class LiveStarted:
    job: int
    scene: int
    kind: AssetKind
    server: str | None = None


@dataclass(frozen=True)
class LivePreview:
    job: int
    scene: int
    kind: AssetKind
    data: bytes
    mime: str = "image/jpeg"


@dataclass(frozen=True)
class Changed:
    """The runner wrote to the database: read what changed since your last look."""

    rev: int = 0
    """The job revision the runner has read up to (for logs; clients read anyway)."""


@dataclass(frozen=True)
class RunnerState:
    """For headers and `storyboard runner status`."""

    running: int
    queued: int
    backend: BackendStatus = field(default_factory=lambda: BackendStatus("draft"))
    clients: int = 0


@dataclass(frozen=True)
class Poke:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Bye:
    reason: str = ""
    """"idle", "stopped", or `FATAL` and why: a reason another runner would meet too."""


FATAL = "error: "


Message = (
    Hello | LiveProgress | LiveStarted | LivePreview | Changed | RunnerState | Poke | Stop | Bye
)

_TYPES: dict[str, type[Any]] = {
    "hello": Hello,
    "progress": LiveProgress,
    "started": LiveStarted,
    "preview": LivePreview,
    "changed": Changed,
    "state": RunnerState,
    "poke": Poke,
    "stop": Stop,
    "bye": Bye,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}


_FIELDS = {cls: tuple(f.name for f in fields(cls)) for cls in _TYPES.values()}


def encode(message: Message) -> bytes:
    """One line of JSON, newline included.

    Fields are read one level deep, not through `asdict`, which deep-copies every value
    (a preview's bytes included): a progress message cost 60 us that way, most of the
    runner's work in a flood of 2,000 a second.
    """
    body: dict[str, Any] = {"type": _NAMES[type(message)]}
    for name in _FIELDS[type(message)]:
        body[name] = getattr(message, name)
    if isinstance(message, LivePreview):
        body["data"] = base64.b64encode(message.data).decode("ascii")
    elif isinstance(message, Hello):
        body["servers"] = list(message.servers)
    elif isinstance(message, RunnerState):
        body["backend"] = asdict(message.backend)
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """Parse one line; raises ProtocolError for anything that is not ours."""
    try:
        body = json.loads(line)
    except ValueError:
        raise ProtocolError(f"not a runner message: {line[:60]!r}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"not a runner message: {line[:60]!r}")
    name = body.pop("type", None)
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"unknown runner message type {name!r}")
    try:
        if cls is LivePreview:
            body["data"] = base64.b64decode(body["data"])
        if cls in (LiveProgress, LiveStarted, LivePreview):
            body["kind"] = AssetKind(body["kind"])
        if cls is Hello:
            body["servers"] = tuple(body.get("servers", ()))
        if cls is RunnerState:
            body["backend"] = BackendStatus(**body["backend"])
        return cls(**body)  # type: ignore[no-any-return]
    except (TypeError, ValueError, KeyError) as error:
        raise ProtocolError(f"bad {name} message: {error}") from None


def check_version(hello: Hello) -> None:
    if hello.version != VERSION:
        raise ProtocolError(
            f"the runner speaks protocol {hello.version}, this storyboard speaks {VERSION}; "
            "stop it with `storyboard runner DIR stop` once its jobs are done"
        )
