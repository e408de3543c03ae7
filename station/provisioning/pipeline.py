"""Provision one board: the named steps, their checks, and what PASS means.

A board is PASS only when every step below succeeded and was checked (see
docs/architecture.md). Any failure ends the attempt as FAIL with a stable code and an
operator hint; the unit row is written only by the last step, in the same
transaction as the attempt, so a FAIL never leaves an ``allowed`` unit behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flashing.board import Board, ClaimBundle, ClaimObject
from flashing.errors import BoardError, PortUnavailable, WrongProtocol
from records import DuplicateDeviceKey, Records, RecordsError, StepTiming, Unit, utc_now_iso
from station.allowlist_item import ItemRuleError, check_serial
from station.config import StationConfig
from station.errors import StationError, explain
from station.provisioning.boards import check_claim_fits, open_board
from station.provisioning.claim import ClaimCredentials
from station.provisioning.csr_policy import CheckedCsr, CsrPolicy, check_csr
from station.provisioning.events import (
    AttemptFinished,
    AttemptStarted,
    EventBus,
    SerialRead,
    StepFinished,
    StepStarted,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Step:
    """One checked step of provisioning, with its own options."""

    name: str
    retried: bool = False
    """Idempotent on the board, so a transient link error may be retried (``[timeouts]
    step_retries`` times)."""


PIPELINE = (
    Step("identify", retried=True),
    Step("read_serial", retried=True),
    Step("check_history"),
    Step("install_claim", retried=True),
    Step("verify", retried=True),
    Step("generate_csr"),
    Step("check_csr"),
    Step("commit", retried=True),
    Step("record"),
)
STEPS = tuple(step.name for step in PIPELINE)
"""The step names in order (what attempts record and the app shows as "step N of 9")."""

TRANSIENT_CODES = frozenset({"BOARD_BUSY"})
"""Errors a retried step can get past: a board still busy after the driver's own waits.
Not BOARD_TIMEOUT nor BOARD_FRAME_CORRUPT: the driver has already sent the request as often
as the protocol allows (docs/protocol.md, "Step retries"); the board is dead or its link is."""


NOT_RECORDED_HINT = (
    "NOT RECORDED: this board holds its claim and a new key, but the station could not record it, "
    "so the cloud will refuse it. Keep it apart and provision it again when the station is fixed."
)
"""Said first when the last step (recording the unit) fails after the board committed."""


PROTOCOL_DRIVERS = {"at": "nrf91", "agent": "agent"}
"""The protocol a board answered (:class:`flashing.errors.WrongProtocol`), as the ``[station] driver`` to set."""


@dataclass(frozen=True)
class ReprovisionOverride:
    """A supervisor's permission to provision an already provisioned serial again."""

    by: str
    reason: str


@dataclass(frozen=True)
class ProvisionRequest:
    port: str
    operator: str
    batch: str
    label: str | None = None
    override: ReprovisionOverride | None = None


@dataclass(frozen=True)
class ProvisionResult:
    attempt_id: int
    port: str
    serial: str | None
    passed: bool
    code: str | None
    hint: str | None
    detail: str | None
    steps: tuple[StepTiming, ...]
    duration_ms: float
    unit: Unit | None = None

    @property
    def result(self) -> str:
        return "PASS" if self.passed else "FAIL"


