"""A station database with batches of known outcomes, built through the records API with an
injected clock, and every figure their report must show.

Batch ``B1`` (product ``sensor-v2``, 10 planned), all times 2026-11-22 UTC:

=========  =====================================================  =================
serial     attempts                                               afterwards
=========  =====================================================  =================
SN001      PASS 10:00:00-10:00:30 (alice, ST-01, claim A)         synced
SN002      PASS 10:01:00-10:01:40 (bob, ST-02, claim A)           synced
SN003      FAIL BOARD_TIMEOUT 10:02:00-10:02:10, PASS 10:03:00-   synced
           10:03:50 (alice, ST-01, claim A)
SN004      FAIL CSR_REJECTED x3: 10:04, 10:05, 10:06 (20 s each)  never passed
SN005      PASS 11:00:00-11:01:00 (bob, ST-02, claim A)           revoked, synced
SN006      PASS 11:02:00-11:02:20 (alice, ST-01, claim B)         not synced
(none)     FAIL BOARD_TIMEOUT 11:05:00-11:05:05, no serial read
=========  =====================================================  =================

Batch ``B-EMPTY`` is open with no attempt.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from records import Records, StepTiming

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DAY = datetime(2026, 11, 22, tzinfo=UTC)
BATCH = "B1"
EMPTY_BATCH = "B-EMPTY"
PRODUCT = "sensor-v2"
REPORT_TIME = DAY.replace(hour=12)
REPORT_TIME_TEXT = "2026-11-22T12:00:00.000Z"


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


CLAIM_A = fingerprint("claim certificate A")
CLAIM_B = fingerprint("claim certificate B")


def device_key(serial: str) -> str:
    return fingerprint(f"device key of {serial}")


class ManualClock:
    """Returns the time it was last set to; the test moves it."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def set(self, hour: int, minute: int, second: int = 0) -> None:
        self.current = DAY.replace(hour=hour, minute=minute, second=second)

    def __call__(self) -> datetime:
        return self.current


def steps_for(start: datetime, durations: list[tuple[str, float, bool]]) -> list[StepTiming]:
    out = []
    at = start
    for name, ms, ok in durations:
        out.append(
            StepTiming(
                name=name,
                started_at=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                duration_ms=ms,
                ok=ok,
                error_code=None if ok else "X",
            )
        )
        at += timedelta(milliseconds=ms)
    return out


PASS_STEPS = {
    # read_serial, install_claim, generate_csr durations (ms) of each passing attempt
    "SN001": (100.0, 1000.0, 2000.0),
    "SN002": (110.0, 1100.0, 2500.0),
    "SN003": (120.0, 1200.0, 3000.0),
    "SN005": (130.0, 1300.0, 3500.0),
    "SN006": (140.0, 1400.0, 4000.0),
}
# Failed attempts record the steps done OK before the failing one (not counted).
FAIL_STEPS = {
    "BOARD_TIMEOUT": [("read_serial", 500.0, False)],
    "CSR_REJECTED": [("read_serial", 150.0, True), ("install_claim", 1500.0, True),
                     ("generate_csr", 9000.0, False)],
}


def _pass_steps(serial: str, start: datetime) -> list[StepTiming]:
    read, install, csr = PASS_STEPS[serial]
    return steps_for(
        start, [("read_serial", read, True), ("install_claim", install, True),
                ("generate_csr", csr, True)]
    )


