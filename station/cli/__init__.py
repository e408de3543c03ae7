"""The ``station`` command: one module per family of commands, all on the group in
:mod:`station.cli.common`. A module is imported when one of its commands is asked for
(:data:`COMMAND_MODULES`), so a command starts without the others' imports."""

from __future__ import annotations

from station.cli.common import main

COMMAND_MODULES = {
    "audit": "station.cli.audit",
    "batch": "station.cli.batch",
    "cloud": "station.cli.cloud",
    "conformance": "station.cli.conformance",
    "demo": "station.cli.demo",
    "sim": "station.cli.demo",
    "doctor": "station.cli.doctor",
    "key": "station.cli.key",
    "label": "station.cli.label",
    "units": "station.cli.lookup",
    "show": "station.cli.lookup",
    "provision": "station.cli.provision",
    "run": "station.cli.provision",
    "report": "station.cli.report",
    "trace": "station.cli.report",
    "sync": "station.cli.sync",
    "table": "station.cli.sync",
    "revoke": "station.cli.sync",
    "unrevoke": "station.cli.sync",
    "user": "station.cli.users",
}
"""Every ``station`` command and the module that defines it."""

main.lazy_commands.update(COMMAND_MODULES)

__all__ = ["COMMAND_MODULES", "main"]
