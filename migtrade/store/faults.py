"""Fault injection for the crash-safety tests of the store.

The store promises that a process killed at any moment leaves the previous version readable and
the catalog consistent. To test that deterministically, a test sets ``MIGTRADE_STORE_CRASH_AT``
to one of :data:`CRASH_POINTS` in a child process, which then kills itself with SIGKILL (no
cleanup handlers, no flush, exactly like ``kill -9`` or a power cut) when the write reaches it.
Unset, each check is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "MIGTRADE_STORE_CRASH_AT"

CRASH_POINTS = ("staged", "placed", "uncommitted", "committed")
"""In write order: the temporary Parquet file is complete and synced; it was renamed into
``data/``; the catalog row is changed inside the open transaction; the transaction committed but
the previous version's file is not yet deleted."""


def crash_point(step: str) -> None:
    """Kill this process outright if ``$MIGTRADE_STORE_CRASH_AT`` names ``step``."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
