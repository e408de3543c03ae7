"""Many slots at once: one thread per USB slot writing, the GUI thread reading."""

import hashlib
import threading

from records import Records, StepTiming

THREADS = 8
CYCLES = 50


def test_eight_slots_passing_fifty_boards_each_lose_nothing(db_path):
    errors: list[BaseException] = []
    writers_done = threading.Event()
    go = threading.Barrier(THREADS + 1)

    with Records(db_path) as records:
        records.open_batch("B1", "sensor-v2", THREADS * CYCLES, actor="alice")

        def slot(number: int) -> None:
            try:
                go.wait()
                for cycle in range(CYCLES):
                    serial = f"SN-{number}-{cycle:03d}"
                    attempt_id = records.start_attempt(
                        port=f"COM{number}",
                        station_id="ST-01",
                        operator="alice",
                        driver="reference",
                        batch="B1",
                    )
                    records.set_attempt_serial(attempt_id, serial)
                    records.finish_attempt_pass(
                        attempt_id,
                        serial=serial,
                        batch="B1",
                        product="sensor-v2",
                        device_key_sha256=hashlib.sha256(serial.encode()).hexdigest(),
                        claim_cert_sha256=hashlib.sha256(b"claim").hexdigest(),
                        station_id="ST-01",
                        operator="alice",
                        steps=[StepTiming("all", "2026-11-22T10:00:00.000Z", 1.0, True)],
                    )
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        def gui() -> None:
            try:
                go.wait()
                while not writers_done.is_set():
                    records.units(limit=20)
                    records.count_units(batch="B1")
                    records.attempts(limit=10)
                    records.count_pending_sync()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=slot, args=(n,)) for n in range(THREADS)]
        reader = threading.Thread(target=gui)
        for thread in [*threads, reader]:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        writers_done.set()
        reader.join(timeout=60)

        assert errors == []
        attempts = records.attempts()
        assert len(attempts) == THREADS * CYCLES
        assert {a.result for a in attempts} == {"pass"}
        assert len({a.id for a in attempts}) == THREADS * CYCLES
        assert records.count_units() == THREADS * CYCLES
        assert records.count_pending_sync() == THREADS * CYCLES
        verification = records.verify_audit()
        assert verification.ok, verification.problem
        assert verification.entries == 1 + THREADS * CYCLES  # batch.open + one unit.pass each
