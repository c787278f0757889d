"""Storyboard: a terminal app for prompt-edit regeneration of narrated AI video."""

__version__ = "0.1.0"
