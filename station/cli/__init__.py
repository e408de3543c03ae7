"""The ``station`` command: one module per family of commands, all on the group in
:mod:`station.cli.common`. Importing this package registers them all."""

from __future__ import annotations

from station.cli import (  # noqa: F401 - each module adds its commands to `main`
    audit,
    batch,
    cloud,
    conformance,
    demo,
    doctor,
    key,
    label,
    lookup,
    provision,
    report,
    sync,
    users,
)
from station.cli.common import main

__all__ = ["main"]
