"""The immutable values :class:`records.Records` hands out.

They are plain frozen dataclasses so they can cross threads (runner to GUI) safely.
Timestamps are strings made by :func:`records.clock.iso_utc`. No field ever holds a
secret: keys and certificates appear only as hex SHA-256 fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNIT_STATUSES = ("allowed", "revoked")
ATTEMPT_RESULTS = ("running", "pass", "fail", "aborted")
ROLES = ("operator", "qa", "supervisor")


@dataclass(frozen=True)
class StepTiming:
    """How one pipeline step went: stored with the attempt as JSON."""

    name: str
    started_at: str
    duration_ms: float
    ok: bool
    retries: int = 0
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "ok": self.ok,
            "retries": self.retries,
            "error_code": self.error_code,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepTiming:
        return cls(
            name=data["name"],
            started_at=data["started_at"],
            duration_ms=float(data["duration_ms"]),
            ok=bool(data["ok"]),
            retries=int(data.get("retries", 0)),
            error_code=data.get("error_code"),
        )


@dataclass(frozen=True)
class Batch:
    id: str
    product: str
    planned_quantity: int
    opened_at: str
    opened_by: str
    closed_at: str | None
    closed_by: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Unit:
    """One row of the allow-list.

    ``rev`` is the station's revision of the row: it goes up by one on every change the
    cloud must learn about (pass, revoke, unrevoke). ``synced_rev`` is the highest rev the
    DynamoDB sync has confirmed, so the row is pending while ``synced_rev < rev``.
    """

    serial: str
    batch: str
    product: str
    status: str  # 'allowed' | 'revoked'
    device_key_sha256: str
    claim_cert_sha256: str
    station_id: str
    operator: str
    first_pass_at: str
    last_pass_at: str
    rev: int
    synced_rev: int
    revoked_reason: str | None
    updated_at: str


@dataclass(frozen=True)
class Attempt:
    """One try at provisioning a board, kept whatever its outcome."""

    id: int
    serial: str | None
    batch: str | None
    port: str
    station_id: str
    operator: str
    driver: str
    label: str | None
    result: str  # 'running' | 'pass' | 'fail' | 'aborted'
    error_code: str | None
    error_detail: str | None
    hint: str | None
    device_key_sha256: str | None
    reprovision_by: str | None
    reprovision_reason: str | None
    steps: tuple[StepTiming, ...]
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """Result of :meth:`records.Records.verify_audit`.

    ``first_bad_id`` is the first entry that does not check out; for entries missing at
    the end of the log it is the first missing id.
    """

    ok: bool
    entries: int
    first_bad_id: int | None
    problem: str | None
    damaged: bool = False
    """The log could not be read at all (a damaged database file or disk), which says
    nothing about tampering either way."""


@dataclass(frozen=True)
class User:
    name: str
    role: str  # 'operator' | 'qa' | 'supervisor'
    created_at: str


@dataclass(frozen=True)
class LabelRecord:
    """One label job: asked for (``requested``), not taken by the printer yet (``queued``,
    with the printer's ``last_code``) or ``printed``."""

    job_id: str
    serial: str
    kind: str  # 'label' | 'reprint' | 'reject'
    requested_by: str
    requested_at: str
    state: str  # 'requested' | 'queued' | 'printed'
    attempts: int
    last_code: str | None
    printed_at: str | None
