"""Settings: the user's config file and a project's `storyboard.toml`.

User settings live in the XDG config folder (found through platformdirs) and
can be overridden by `STORYBOARD_*` environment variables. A project's own
`storyboard.toml` says which servers and workflows that project renders with.
Nothing here creates files: reading a config never writes one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "storyboard"


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key."""


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def user_config_path() -> Path:
    return user_config_dir() / "config.toml"


def _describe(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "file"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path}: {where}: {first['msg']}{more}"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


# -- project settings (storyboard.toml) ---------------------------------------


class ServerConfig(BaseModel):
    """One ComfyUI server; headers reach a server behind an authenticating proxy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"server URL must start with http:// or https://, got {value!r}")
        return value


class ComfyUIConfig(BaseModel):
    """The `[comfyui]` table."""

    model_config = ConfigDict(extra="forbid")

    servers: list[ServerConfig] = Field(default_factory=list)
    window_running: int = Field(default=1, ge=1, le=16)
    """Jobs a server runs at once (ComfyUI runs one)."""
    window_queued: int = Field(default=1, ge=0, le=64)
    """Jobs kept in a server's own queue ahead of the running one; the rest wait with us."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds for any single HTTP call."""
    max_download_bytes: int = Field(default=2 * 1024**3, gt=0)
    """The most one output may be; a server sending more fails the job, not the machine."""
    download_deadline: float = Field(default=600.0, gt=0)
    """Seconds one transfer may take in all, on top of `timeout` for each read."""
    silence_limit: float = Field(default=600.0, gt=0)
    """Seconds a server may send nothing before its jobs are checked, and failed if it
    does not answer."""

    @field_validator("servers", mode="before")
    @classmethod
    def _servers_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"url": item} if isinstance(item, str) else item for item in value]
        return value


class MotionRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float = 0.0
    max: float = 10.0


class WorkflowConfig(BaseModel):
    """One `[workflows.image]` or `[workflows.video]` table."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    """API-format JSON, relative to the project folder; empty means the bundled default."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """Scene parameter → `"node_id.input_name"`."""
    fps: int | None = Field(default=None, ge=1, le=120)
    frames_step: int = Field(default=4, ge=1)
    camera_values: dict[str, str] = Field(default_factory=dict)
    motion_range: MotionRange | None = None


class WorkflowsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: WorkflowConfig | None = None
    video: WorkflowConfig | None = None


class ProjectConfig(BaseModel):
    """A project's `storyboard.toml`; every table is optional."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["draft", "comfyui"] | None = None
    """Which renderer this project uses; by default ComfyUI when servers are listed."""
    max_scene_seconds: float = Field(default=600.0, gt=0, le=86_400)
    """The longest narration a scene may have; a longer one is refused (4800 typed for
    4.8 s would otherwise have a renderer make an 80-minute clip)."""
    comfyui: ComfyUIConfig = Field(default_factory=ComfyUIConfig)
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)

    @property
    def default_backend(self) -> str:
        if self.backend is not None:
            return self.backend
        return "comfyui" if self.comfyui.servers else "draft"

    @classmethod
    def load(cls, path: Path) -> ProjectConfig:
        try:
            return cls.model_validate(read_toml(path))
        except ValidationError as error:
            raise ConfigError(_describe(path, error)) from None


# -- user settings (~/.config/storyboard/config.toml) -------------------------

ImageRenderer = Literal["auto", "kitty", "sixel", "halfblock", "unicode", "off"]


class UserSettings(BaseSettings):
    """Per-user preferences; `STORYBOARD_THEME=...` and friends override the file."""

    model_config = SettingsConfigDict(env_prefix="STORYBOARD_", extra="ignore")

    theme: str = "storyboard-dark"
    """The theme name: a built-in Textual theme, one from `themes/`, or a user theme file."""
    image_renderer: ImageRenderer = "auto"
    """How the inspector draws stills: terminal graphics, half-blocks, or not at all."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id → keys, e.g. `{"regenerate.image" = "ctrl+i"}`."""
    comfyui_servers: list[str] = Field(default_factory=list)
    """Servers to use for projects that name none."""
    save_delay: float = Field(default=0.5, ge=0.05, le=10)
    """Seconds of quiet typing before an edit is saved."""
    runner_idle_exit: float = Field(default=30.0, ge=0.1, le=86_400)
    """Seconds a project's runner lingers with no job and no window before it exits."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=user_config_path()),
        )

    @classmethod
    def load(cls) -> UserSettings:
        """Read the user's settings, or explain in one line what is wrong with the file."""
        try:
            return cls()
        except ValidationError as error:
            raise ConfigError(_describe(user_config_path(), error)) from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{user_config_path()}: not valid TOML ({error})") from None
