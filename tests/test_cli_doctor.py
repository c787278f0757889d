"""`storyboard doctor` as a real process against the ComfyUI test server on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.comfyui_server import ComfyTestServer, bundled_models
from tests.conftest import FIXTURES


async def doctor(
    *args: str, config_home: Path | None = None, cwd: Path | None = None
) -> tuple[int, str]:
    env = {"COLUMNS": "200", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    if config_home is not None:  # the user's config.toml lives under it
        env["XDG_CONFIG_HOME"] = str(config_home)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui",
        "doctor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_doctor_reports_a_server_and_the_project_workflows(
    tmp_path: Path, project_dir: Path
) -> None:
    async with ComfyTestServer(tmp_path / "comfy", models=bundled_models()) as server:
        (project_dir / "storyboard.toml").write_text(
            f'[comfyui]\nservers = ["{server.url}"]\n', encoding="utf-8"
        )
        code, out = await doctor(str(project_dir))
    assert code == 0, out
    assert f"{server.url}: ComfyUI 0.3.64 · queue 0 running, 0 pending · websocket ok" in out
    assert "bundled image workflow: every node and input is available" in out
    assert "bundled video workflow: every node and input is available" in out
    assert out.rstrip().endswith("All good.")


async def test_doctor_prints_a_fix_for_a_missing_node(tmp_path: Path, project_dir: Path) -> None:
    info = json.loads((FIXTURES / "comfyui/object_info.core.json").read_text(encoding="utf-8"))
    info.pop("WanCameraEmbedding")
    (tmp_path / "object_info.json").write_text(json.dumps(info), encoding="utf-8")
    async with ComfyTestServer(
        tmp_path / "comfy", object_info_path=tmp_path / "object_info.json", models=bundled_models()
    ) as server:
        (project_dir / "storyboard.toml").write_text(
            f'[comfyui]\nservers = ["{server.url}"]\n', encoding="utf-8"
        )
        code, out = await doctor(str(project_dir))
    assert code == 1
    lines = out.splitlines()
    [at] = [i for i, line in enumerate(lines) if "no node type 'WanCameraEmbedding'" in line]
    assert lines[at].startswith("    ✗ bundled video workflow: node 55 (WanCameraEmbedding)")
    assert lines[at + 1] == (
        "        fix: install the custom node that provides it, or replace the node"
    )
    assert out.rstrip().endswith("1 problem found.")


async def test_doctor_names_an_unreachable_server() -> None:
    code, out = await doctor("--comfyui", "http://127.0.0.1:9")
    assert code == 1
    assert "http://127.0.0.1:9" in out and "connection refused" in out


async def test_doctor_without_any_server_is_a_usage_error(tmp_path: Path) -> None:
    code, out = await doctor(str(tmp_path / "nowhere"))
    assert code == 2 and "no such project" in out


async def test_doctor_names_a_missing_checkpoint_and_indents_its_fix(
    tmp_path: Path, project_dir: Path
) -> None:
    """Issue 12 item 2: no more "All good" against a server without checkpoints."""
    models = {k: v for k, v in bundled_models().items() if k != "checkpoints"}
    async with ComfyTestServer(tmp_path / "comfy", models=models) as server:
        (project_dir / "storyboard.toml").write_text(
            f'[comfyui]\nservers = ["{server.url}"]\n', encoding="utf-8"
        )
        code, out = await doctor(str(project_dir))
    assert code == 1, out
    lines = out.splitlines()
    [at] = [i for i, line in enumerate(lines) if "(CheckpointLoaderSimple)" in line]
    assert lines[at] == (
        "    ✗ bundled image workflow: node 4 (CheckpointLoaderSimple) input 'ckpt_name': "
        "'v1-5-pruned-emaonly.safetensors' is missing: this server has no checkpoints"
    )
    assert lines[at + 1] == "        fix: put one in ComfyUI/models/checkpoints"
    assert "All good" not in out and out.rstrip().endswith("1 problem found.")


async def test_doctor_without_arguments_uses_the_users_servers(tmp_path: Path) -> None:
    """Issue 12 item 2: doctor with no argument checks the configured servers."""
    async with ComfyTestServer(tmp_path / "comfy", models=bundled_models()) as server:
        config = tmp_path / "config" / "storyboard"
        config.mkdir(parents=True)
        (config / "config.toml").write_text(f'comfyui_servers = ["{server.url}"]\n')
        code, out = await doctor(config_home=tmp_path / "config", cwd=tmp_path)
    assert code == 0, out
    assert f"{server.url}: ComfyUI 0.3.64" in out and out.rstrip().endswith("All good.")


async def test_doctor_without_arguments_or_servers_checks_the_default_address(
    tmp_path: Path,
) -> None:
    """Issue 12 item 2: with nothing configured, http://127.0.0.1:8188 instead of an error."""
    (tmp_path / "config").mkdir()
    code, out = await doctor(config_home=tmp_path / "config", cwd=tmp_path)
    assert code in (0, 1), out  # whether something listens on 8188 here is not ours to know
    assert "http://127.0.0.1:8188" in out and "no ComfyUI server to check" not in out
