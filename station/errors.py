"""Typed station errors.

Every failure the station reports carries a stable ``code`` (for the database,
reports and scripts) and a ``hint`` an operator can act on. The message never
contains secret material.
"""

from __future__ import annotations


class StationError(Exception):
    """Base of every error the station reports to a person or a script."""

    code: str = "STATION_ERROR"
    hint: str = "See the station log for details."

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(StationError):
    code = "CONFIG_INVALID"
    hint = "Fix station.ini (see the sample station.ini in the repository) and start again."


class ClaimError(StationError):
    code = "CLAIM_INVALID"
    hint = "Check the claim certificate, key and root CA files named in station.ini."


class CsrRejected(StationError):
    code = "CSR_REJECTED"
    hint = "Set this board aside and report it to engineering: its certificate request is not acceptable."
