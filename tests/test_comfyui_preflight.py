"""Issue 12 item 2: a batch no server can run is refused once, before it starts.

`preflight` runs the doctor's model check against real stand-in servers over
loopback; its cache is checked by counting `/object_info` requests and by
restarting the server. `resolve_servers` is the doctor's choice of servers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.comfyui_server import ComfyTestServer, bundled_models
from tui.backends.comfyui.doctor import (
    DEFAULT_SERVER,
    NO_SERVERS,
    PreflightCache,
    load_workflow_map,
    preflight,
    resolve_servers,
)
from tui.backends.comfyui.workflows import BoundWorkflow, WorkflowError
from tui.config import ConfigError, ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.folder import ProjectFolder

IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
NO_CHECKPOINT = (
    "bundled image workflow: node 4 (CheckpointLoaderSimple) input 'ckpt_name': "
    f"'{CHECKPOINT}' is missing: this server has no checkpoints; "
    "put one in ComfyUI/models/checkpoints"
)


def bundled(tmp_path: Path) -> dict[AssetKind, BoundWorkflow | WorkflowError]:
    return load_workflow_map(ProjectFolder(tmp_path), ProjectConfig())


def video_only_models() -> dict[str, list[str]]:
    return {k: v for k, v in bundled_models().items() if k != "checkpoints"}


@pytest.fixture
async def cache() -> AsyncIterator[PreflightCache]:
    kept = PreflightCache()
    yield kept
    await kept.close()


def object_infos(server: ComfyTestServer) -> int:
    return server.requests.count(("GET", "/object_info"))


async def test_a_batch_without_its_checkpoint_is_refused_with_one_message(
    tmp_path: Path, cache: PreflightCache
) -> None:
    """Issue 12 item 2: the refusal names the server, the node, the file and where it goes."""
    async with ComfyTestServer(tmp_path / "comfy", models=video_only_models()) as server:
        servers = [ServerConfig(url=server.url)]
        workflows = bundled(tmp_path)
        message = await preflight(servers, workflows, [IMAGE, VIDEO], timeout=5, cache=cache)
        assert message == f"{server.url}: {NO_CHECKPOINT}"
        # videos alone can run: only what the batch needs is judged
        assert await preflight(servers, workflows, [VIDEO], timeout=5, cache=cache) is None
        # a refusal is never kept: the checkpoint put in place is seen at once
        server.add_model("checkpoints", CHECKPOINT)
        assert await preflight(servers, workflows, [IMAGE], timeout=5, cache=cache) is None


async def test_passes_are_kept_until_the_server_restarts(
    tmp_path: Path, cache: PreflightCache
) -> None:
    """Issue 12 item 2: once per server, cached until it restarts (its socket closes)."""
    async with ComfyTestServer(tmp_path / "comfy", models=bundled_models()) as server:
        servers = [ServerConfig(url=server.url)]
        workflows = bundled(tmp_path)
        kinds = [IMAGE, VIDEO]
        assert await preflight(servers, workflows, kinds, timeout=5, cache=cache) is None
        assert object_infos(server) == 1
        for _ in range(3):
            assert await preflight(servers, workflows, kinds, timeout=5, cache=cache) is None
        assert object_infos(server) == 1  # no new question while it runs on

        await server.crash()
        await server.restart()
        async with asyncio.timeout(5):
            while cache.live(server.url):  # the drop reaches the cache's socket
                await asyncio.sleep(0.01)
        assert await preflight(servers, workflows, kinds, timeout=5, cache=cache) is None
        assert object_infos(server) == 2  # checked again after the restart


async def test_a_restart_without_the_model_is_refused_again(
    tmp_path: Path, cache: PreflightCache
) -> None:
    """Issue 12 item 2: a cached pass does not outlive the server that earned it."""
    async with ComfyTestServer(tmp_path / "comfy") as server:
        server.add_model("checkpoints", CHECKPOINT)  # on disk only: a restart keeps no list
        servers = [ServerConfig(url=server.url)]
        workflows = bundled(tmp_path)
        assert await preflight(servers, workflows, [IMAGE], timeout=5, cache=cache) is None
        await server.crash()
        (server.root / "models" / "checkpoints" / CHECKPOINT).unlink()
        await server.restart()
        async with asyncio.timeout(5):
            while cache.live(server.url):
                await asyncio.sleep(0.01)
        message = await preflight(servers, workflows, [IMAGE], timeout=5, cache=cache)
        assert message == f"{server.url}: {NO_CHECKPOINT}"


async def test_one_able_server_is_enough_and_a_down_one_is_no_reason_to_refuse(
    tmp_path: Path,
) -> None:
    """Issue 12 item 2: refused only when every server that answers lacks something."""
    async with (
        ComfyTestServer(tmp_path / "empty") as empty,
        ComfyTestServer(tmp_path / "stocked", models=bundled_models()) as stocked,
    ):
        down = ComfyTestServer(tmp_path / "down")
        await down.start()
        await down.stop()
        workflows = bundled(tmp_path)
        urls = [ServerConfig(url=u) for u in (empty.url, stocked.url, down.url)]
        assert await preflight(urls, workflows, [IMAGE], timeout=2) is None
        only_down = [ServerConfig(url=down.url)]
        assert await preflight(only_down, workflows, [IMAGE], timeout=2) is None  # jobs wait
        two = [ServerConfig(url=empty.url), ServerConfig(url=down.url)]
        assert await preflight(two, workflows, [IMAGE], timeout=2) == (
            f"{empty.url}: {NO_CHECKPOINT}"
        )


async def test_a_broken_workflow_or_no_server_refuses_the_batch(tmp_path: Path) -> None:
    """Issue 12 item 2: what cannot succeed anywhere is refused before any server is asked."""
    config = ProjectConfig.model_validate(
        {"workflows": {"video": {"path": "gone.json", "inputs": {"image": "1.image"}}}}
    )
    workflows = load_workflow_map(ProjectFolder(tmp_path), config)
    servers = [ServerConfig(url="http://127.0.0.1:9")]
    message = await preflight(servers, workflows, [VIDEO], timeout=1)
    assert message is not None and message.endswith("gone.json: no such file")
    assert await preflight([], bundled(tmp_path), [IMAGE], timeout=1) == NO_SERVERS
    assert await preflight([], bundled(tmp_path), [], timeout=1) is None


async def test_preflight_against_a_newer_release(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 item 2: newer /object_info fields and broadcasts change nothing, quietly."""
    async with ComfyTestServer(tmp_path / "comfy", newer=True) as server:
        with caplog.at_level(logging.INFO):
            cache = PreflightCache()
            try:
                workflows = bundled(tmp_path)
                servers = [ServerConfig(url=server.url)]
                message = await preflight(servers, workflows, [IMAGE], timeout=5, cache=cache)
            finally:
                await cache.close()
    assert message == f"{server.url}: {NO_CHECKPOINT}"
    assert not [r for r in caplog.records if r.name.startswith("tui")]


