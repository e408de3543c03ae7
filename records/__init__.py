"""The station's SQLite database: batches, the allow-list, attempts, the audit log,
sync bookkeeping and users. Imports nothing else of ours and no Qt.

Start at :class:`Records` (``records/db.py``). The schema and its migrations are in
``records/schema.py``; the audit hash chain in ``records/audit.py``.
"""

from .clock import iso_utc, utc_now_iso
from .db import Records
from .errors import (
    AttemptNotFound,
    AttemptNotOpen,
    BatchClosed,
    BatchExists,
    BatchNotFound,
    DatabaseCorrupt,
    DatabaseFull,
    DatabaseIOError,
    DatabaseLocked,
    DatabaseReadOnly,
    DuplicateDeviceKey,
    RecordsError,
    SchemaTooNew,
    UnitNotFound,
    UserExists,
    UserNotFound,
)
from .models import Attempt, AuditEntry, AuditVerification, Batch, StepTiming, Unit, User

__all__ = [
    "Attempt",
    "AttemptNotFound",
    "AttemptNotOpen",
    "AuditEntry",
    "AuditVerification",
    "Batch",
    "BatchClosed",
    "BatchExists",
    "BatchNotFound",
    "DatabaseCorrupt",
    "DatabaseFull",
    "DatabaseIOError",
    "DatabaseReadOnly",
    "DatabaseLocked",
    "DuplicateDeviceKey",
    "Records",
    "RecordsError",
    "SchemaTooNew",
    "StepTiming",
    "Unit",
    "UnitNotFound",
    "User",
    "UserExists",
    "UserNotFound",
    "iso_utc",
    "utc_now_iso",
]
