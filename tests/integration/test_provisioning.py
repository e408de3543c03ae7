"""Provisioning boards end to end: ``Provisioner`` against simulated boards on real ptys.

What PASS means (docs/architecture.md) as executable statements: every step checked, the
allow-list row and the attempt recorded together, and a FAIL never leaving an
``allowed`` row behind unless an earlier PASS of the same board put it there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from integration_harness import ini_set

from flashing.protocol import Command, ObjectId
from flashing.sim import SimulatedBoard
from station.config import load_config
from station.context import Station
from station.errors import StationError
from station.provisioning.boards import open_board
from station.provisioning.events import (
    AttemptFinished,
    AttemptStarted,
    EventBus,
    SerialRead,
    StepFinished,
    StepStarted,
)
from station.provisioning.pipeline import (
    Provisioner,
    ProvisionRequest,
    ProvisionResult,
    ReprovisionOverride,
)

STEP_NAMES = [
    "identify",
    "read_serial",
    "check_history",
    "install_claim",
    "verify",
    "generate_csr",
    "check_csr",
    "commit",
    "record",
]

Boards = Callable[..., list[SimulatedBoard]]

# -- helpers -------------------------------------------------------------------------


def make_provisioner(station: Station, **kwargs: object) -> Provisioner:
    return Provisioner(station.config, station.records, station.claim(), **kwargs)  # type: ignore[arg-type]


def impatient_provisioner(station: Station) -> Provisioner:
    """A provisioner whose station.ini waits only 0.15 s for an answer: stalls end sooner."""
    ini_set(station.config.path, "timeouts", "answer_seconds", "0.15")
    return Provisioner(load_config(station.config.path), station.records, station.claim())


def provision(
    station: Station,
    board: SimulatedBoard,
    *,
    provisioner: Provisioner | None = None,
    **request: object,
) -> ProvisionResult:
    request.setdefault("batch", "B1")
    request.setdefault("operator", "tester")
    provisioner = provisioner or make_provisioner(station)
    return provisioner.provision(ProvisionRequest(port=board.port, **request))  # type: ignore[arg-type]


def spki_sha256(board: SimulatedBoard) -> str:
    key = board.model.state.device_key
    assert key is not None, "the board made no key"
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def station_log(station: Station) -> str:
    return (station.config.log_dir / "station.log").read_text(encoding="utf-8")


# -- a clean batch -------------------------------------------------------------------


@pytest.fixture
def clean_batch(station: Station, boards: Boards) -> tuple[list[SimulatedBoard], list[ProvisionResult]]:
    sims = boards(5)
    provisioner = make_provisioner(station)
    results = [provision(station, sim, provisioner=provisioner) for sim in sims]
    return sims, results


def test_clean_batch_of_five_boards_all_pass(clean_batch, station):
    sims, results = clean_batch

    assert [r.result for r in results] == ["PASS"] * 5
    assert [r.serial for r in results] == [s.serial for s in sims]
    assert all(r.code is None and r.hint is None for r in results)


def test_clean_batch_puts_five_allowed_units_in_the_batch(clean_batch, station):
    sims, _ = clean_batch

    units = station.records.units(batch="B1")

    assert sorted(u.serial for u in units) == [s.serial for s in sims]
    assert {u.status for u in units} == {"allowed"}
    assert {(u.product, u.station_id, u.operator, u.rev) for u in units} == {("GW", "DEMO-STATION-1", "tester", 1)}


def test_each_unit_records_the_sha256_of_the_public_key_the_board_generated(clean_batch, station):
    sims, _ = clean_batch

    for sim in sims:
        unit = station.records.get_unit(sim.serial)
        assert unit is not None
        assert unit.device_key_sha256 == spki_sha256(sim)
    assert len({station.records.get_unit(s.serial).device_key_sha256 for s in sims}) == 5


def test_each_unit_records_the_claim_certificate_fingerprint(clean_batch, station):
    sims, _ = clean_batch
    cert = x509.load_pem_x509_certificate(station.config.claim.certificate.read_bytes())
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    assert station.claim().cert_sha256 == fingerprint
    assert {station.records.get_unit(s.serial).claim_cert_sha256 for s in sims} == {fingerprint}


def test_each_pass_keeps_an_attempt_with_the_nine_step_timings_in_order(clean_batch, station):
    sims, results = clean_batch

    attempts = sorted(station.records.attempts(batch="B1"), key=lambda a: a.id)

    assert [a.id for a in attempts] == [r.attempt_id for r in results]
    for attempt, sim in zip(attempts, sims, strict=True):
        assert attempt.result == "pass"
        assert attempt.serial == sim.serial
        assert attempt.error_code is None
        assert attempt.finished_at is not None
        assert attempt.device_key_sha256 == spki_sha256(sim)
        assert [s.name for s in attempt.steps] == STEP_NAMES
        assert all(s.ok and s.error_code is None and s.duration_ms >= 0 for s in attempt.steps)


def test_each_pass_is_in_the_audit_log_as_unit_pass(clean_batch, station):
    sims, results = clean_batch

    for sim, result in zip(sims, results, strict=True):
        entries = [e for e in station.records.audit_entries(subject=sim.serial) if e.action == "unit.pass"]
        assert len(entries) == 1
        assert entries[0].actor == "tester"
        assert entries[0].details["attempt_id"] == result.attempt_id
        assert entries[0].details["device_key_sha256"] == spki_sha256(sim)
    assert station.records.verify_audit().ok


def test_each_board_stores_exactly_the_claim_bundle_and_is_committed(clean_batch, station):
    sims, _ = clean_batch
    claim = station.claim()
    bundle = {ObjectId.ROOT_CA: claim.root_ca_pem, ObjectId.CLAIM_CERT: claim.cert_pem, ObjectId.CLAIM_KEY: claim.key_pem}

    for sim in sims:
        assert sim.model.state.objects == bundle
        assert sim.model.state.committed


# -- faults ----------------------------------------------------------------------------

PROTOCOL_STEPS = ["hello", "read_serial", "write_begin", "write_chunk", "write_end", "read_digest", "keygen", "get_csr", "commit"]
STEP_OF_COMMAND = {
    "hello": "identify",
    "read_serial": "read_serial",
    "write_begin": "install_claim",
    "write_chunk": "install_claim",
    "write_end": "install_claim",
    "read_digest": "verify",
    "keygen": "generate_csr",
    "get_csr": "generate_csr",
    "commit": "commit",
}
FAULTS = [
    *[pytest.param(f"drop@{c}", "BOARD_DISCONNECTED", STEP_OF_COMMAND[c], id=f"drop@{c}") for c in PROTOCOL_STEPS],
    pytest.param("stall@hello", "BOARD_TIMEOUT", "identify", id="stall@hello"),
    pytest.param("stall@keygen", "BOARD_TIMEOUT", "generate_csr", id="stall@keygen"),
    pytest.param("stall@commit", "BOARD_TIMEOUT", "commit", id="stall@commit"),
    pytest.param("corrupt@read_serial", "BOARD_FRAME_CORRUPT", "read_serial", id="corrupt@read_serial"),
    pytest.param("garbage@hello", "BOARD_FRAME_CORRUPT", "identify", id="garbage@hello"),
    pytest.param("refuse@commit", "BOARD_REFUSED", "commit", id="refuse@commit"),
    pytest.param("storage-full", "BOARD_STORAGE_FULL", "install_claim", id="storage-full"),
    pytest.param("keygen-fail", "BOARD_KEYGEN_FAILED", "generate_csr", id="keygen-fail"),
    pytest.param("wrong-cn", "CSR_CN_MISMATCH", "check_csr", id="wrong-cn"),
    pytest.param("bad-signature", "CSR_BAD_SIGNATURE", "check_csr", id="bad-signature"),
    pytest.param("bad-digest", "CLAIM_VERIFY_MISMATCH", "verify", id="bad-digest"),
    pytest.param("bad-serial", "SERIAL_INVALID", "read_serial", id="bad-serial"),
]


@pytest.mark.parametrize(("fault", "code", "failed_step"), FAULTS)
def test_fault_ends_in_fail_with_its_code_and_nothing_allowed(station, boards, fault, code, failed_step):
    sim = boards(1, faults={0: [fault]})[0]

    result = provision(station, sim)

    # Whatever the code, a FAIL is a FAIL: recorded, with a hint, and nothing allowed.
    assert not result.passed
    assert result.hint and result.hint.strip()
    attempt = station.records.get_attempt(result.attempt_id)
    assert attempt.result == "fail"
    assert attempt.error_code == result.code
    assert attempt.hint == result.hint
    assert attempt.finished_at is not None
    assert station.records.get_unit(sim.serial) is None
    assert station.records.units() == []
    assert not sim.model.state.committed
    assert result.code == code
    assert result.steps[-1].name == failed_step
    assert not result.steps[-1].ok
    assert result.steps[-1].error_code == code
    assert all(step.ok for step in result.steps[:-1])


def test_board_unplugged_right_after_its_port_opened_fails_board_disconnected(station, boards):
    """The cable is pulled before the first request: pyserial's termios errors count as a drop."""
    sim = boards(1)[0]

    def open_then_pull_cable(config, port):
        board = open_board(config, port)
        sim.unplug()
        return board

    result = provision(station, sim, provisioner=make_provisioner(station, board_opener=open_then_pull_cable))

    assert not result.passed
    assert result.code == "BOARD_DISCONNECTED"
    assert result.steps[-1].name == "identify"
    assert station.records.get_unit(sim.serial) is None