# --------------------------------------------------------------------------- resolve_servers


def test_servers_come_from_flags_then_project_then_user_then_the_default() -> None:
    """Issue 12 item 2: doctor with no argument checks the configured servers, or 8188."""
    project = ProjectConfig.model_validate(
        {"comfyui": {"servers": [{"url": "http://gpu:8188", "headers": {"X-Key": "k"}}]}}
    )

    def user() -> list[str]:
        raise AssertionError("the user's config is read only when it decides")

    assert resolve_servers(["http://a:1"], project, user) == [ServerConfig(url="http://a:1")]
    kept = resolve_servers([], project, user)
    assert kept == [ServerConfig(url="http://gpu:8188", headers={"X-Key": "k"})]
    assert resolve_servers([], ProjectConfig(), ["http://b:2/"]) == [ServerConfig(url="http://b:2")]
    assert resolve_servers([], None, lambda: []) == [ServerConfig(url=DEFAULT_SERVER)]
    assert DEFAULT_SERVER == "http://127.0.0.1:8188"


def test_a_bad_server_url_is_a_config_error_naming_where_it_came_from() -> None:
    """Issue 12 item 2: bad input gets one clear line."""
    with pytest.raises(ConfigError) as flag:
        resolve_servers(["gpu:8188"], None)
    assert str(flag.value) == (
        "--comfyui: server URL must start with http:// or https://, got 'gpu:8188'"
    )
    with pytest.raises(ConfigError, match="^comfyui_servers: server URL must start"):
        resolve_servers([], None, ["ftp://x"])
