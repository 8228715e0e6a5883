"""``migtrade table``: render saved results side by side."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command (group) to the app."""