# -- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "step", "retried"),
    [
        pytest.param("corrupt@hello", "identify", False, id="a-corrupt-link-is-not-retried"),
        pytest.param("corrupt@read_serial", "read_serial", False, id="read_serial-corrupt-is-not-retried"),
        pytest.param("stall@hello", "identify", False, id="a-dead-board-is-not-retried"),
        pytest.param("stall@commit", "commit", False, id="a-board-dead-at-commit-is-not-retried"),
        pytest.param("corrupt@keygen", "generate_csr", False, id="generate_csr-is-not-retried"),
        pytest.param("stall@get_csr", "generate_csr", False, id="generate_csr-after-keygen-is-not-retried"),
    ],
)
def test_a_step_is_not_repeated_after_the_protocol_gave_up(station, boards, fault, step, retried):
    sim = boards(1, faults={0: [fault]})[0]

    result = provision(station, sim, provisioner=impatient_provisioner(station))

    assert not result.passed
    failed = result.steps[-1]
    assert failed.name == step
    assert failed.retries == (station.config.timeouts.step_retries if retried else 0)


def test_a_dead_or_garbled_board_gets_the_protocols_sends_and_no_more(station, boards):
    hello_garbled, hello_dead, keygen_stalls = boards(
        3, faults={0: ["corrupt@hello"], 1: ["stall@hello"], 2: ["stall@keygen"]})
    timeouts = station.config.timeouts
    tries_per_request = 1 + timeouts.retries

    provisioner = impatient_provisioner(station)
    for sim in (hello_garbled, hello_dead, keygen_stalls):
        provision(station, sim, provisioner=provisioner)

    # The protocol's tries are the only retries of a request: "4 sends in all".
    assert hello_garbled.requests_seen.count(Command.HELLO) == tries_per_request
    assert hello_dead.requests_seen.count(Command.HELLO) == tries_per_request
    # KEYGEN only ever went out as retransmissions of the one request (same seq, which the
    # board answers from its cache); the step never asked the board for a second key.
    assert keygen_stalls.requests_seen.count(Command.KEYGEN) == tries_per_request


