"""Pilot and snapshot tests of the Storyboard TUI."""
