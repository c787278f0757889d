"""Persistence: the project folder, its SQLite database, and import."""

from tui.errors import NotFoundError, StoreError
from tui.folder import ProjectFolder
from tui.store.repository import ProjectStore

__all__ = ["NotFoundError", "ProjectFolder", "ProjectStore", "StoreError"]