def test_one_corrupt_answer_is_recovered_by_retransmission_and_the_board_passes(station, boards):
    clean, damaged = boards(2, faults={1: ["corrupt-once@write_chunk"]})

    clean_result = provision(station, clean)
    result = provision(station, damaged)

    assert clean_result.passed
    assert result.passed
    assert damaged.requests_seen.count(Command.WRITE_CHUNK) == clean.requests_seen.count(Command.WRITE_CHUNK) + 1
    assert damaged.model.state.objects == clean.model.state.objects
    unit = station.records.get_unit(damaged.serial)
    assert unit is not None and unit.status == "allowed"


# -- labels ------------------------------------------------------------------------------


def test_a_scanned_label_that_matches_the_board_passes(station, boards):
    sim = boards(1)[0]

    result = provision(station, sim, label=sim.serial)

    assert result.passed
    assert station.records.get_attempt(result.attempt_id).label == sim.serial


def test_a_scanned_label_of_another_board_fails_before_anything_is_written(station, boards):
    sim = boards(1)[0]

    result = provision(station, sim, label="SIM999999")

    assert result.code == "SERIAL_LABEL_MISMATCH"
    assert result.hint
    assert result.steps[-1].name == "read_serial"
    assert Command.WRITE_BEGIN not in sim.requests_seen
    assert station.records.get_unit(sim.serial) is None