PLAN = [
    # serial, operator, station, claim, attempts: (start, end, code or None)
    ("SN001", "alice", "ST-01", CLAIM_A, [((10, 0, 0), (10, 0, 30), None)]),
    ("SN002", "bob", "ST-02", CLAIM_A, [((10, 1, 0), (10, 1, 40), None)]),
    ("SN003", "alice", "ST-01", CLAIM_A,
     [((10, 2, 0), (10, 2, 10), "BOARD_TIMEOUT"), ((10, 3, 0), (10, 3, 50), None)]),
    ("SN004", "bob", "ST-02", CLAIM_A,
     [((10, 4, 0), (10, 4, 20), "CSR_REJECTED"), ((10, 5, 0), (10, 5, 20), "CSR_REJECTED"),
      ((10, 6, 0), (10, 6, 20), "CSR_REJECTED")]),
    ("SN005", "bob", "ST-02", CLAIM_A, [((11, 0, 0), (11, 1, 0), None)]),
    ("SN006", "alice", "ST-01", CLAIM_B, [((11, 2, 0), (11, 2, 20), None)]),
    (None, "alice", "ST-01", None, [((11, 5, 0), (11, 5, 5), "BOARD_TIMEOUT")]),
]
HINTS = {
    "BOARD_TIMEOUT": "Re-seat the cable and plug the board in again.",
    "CSR_REJECTED": "Set this board aside and report it to engineering.",
}


def build_known_database(path: Path) -> Path:
    clock = ManualClock(DAY.replace(hour=9))
    with Records(path, now=clock) as records:
        clock.set(9, 0)
        records.open_batch(BATCH, PRODUCT, 10, actor="qa-lead")
        records.open_batch(EMPTY_BATCH, PRODUCT, 5, actor="qa-lead")
        for serial, operator, station, claim, attempts in PLAN:
            for start, end, code in attempts:
                clock.set(*start)
                attempt_id = records.start_attempt(
                    port="COM3", station_id=station, operator=operator, driver="agent",
                    batch=BATCH,
                )
                if serial is not None:
                    records.set_attempt_serial(attempt_id, serial)
                clock.set(*end)
                if code is None:
                    records.finish_attempt_pass(
                        attempt_id, serial=serial, batch=BATCH, product=PRODUCT,
                        device_key_sha256=device_key(serial), claim_cert_sha256=claim,
                        station_id=station, operator=operator,
                        steps=_pass_steps(serial, DAY.replace(hour=start[0], minute=start[1])),
                    )
                else:
                    records.finish_attempt_fail(
                        attempt_id, error_code=code, error_detail=f"{code} happened",
                        hint=HINTS[code],
                        steps=steps_for(DAY.replace(hour=start[0], minute=start[1]),
                                        FAIL_STEPS[code]),
                    )
        clock.set(11, 10)
        records.revoke("SN005", actor="qa-lead", reason="dropped on the floor")
        records.mark_synced([("SN001", 1), ("SN002", 1), ("SN003", 1), ("SN005", 2)])
    return path


def drop_the_tally(path: Path) -> None:
    """The database as if it came from before schema version 4 (and was opened read-only):
    no tally of the batches' serials or of their attempts by hour."""
    with sqlite3.connect(path) as conn:
        for table in ("batch_serials", "batch_hours"):
            for trigger in ("on_insert", "on_update", "on_delete"):
                conn.execute(f"DROP TRIGGER {table}_{trigger}")
            conn.execute(f"DROP TABLE {table}")
    conn.close()


def report_clock() -> datetime:
    return REPORT_TIME


# -- what the report of B1 must say ---------------------------------------------------------

EXPECTED_COUNTS = {
    "attempts": 10,
    "attempts_passed": 5,
    "attempts_failed": 5,
    "attempts_aborted": 0,
    "attempts_running": 0,
    "attempts_without_serial": 1,
    "units_attempted": 6,
    "units_passed": 4,  # 5 passed, 1 of them revoked since: no PASS of the batch
    "units_failed": 1,
    "units_in_progress": 0,
    "units_retested": 2,
    "units_first_pass": 4,
    "allow_list_units": 5,
    "units_revoked": 1,
    "units_pending_sync": 1,
    "units_synced": 4,
    "first_pass_yield": round(4 / 6, 6),
    "final_yield": round(4 / 6, 6),
    "attempts_per_unit_mean": 1.5,
    "attempts_per_unit_max": 3,
    "units_provisioned": None,
}
EXPECTED_FAILURES = [
    # code, failed attempts, units, share, cumulative share, hint
    ("CSR_REJECTED", 3, 1, 0.6, 0.6, HINTS["CSR_REJECTED"]),
    ("BOARD_TIMEOUT", 2, 1, 0.4, 1.0, HINTS["BOARD_TIMEOUT"]),
]
# Passing attempts took 30, 40, 50, 60 and 20 s: nearest-rank p50 = 40 s, p95 = max = 60 s.
EXPECTED_UNIT_CYCLE = {"count": 5, "p50_ms": 40000.0, "p95_ms": 60000.0, "max_ms": 60000.0,
                       "mean_ms": 40000.0}
