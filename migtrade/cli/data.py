"""``migtrade data``: list, show, export, query and remove stored datasets."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command (group) to the app."""