def test_without_a_label_when_the_ini_requires_one_is_refused_before_any_attempt(station, boards):
    ini_set(station.config.path, "serial", "require_label", "yes")
    config = load_config(station.config.path)
    assert config.require_label
    sim = boards(1)[0]
    provisioner = Provisioner(config, station.records, station.claim())

    with pytest.raises(StationError) as refused:
        provision(station, sim, provisioner=provisioner)

    assert refused.value.code == "LABEL_REQUIRED"
    assert refused.value.hint
    assert sim.requests_seen == []
    assert station.records.attempts() == []
    assert station.records.get_unit(sim.serial) is None


def test_a_port_that_cannot_be_opened_is_refused_without_an_attempt_in_the_batch(station):
    provisioner = make_provisioner(station)

    with pytest.raises(StationError) as refused:
        provisioner.provision(ProvisionRequest(port="/dev/no-such-port", operator="tester", batch="B1"))

    assert refused.value.code == "PORT_UNAVAILABLE"
    assert station.records.attempts() == []


# -- re-provisioning ---------------------------------------------------------------------


def test_provisioning_a_provisioned_serial_again_is_refused_with_date_and_batch(station, boards):
    sim = boards(1)[0]
    assert provision(station, sim).passed
    unit = station.records.get_unit(sim.serial)
    seen_before = len(sim.requests_seen)

    again = provision(station, sim)

    assert again.code == "SERIAL_ALREADY_PROVISIONED"
    assert unit.last_pass_at[:10] in again.hint
    assert "B1" in again.hint
    assert station.records.get_unit(sim.serial) == unit
    assert not {Command.WRITE_BEGIN, Command.KEYGEN, Command.COMMIT} & set(sim.requests_seen[seen_before:])


def test_reprovisioning_with_a_supervisor_override_passes_and_bumps_the_unit_rev(station, boards):
    sim = boards(1)[0]
    assert provision(station, sim).passed
    first = station.records.get_unit(sim.serial)
    assert provision(station, sim).code == "SERIAL_ALREADY_PROVISIONED"

    result = provision(station, sim, override=ReprovisionOverride(by="sup", reason="rework"))

    assert result.passed
    unit = station.records.get_unit(sim.serial)
    assert unit.rev == first.rev + 1
    assert unit.status == "allowed"
    assert unit.first_pass_at == first.first_pass_at
    assert unit.device_key_sha256 == spki_sha256(sim) != first.device_key_sha256
    attempt = station.records.get_attempt(result.attempt_id)
    assert (attempt.reprovision_by, attempt.reprovision_reason) == ("sup", "rework")


def test_a_reprovision_override_is_in_the_audit_log_with_who_and_why(station, boards):
    sim = boards(1)[0]
    assert provision(station, sim).passed

    result = provision(station, sim, override=ReprovisionOverride(by="sup", reason="rework"))

    entries = station.records.audit_entries(subject=sim.serial)
    overrides = [e for e in entries if e.action == "unit.reprovision_override"]
    assert len(overrides) == 1
    assert overrides[0].actor == "sup"
    assert overrides[0].details["reason"] == "rework"
    assert overrides[0].details["attempt_id"] == result.attempt_id
    passes = [e for e in entries if e.action == "unit.pass"]
    assert [e.details["reprovision_by"] for e in passes] == [None, "sup"]
    assert station.records.verify_audit().ok


