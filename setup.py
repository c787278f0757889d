"""Only what pyproject.toml cannot say: the top-level themes/ folder ships as `tui.themes`."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["tui", "tui.*"], exclude=["*.__pycache__"]),
        "tui.themes",
    ],
    package_dir={"tui.themes": "themes"},
)
