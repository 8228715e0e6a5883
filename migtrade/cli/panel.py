"""``migtrade panel build``: assemble the dyadic trade-migration panel."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command (group) to the app."""