# Steps that finished OK: read_serial 100..140 (passes) + 150 x3 (CSR_REJECTED attempts);
# install_claim 1000..1400 + 1500 x3; generate_csr 2000..4000 (it failed in the others).
EXPECTED_STEPS = {
    "read_serial": {"count": 8, "p50_ms": 130.0, "p95_ms": 150.0, "max_ms": 150.0,
                    "mean_ms": round((100 + 110 + 120 + 130 + 140 + 3 * 150) / 8, 1)},
    "install_claim": {"count": 8, "p50_ms": 1300.0, "p95_ms": 1500.0, "max_ms": 1500.0,
                      "mean_ms": round((1000 + 1100 + 1200 + 1300 + 1400 + 3 * 1500) / 8, 1)},
    "generate_csr": {"count": 5, "p50_ms": 3000.0, "p95_ms": 4000.0, "max_ms": 4000.0,
                     "mean_ms": 3000.0},
}
EXPECTED_THROUGHPUT = [("2026-11-22T10:00Z", 7, 3), ("2026-11-22T11:00Z", 3, 2)]
EXPECTED_HEADER = {
    "batch": BATCH,
    "product": PRODUCT,
    "planned_quantity": 10,
    "opened_at": "2026-11-22T09:00:00.000Z",
    "opened_by": "qa-lead",
    "closed_at": None,
    "stations": ["ST-01", "ST-02"],
    "operators": ["alice", "bob"],
    "first_attempt_at": "2026-11-22T10:00:00.000Z",
    "last_attempt_at": "2026-11-22T11:05:05.000Z",
    "first_pass_at": "2026-11-22T10:00:30.000Z",
    "last_pass_at": "2026-11-22T11:02:20.000Z",
    "claim_certificates": [(CLAIM_A, 4), (CLAIM_B, 1)],
    "generated_at": REPORT_TIME_TEXT,
    "source": "station",
}
# serial: result, attempts, first_pass, status, key, first/last PASS, operator, station,
# sync state, last error code
EXPECTED_UNITS = {
    "SN001": ("pass", 1, True, "allowed", device_key("SN001"), "2026-11-22T10:00:30.000Z",
              "2026-11-22T10:00:30.000Z", "alice", "ST-01", "synced", None),
    "SN002": ("pass", 1, True, "allowed", device_key("SN002"), "2026-11-22T10:01:40.000Z",
              "2026-11-22T10:01:40.000Z", "bob", "ST-02", "synced", None),
    "SN003": ("pass", 2, False, "allowed", device_key("SN003"), "2026-11-22T10:03:50.000Z",
              "2026-11-22T10:03:50.000Z", "alice", "ST-01", "synced", None),
    "SN004": ("fail", 3, False, None, None, None, None, "bob", "ST-02", None, "CSR_REJECTED"),
    "SN005": ("pass", 1, True, "revoked", device_key("SN005"), "2026-11-22T11:01:00.000Z",
              "2026-11-22T11:01:00.000Z", "bob", "ST-02", "synced", None),
    "SN006": ("pass", 1, True, "allowed", device_key("SN006"), "2026-11-22T11:02:20.000Z",
              "2026-11-22T11:02:20.000Z", "alice", "ST-01", "pending", None),
}
UNIT_COLUMNS = ("result", "attempts", "first_pass", "status", "device_key_sha256",
                "first_pass_at", "last_pass_at", "operator", "station_id", "sync_state",
                "last_error_code")
