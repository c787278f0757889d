"""Screens of the Storyboard TUI."""
