"""Theme files: TOML validated by pydantic, loaded from the repo's `themes/` and the user's.

A theme file names Textual's theme colours and may override the app's own
variables (`image-dirty`, `video-dirty`, `asset-missing`). A file that cannot
be read or does not validate is skipped and reported in one line, so one bad
file never stops the app.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui.config import user_config_dir


def _bundled_themes() -> Path | Traversable:
    try:
        return files("tui.themes")  # an installed wheel: the build maps themes/ in
    except ModuleNotFoundError:
        # A checkout run in place (`make run`): `tui` is imported from the source
        # tree, which has the folder beside it rather than inside it.
        return Path(__file__).resolve().parents[2] / "themes"


BUNDLED_THEMES_DIR = _bundled_themes()
"""The themes that ship with the app: the repo's top-level `themes/` folder, mapped into
the package as `tui.themes` by the build (setup.py), so an installed wheel has them."""

DEFAULT_THEME = "storyboard-dark"

APP_VARIABLES: dict[str, str] = {
    "image-dirty": "#f2c744",
    "video-dirty": "#ff8a2a",
    "asset-missing": "#7a7f8a",
    "asset-failed": "#ef6b73",
}
"""The colours the markers use; every theme may override them under `[variables]`."""


def user_themes_dir() -> Path:
    return user_config_dir() / "themes"


def _check_color(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"not a colour: {value!r}") from None
    return value


class ThemeFile(BaseModel):
    """The TOML form of a `textual.theme.Theme`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    """Lower-case, as typed after `--theme`."""
    primary: str
    secondary: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    dark: bool = True
    luminosity_spread: float = Field(default=0.15, ge=0, le=1)
    text_alpha: float = Field(default=0.95, ge=0, le=1)
    variables: dict[str, str] = Field(default_factory=dict)
    """Textual design variables or our own, e.g. `image-dirty = "#ffd700"`."""

    @field_validator(
        "primary",
        "secondary",
        "warning",
        "error",
        "success",
        "accent",
        "foreground",
        "background",
        "surface",
        "panel",
        "boost",
    )
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return _check_color(value)

    @field_validator("variables")
    @classmethod
    def _app_colours(cls, value: dict[str, str]) -> dict[str, str]:
        for name in APP_VARIABLES:
            if name in value:
                _check_color(value[name])
        return value

    def to_theme(self) -> Theme:
        return Theme(**self.model_dump())


class ThemeFileError(Exception):
    """One theme file that could not be used; the message is one line."""


def load_theme_file(path: Path | Traversable) -> Theme:
    """Read and validate one theme file."""
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ThemeFileError(f"{path.name}: not valid TOML ({error})") from None
    except OSError as error:
        raise ThemeFileError(f"{path.name}: cannot read ({error.strerror})") from None
    try:
        return ThemeFile.model_validate(raw).to_theme()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ThemeFileError(f"{path.name}: {where}: {first['msg']}{more}") from None


def load_themes(folders: Iterable[Path | Traversable]) -> tuple[list[Theme], list[str]]:
    """Every `*.toml` theme in `folders`, in order, and a line for each file that failed.

    A later folder wins on a name clash, so a user's file can replace a bundled theme.
    """
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        toml_files = (entry for entry in folder.iterdir() if entry.name.endswith(".toml"))
        for path in sorted(toml_files, key=lambda entry: entry.name):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as error:
                errors.append(str(error))
            else:
                themes[theme.name] = theme
    return list(themes.values()), errors


def describe_errors(errors: list[str]) -> str:
    """All theme-file failures as the text of one toast."""
    head = f"Skipped a broken theme file: {errors[0]}"
    if len(errors) > 1:
        head += f" (and {len(errors) - 1} more)"
    return head