class StepFailed(Exception):
    def __init__(self, code: str, hint: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.hint = hint
        self.detail = detail


@dataclass
class _Run:
    request: ProvisionRequest
    attempt_id: int
    product: str
    board: Board | None = None
    serial: str | None = None
    csr_der: bytes | None = None
    csr: CheckedCsr | None = None
    steps: list[StepTiming] = field(default_factory=list)
    unit: Unit | None = None


class Provisioner:
    """Runs the provisioning steps for one board at a time (one instance per slot is fine)."""

    def __init__(
        self,
        config: StationConfig,
        records: Records,
        claim: ClaimCredentials,
        *,
        bus: EventBus | None = None,
        board_opener: Callable[[StationConfig, str], Board] = open_board,
    ) -> None:
        self.config = config
        self.records = records
        self.claim = claim
        self.bus = bus or EventBus()
        self._open_board = board_opener
        self._bundle = ClaimBundle(root_ca=claim.root_ca_pem, claim_cert=claim.cert_pem, claim_key=claim.key_pem)
        check_claim_fits(config, claim)
        self._policy = replace(CsrPolicy.from_names(config.key_types, config.min_rsa_bits),
                               only_common_name=config.driver == "agent")

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        """Provision the board on ``request.port``.

        The station's own mistakes raise :class:`StationError` before any attempt is
        recorded, so they never count as a board's FAIL in the batch: a closed or unknown
        batch, no label while ``require_label`` is set, a port that cannot be opened.
        """
        batch = self._open_batch(request.batch)
        if self.config.require_label and not request.label:
            raise StationError("no label was scanned for this board", code="LABEL_REQUIRED",
                               hint="Scan the board's label, then plug the board in again.")
        started = time.monotonic()
        try:
            board = self._open_board(self.config, request.port)
        except PortUnavailable as exc:
            raise StationError(exc.message, code=exc.code, hint=exc.hint) from None
        try:
            attempt_id = self.records.start_attempt(
                port=request.port,
                station_id=self.config.station_id,
                operator=request.operator,
                driver=self.config.driver,
                batch=batch.id,
                label=request.label,
            )
        except RecordsError as exc:
            board.close()
            explained = explain(exc)
            raise StationError(explained.message, code=explained.code, hint=explained.hint) from None
        except BaseException:
            board.close()
            raise
        run = _Run(request, attempt_id, batch.product, board=board)
        self.bus.publish(AttemptStarted(request.port, attempt_id, len(STEPS)))
        failure: StepFailed | None = None
        try:
            for index, step in enumerate(PIPELINE):
                self._run_step(run, index, step)
        except StepFailed as exc:
            failure = exc
        finally:
            if run.board is not None:
                run.board.close()
        return self._finish(run, failure, started)

    # -- the steps -------------------------------------------------------

    def _step_identify(self, run: _Run) -> None:
        if run.board is None:
            run.board = self._open_board(self.config, run.request.port)
        try:
            identity = run.board.identify()
        except WrongProtocol as exc:
            raise self._wrong_driver(exc) from None
        log.info("port %s: board %s firmware %s (%s)", run.request.port, identity.model, identity.firmware, identity.protocol)

    def _wrong_driver(self, exc: WrongProtocol) -> StepFailed:
        """The board answered the other protocol (the wrong ``[station] driver``, or another
        kind of board in this port): say which driver to set."""
        driver = PROTOCOL_DRIVERS.get(exc.spoken, exc.spoken)
        return StepFailed(
            "WRONG_DRIVER",
            f"This board speaks {'AT commands' if exc.spoken == 'at' else 'the agent protocol'}, not the "
            f"{self.config.driver} driver's: set [station] driver = {driver} in station.ini, or take it to "
            "the station for its kind of board.",
            f"no answer to the {self.config.driver} driver; the port answers {exc.spoken} ({driver})",
        )

    def _step_read_serial(self, run: _Run) -> None:
        assert run.board is not None
        serial = run.board.read_serial()
        try:
            check_serial(serial)
        except ItemRuleError as exc:
            raise StepFailed(exc.code, exc.hint, exc.message) from None
        if not self.config.serial_pattern.fullmatch(serial):
            raise StepFailed(
                "SERIAL_INVALID",
                "The board reports a malformed serial number. Set it aside for engineering.",
                f"serial {serial!r} does not match the configured pattern {self.config.serial_pattern.pattern!r}",
            )
        # Recorded before the label checks, so a rejected board can still be traced.
        run.serial = serial
        self.records.set_attempt_serial(run.attempt_id, serial)
        self.bus.publish(SerialRead(run.request.port, run.attempt_id, serial))
        label = run.request.label
        if self.config.require_label and not label:
            raise StepFailed("LABEL_REQUIRED", "Scan the board's label, then plug the board in again.", "no label scanned")
        if label and label != serial:
            raise StepFailed(
                "SERIAL_LABEL_MISMATCH",
                "The scanned label is not this board's. Check you scanned the board you plugged in.",
                f"label {label!r} but the board says {serial!r}",
            )

    def _step_check_history(self, run: _Run) -> None:
        assert run.serial is not None
        unit = self.records.get_unit(run.serial)
        if unit is None:
            return
        override = run.request.override
        if override is None:
            raise StepFailed(
                "SERIAL_ALREADY_PROVISIONED",
                f"Serial already provisioned on {unit.last_pass_at[:10]} in batch {unit.batch}. "
                "Take the board away; a supervisor can re-provision it with an override.",
                f"{run.serial} passed on {unit.last_pass_at} in batch {unit.batch} (status {unit.status})",
            )
        self.records.set_attempt_reprovision(run.attempt_id, override.by, override.reason)
        assert run.board is not None
        run.board.permit_reprovision()

    def _step_install_claim(self, run: _Run) -> None:
        assert run.board is not None
        run.board.install_claim_bundle(self._bundle)

    def _step_verify(self, run: _Run) -> None:
        assert run.board is not None
        stored = run.board.read_digests()
        wrong = [obj.value for obj in ClaimObject if stored.get(obj) != self._bundle.sha256(obj)]
        if wrong:
            raise StepFailed(
                "CLAIM_VERIFY_MISMATCH",
                "The board did not store what was sent. Reseat the cable and retry; if it repeats, set the board aside.",
                f"stored digest differs from the one sent for: {', '.join(wrong)}",
            )

    def _step_generate_csr(self, run: _Run) -> None:
        assert run.board is not None and run.serial is not None
        run.csr_der = run.board.generate_csr(run.serial)

    def _step_check_csr(self, run: _Run) -> None:
        assert run.serial is not None and run.csr_der is not None
        checked = check_csr(run.csr_der, run.serial, self._policy)
        run.csr = checked
        other = self.records.serial_for_device_key(checked.device_key_sha256, other_than=run.serial)
        if other is not None:
            log.error(
                "REPEATED DEVICE KEY: %s presented key %s already recorded for %s (broken RNG?)",
                run.serial, checked.device_key_sha256, other,
            )
            raise StepFailed(
                "DEVICE_KEY_REPEATED",
                f"STOP: this board's key was already used by board {other}. Its random number "
                "generator is broken. Quarantine the board and tell engineering.",
                f"device key {checked.device_key_sha256} already recorded for {other}",
            )
        previous = self.records.get_unit(run.serial)
        if previous is not None and previous.device_key_sha256 == checked.device_key_sha256:
            log.error("REPEATED DEVICE KEY: %s brought back the key of its earlier PASS", run.serial)
            raise StepFailed(
                "DEVICE_KEY_REPEATED",
                "STOP: re-provisioning must give the board a new key, and this board returned "
                "the key of its earlier PASS (its key generation did not run, or repeats). "
                "Quarantine the board and tell engineering.",
                f"device key {checked.device_key_sha256} is the one {run.serial} passed with on "
                f"{previous.last_pass_at}",
            )

    def _step_commit(self, run: _Run) -> None:
        assert run.board is not None
        run.board.commit()

    def _step_record(self, run: _Run) -> None:
        assert run.serial is not None and run.csr is not None
        try:
            run.unit = self.records.finish_attempt_pass(
                run.attempt_id,
                serial=run.serial,
                batch=run.request.batch,
                product=run.product,
                device_key_sha256=run.csr.device_key_sha256,
                claim_cert_sha256=self.claim.cert_sha256,
                station_id=self.config.station_id,
                operator=run.request.operator,
                steps=[*run.steps, StepTiming("record", utc_now_iso(), 0.0, True)],
            )
        except DuplicateDeviceKey as exc:
            raise StepFailed(
                "DEVICE_KEY_REPEATED",
                "STOP: this board's key was already used by another board. Quarantine it and tell engineering.",
                str(exc),
            ) from None

    # -- machinery ---------------------------------------------------------

    def _run_step(self, run: _Run, index: int, step: Step) -> None:
        port, name = run.request.port, step.name
        self.bus.publish(StepStarted(port, run.attempt_id, name, index, len(STEPS)))
        started_at = utc_now_iso()
        started = time.monotonic()
        retries = 0
        action = getattr(self, f"_step_{name}")
        while True:
            try:
                self._with_deadline(run, name, lambda: action(run))
                break
            except StepFailed as exc:
                failure = exc
            except BoardError as exc:
                failure = StepFailed(exc.code, exc.hint, exc.message)
            except StationError as exc:
                failure = StepFailed(exc.code, exc.hint, exc.message)
            except RecordsError as exc:
                explained = explain(exc)
                failure = StepFailed(explained.code, explained.hint, explained.message)
            except Exception as exc:
                log.exception("port %s: unexpected error in step %s", port, name)
                failure = StepFailed(
                    "INTERNAL_ERROR",
                    "Something unexpected went wrong. Retry once; if it repeats, call engineering (see the station log).",
                    f"{type(exc).__name__} in step {name}",
                )
            if step.retried and failure.code in TRANSIENT_CODES and retries < self.config.timeouts.step_retries:
                retries += 1
                log.warning("port %s: step %s failed (%s), retry %d", port, name, failure.code, retries)
                continue
            self._note_step(run, index, name, started_at, started, False, retries, failure.code)
            if name == "record":
                failure = StepFailed(failure.code, NOT_RECORDED_HINT + " " + failure.hint, failure.detail)
            raise failure
        if name != "record":
            self._note_step(run, index, name, started_at, started, True, retries, None)
        else:
            self.bus.publish(StepFinished(port, run.attempt_id, name, index, len(STEPS), True, 0.0))

    def _note_step(
        self, run: _Run, index: int, name: str, started_at: str, started: float, ok: bool, retries: int, code: str | None
    ) -> None:
        duration = (time.monotonic() - started) * 1000
        run.steps.append(StepTiming(name, started_at, round(duration, 1), ok, retries, code))
        self.bus.publish(StepFinished(run.request.port, run.attempt_id, name, index, len(STEPS), ok, duration))

    def _with_deadline(self, run: _Run, name: str, action: Callable[[], None]) -> None:
        """Run a step, but never longer than the configured step time.

        The board drivers bound every read; this is the last line of defence
        against a step that loops. On expiry the port is closed, which makes any
        blocked read fail, and the step ends as STEP_TIMEOUT.
        """
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                action()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=target, name=f"step-{name}-{run.request.port}", daemon=True)
        worker.start()
        worker.join(self.config.timeouts.step_seconds)
        if worker.is_alive():
            if run.board is not None:
                run.board.close()
            raise StepFailed(
                "STEP_TIMEOUT",
                "The board hung. Unplug it, plug it in again and retry.",
                f"step {name} took longer than {self.config.timeouts.step_seconds:g} s",
            )
        if "error" in outcome:
            raise outcome["error"]

    def _open_batch(self, batch_id: str) -> Any:
        batch = self.records.get_batch(batch_id)
        if batch is None:
            raise StationError(
                f"batch {batch_id!r} does not exist",
                code="BATCH_NOT_FOUND",
                hint=f"Open it first: station batch open {batch_id} --product PRODUCT --quantity N",
            )
        if batch.closed_at is not None:
            raise StationError(
                f"batch {batch_id!r} was closed on {batch.closed_at[:10]}",
                code="BATCH_CLOSED",
                hint="Open a new batch for further boards.",
            )
        return batch

    def _finish(self, run: _Run, failure: StepFailed | None, started: float) -> ProvisionResult:
        duration = (time.monotonic() - started) * 1000
        port = run.request.port
        if failure is None:
            log.info("port %s: PASS %s attempt %d in %.0f ms", port, run.serial, run.attempt_id, duration)
            result = ProvisionResult(
                run.attempt_id, port, run.serial, True, None, None, None, tuple(run.steps), duration, run.unit
            )
        else:
            try:
                self.records.finish_attempt_fail(
                    run.attempt_id,
                    error_code=failure.code,
                    error_detail=failure.detail,
                    hint=failure.hint,
                    steps=run.steps,
                    device_key_sha256=run.csr.device_key_sha256 if run.csr else None,
                )
            except RecordsError as exc:  # e.g. already marked aborted when the station stopped
                log.warning("port %s: could not record the FAIL of attempt %d: %s", port, run.attempt_id, exc)
            log.warning("port %s: FAIL %s %s: %s", port, run.serial or "(no serial)", failure.code, failure.detail)
            result = ProvisionResult(
                run.attempt_id, port, run.serial, False, failure.code, failure.hint, failure.detail, tuple(run.steps), duration
            )
        self.bus.publish(
            AttemptFinished(port, run.attempt_id, run.serial, result.passed, result.code, result.hint, result.detail, duration)
        )
        return result
