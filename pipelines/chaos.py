"""Fault injection for tests and drills, off unless ``BRIEFS_CHAOS`` is set.

``BRIEFS_CHAOS=fail-once:<key prefix>`` makes the first commit write whose key starts with the prefix raise, once
per ``BRIEFS_CHAOS_STATE`` file (default: a file in the system temp dir), across processes and task retries:
what a storage outage in the middle of a commit looks like to the pipeline.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class InjectedFault(RuntimeError):
    """Raised by an armed chaos hook."""


def commit_hook() -> Callable[[str], None] | None:
    spec = os.environ.get("BRIEFS_CHAOS", "")
    if not spec.startswith("fail-once:"):
        return None
    prefix = spec.split(":", 1)[1]
    state = Path(os.environ.get("BRIEFS_CHAOS_STATE", Path(tempfile.gettempdir()) / "briefs-chaos.fired"))

    def hook(key: str) -> None:
        if key.startswith(prefix) and not state.exists():
            state.write_text(key)
            raise InjectedFault(f"chaos: injected failure before writing {key}")

    return hook
