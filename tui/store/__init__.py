"""Persistence: the project folder, its SQLite database, and import."""

from tui.store.errors import NotFoundError, StoreError
from tui.store.folder import ProjectFolder
from tui.store.repository import ProjectStore

__all__ = ["NotFoundError", "ProjectFolder", "ProjectStore", "StoreError"]
