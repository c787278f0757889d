"""Widgets of the Storyboard TUI, one per module."""
