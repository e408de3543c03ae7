"""The hash chain of the audit log, and how it is checked.

Each entry stores ``prev_hash`` (the ``hash`` of the entry before it, or :data:`GENESIS`
for the first) and::

    hash = sha256(prev_hash_hex_ascii + canonical_json(entry)).hexdigest()

where ``canonical_json`` is ``json.dumps`` of the object
``{"action", "actor", "at", "details", "id", "subject"}`` with sorted keys, no
whitespace, ``ensure_ascii=True`` and no NaN/Infinity, so the bytes hashed are plain ASCII
and anyone can recompute them in another language.

The newest entry's id and hash (the *head*) are also written to the ``meta`` table in the
same transaction as the entry. The checks below therefore catch:

* an entry whose fields were edited (its hash no longer matches);
* an entry deleted from the start or the middle (the next entry's ``prev_hash`` no longer
  matches the entry now before it);
* entries cut off the end (the log no longer ends at the recorded head);
* all of the above even after the append-only triggers were dropped.

Limits: the chain is only as trustworthy as the file. Someone with write access who
rewrites the tail (or everything) consistently, recomputing every hash and the head, is
not detectable from the file alone. Catching that needs an external anchor: copy the head
hash somewhere the station cannot rewrite (a printed batch report, the cloud, a ticket)
and compare later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .models import AuditVerification

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

HEAD_ID_KEY = "audit_head_id"
HEAD_HASH_KEY = "audit_head_hash"


def details_json(details: Mapping[str, Any] | None) -> str:
    """Serialise ``details`` the way they are stored and hashed.

    Raises ``TypeError``/``ValueError`` for anything JSON cannot represent exactly (sets,
    bytes, NaN), before anything is written.
    """
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise TypeError(f"audit details must be a mapping, not {type(details).__name__}")
    return json.dumps(
        dict(details), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def canonical_json(*, id: int, at: str, actor: str, action: str, subject: str, details: Any) -> str:
    return json.dumps(
        {
            "id": id,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def chain_hash(
    prev_hash: str, *, id: int, at: str, actor: str, action: str, subject: str, details: Any
) -> str:
    payload = canonical_json(
        id=id, at=at, actor=actor, action=action, subject=subject, details=details
    )
    return hashlib.sha256((prev_hash + payload).encode("ascii")).hexdigest()


def verify_chain(
    rows: Iterable[Mapping[str, Any]], head_id: int | None, head_hash: str | None
) -> AuditVerification:
    """Check ``rows`` (audit rows in id order, ``details`` as the stored JSON text) against
    the chain rule and the recorded head. Reports the first problem; ``entries`` counts
    every row."""
    problem: tuple[int, str] | None = None
    expected_prev = GENESIS
    count = 0
    last_id: int | None = None
    for row in rows:
        count += 1
        row_id = row["id"]
        if problem is None:
            problem = _check_row(row, expected_prev, last_id)
        expected_prev = row["hash"]
        last_id = row_id

    if problem is None:
        problem = _check_head(last_id, expected_prev, head_id, head_hash)
    if problem is None:
        return AuditVerification(ok=True, entries=count, first_bad_id=None, problem=None)
    return AuditVerification(ok=False, entries=count, first_bad_id=problem[0], problem=problem[1])


def _check_row(
    row: Mapping[str, Any], expected_prev: str, last_id: int | None
) -> tuple[int, str] | None:
    row_id = row["id"]
    try:
        recomputed = chain_hash(
            row["prev_hash"],
            id=row_id,
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            details=json.loads(row["details"]),
        )
    except (TypeError, ValueError) as exc:
        return row_id, f"entry {row_id} cannot be read back ({exc})"
    if recomputed != row["hash"]:
        return row_id, f"entry {row_id} was changed after it was written"
    if row["prev_hash"] != expected_prev:
        before = "the start of the log" if last_id is None else f"entry {last_id}"
        return row_id, (
            f"entry {row_id} does not follow {before}: an entry before it was removed or rewritten"
        )
    return None


def _check_head(
    last_id: int | None, last_hash: str, head_id: int | None, head_hash: str | None
) -> tuple[int, str] | None:
    if head_id is None or head_hash is None:
        if last_id is None:
            return None  # empty log, nothing written yet
        return last_id, "the log has entries but its recorded head is missing"
    if last_id is None or last_id < head_id:
        return (last_id or 0) + 1, (
            f"the log ends at entry {last_id or 0} but entry {head_id} was written: "
            "entries were removed from the end"
        )
    if last_id > head_id:
        return head_id + 1, (
            f"entries after entry {head_id} were added without moving the recorded head"
        )
    if last_hash != head_hash:
        return last_id, f"entry {last_id} does not match the recorded head of the log"
    return None
