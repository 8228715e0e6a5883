"""``migtrade fetch SOURCE``: download or read a data source into the local store."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command (group) to the app."""