@pytest.mark.parametrize("fault", ["keygen-fail", "wrong-cn", "refuse@commit"])
def test_a_failed_reprovision_leaves_the_earlier_allowed_row_as_it_was(station, boards, fault):
    sim = boards(1)[0]
    assert provision(station, sim).passed
    before = station.records.get_unit(sim.serial)
    same_board_now_faulty = boards(1, first_number=1, faults={0: [fault]})[0]
    assert same_board_now_faulty.serial == sim.serial

    result = provision(station, same_board_now_faulty, override=ReprovisionOverride(by="sup", reason="rework"))

    assert not result.passed
    assert station.records.get_unit(sim.serial) == before
    assert before.status == "allowed" and before.rev == 1


# -- a repeated device key -----------------------------------------------------------------


@pytest.fixture
def repeated_key(station: Station, boards: Boards) -> tuple[list[SimulatedBoard], list[ProvisionResult]]:
    sims = boards(2, faults={0: ["reuse-key"], 1: ["reuse-key"]})
    provisioner = make_provisioner(station)
    return sims, [provision(station, sim, provisioner=provisioner) for sim in sims]


def test_a_repeated_device_key_passes_the_first_board_and_fails_the_second(repeated_key, station):
    (first, second), (first_result, second_result) = repeated_key

    assert first_result.passed
    assert second_result.code == "DEVICE_KEY_REPEATED"
    assert second_result.steps[-1].name == "check_csr"
    assert station.records.get_unit(second.serial) is None
    assert [u.serial for u in station.records.units()] == [first.serial]
    assert not second.model.state.committed


def test_a_repeated_device_key_hint_says_to_quarantine_and_names_the_other_board(repeated_key):
    (first, _), (_, second_result) = repeated_key

    assert "quarantine" in second_result.hint.lower()
    assert first.serial in second_result.hint


def test_a_repeated_device_key_keeps_the_key_with_the_failed_attempt(repeated_key, station):
    (first, _), (_, second_result) = repeated_key

    attempt = station.records.get_attempt(second_result.attempt_id)

    assert attempt.device_key_sha256 == station.records.get_unit(first.serial).device_key_sha256


def test_a_repeated_device_key_writes_a_loud_error_line_to_the_station_log(repeated_key, station):
    (first, second), _ = repeated_key

    errors = [line for line in station_log(station).splitlines() if " ERROR " in line and "REPEATED DEVICE KEY" in line]

    assert errors
    assert first.serial in errors[-1] and second.serial in errors[-1]


# -- batches -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "code"),
    [pytest.param("NO-SUCH-BATCH", "BATCH_NOT_FOUND", id="missing"), pytest.param("B-CLOSED", "BATCH_CLOSED", id="closed")],
)
def test_provisioning_into_a_missing_or_closed_batch_is_refused_before_touching_the_board(station, boards, batch, code):
    station.records.open_batch("B-CLOSED", "GW", 10, "tester")
    station.records.close_batch("B-CLOSED", "tester")
    sim = boards(1)[0]

    with pytest.raises(StationError) as raised:
        provision(station, sim, batch=batch)

    assert raised.value.code == code
    assert raised.value.hint
    assert sim.requests_seen == []
    assert station.records.attempts() == []


# -- events ----------------------------------------------------------------------------------


def test_a_pass_publishes_attempt_steps_serial_and_finish_events_in_order(station, boards):
    sim = boards(1)[0]
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)

    result = provision(station, sim, provisioner=make_provisioner(station, bus=bus))

    expected: list[tuple[type, str | None]] = [(AttemptStarted, None)]
    for name in STEP_NAMES:
        expected.append((StepStarted, name))
        if name == "read_serial":
            expected.append((SerialRead, None))
        expected.append((StepFinished, name))
    expected.append((AttemptFinished, None))
    assert [(type(e), getattr(e, "step", None)) for e in events] == expected
    assert {(e.port, e.attempt_id) for e in events} == {(sim.port, result.attempt_id)}  # type: ignore[attr-defined]
    steps_finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.index for e in steps_finished] == list(range(9))
    assert all(e.ok and e.total_steps == 9 for e in steps_finished)
    serial_read = next(e for e in events if isinstance(e, SerialRead))
    assert serial_read.serial == sim.serial
    finished = events[-1]
    assert isinstance(finished, AttemptFinished)
    assert (finished.passed, finished.serial, finished.code) == (True, sim.serial, None)
