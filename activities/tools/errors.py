"""Specific tool error types; each message says what to change in the input."""

from __future__ import annotations

from activities.tools.registry import ToolError


class InvalidToolInput(ToolError):
    """An argument is present but unusable (unknown name, impossible value)."""


class DataFileError(ToolError):
    """A referenced data file is missing, unreadable or lacks the needed columns."""
