"""The fault campaign (issue 9, part 1): many simulated board sessions with random faults.

Used by ``tests/campaign/test_campaign_faults.py`` (short and long runs) and by
``bench/campaign_faults.py`` (prints the figures). Everything is real: simulated boards
on pseudo-terminals (agent boards and nRF91 modems), the station's own drivers over
pyserial, the :class:`~station.provisioning.runner.LineRunner` running 8-16 ports at once, and the
real SQLite database.

A campaign is a *plan* drawn from one seed (so a failure can be replayed with
``CAMPAIGN_SEED``), run round by round, then judged twice:

* per session, right after its round: did it end as its faults predict (PASS only when
  every fault is one the protocol recovers from), and, for every PASS, does the allow-list
  row describe what the simulated board really holds (its public key, the claim objects);
* once at the end, on the database: no open attempt, one attempt per session, no orphan
  unit, no attempt in a batch that does not exist, foreign keys and the audit chain intact.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from flashing.board import ClaimBundle, ClaimObject
from flashing.protocol import Command, ObjectId
from flashing.sim import start_boards, start_nrf91_modems
from flashing.sim.keys import reused_key
from station.context import Station
from station.provisioning.events import EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner

SEED_ENV = "CAMPAIGN_SEED"

# -- the fault catalogue --------------------------------------------------------------------

AGENT_STEPS = tuple(command.name.lower() for command in Command)
"""Every agent command; a full session sends each of them at least once."""
AGENT_STEP_KINDS = ("drop", "stall", "corrupt", "corrupt-once", "garbage", "refuse")
AGENT_PLAIN_FAIL = (
    "storage-full", "keygen-fail", "wrong-cn", "reuse-key", "bad-signature", "bad-digest", "bad-serial",
)  # fmt: skip

NRF91_STEPS = ("at", "cmee", "cgmm", "cgmr", "cgsn", "cfun", "cmng", "cmng_list", "cmng_write", "keygen")
"""The AT fault steps a full nRF91 session always reaches (IMEI as serial, empty modem).
``deviceuuid``, ``xmodemuuid``, ``cmng_read`` and ``cmng_delete`` are not always sent, so a
fault there would say nothing."""
NRF91_STEP_KINDS = ("drop", "stall", "garbage", "refuse", "flood", "cme")
NRF91_CME_CODES = (50, 513, 514, 515, 518, 519, 523, 528, 999)
NRF91_PLAIN_FAIL = (
    "storage-full", "keygen-fail", "wrong-cn", "reuse-key", "bad-signature", "bad-digest", "bad-serial",
    "stay-online",
)  # fmt: skip
NRF91_PLAIN_PASS = ("echo", "urc", "lf-only", "explicit-null", "key-present", "no-deviceuuid")
"""Modem quirks the driver must cope with: a modem with only these is expected to PASS."""

RECOVERABLE_KINDS = {"agent": frozenset({"corrupt-once"}), "nrf91": frozenset(NRF91_PLAIN_PASS)}
"""Faults after which the session must still PASS (the protocol recovers, or it is a quirk)."""
SLOW_KINDS = frozenset({"stall"})
"""Faults that cost (retries x timeout): such sessions are packed into rounds of their own."""

# The FAIL code a session with exactly one fault must end with.
AGENT_CODES: dict[str, frozenset[str]] = {
    "drop": frozenset({"BOARD_DISCONNECTED"}),
    "stall": frozenset({"BOARD_TIMEOUT"}),
    "corrupt": frozenset({"BOARD_FRAME_CORRUPT"}),
    "garbage": frozenset({"BOARD_FRAME_CORRUPT", "BOARD_FRAME_TOO_LONG"}),
    "refuse": frozenset({"BOARD_REFUSED"}),
    "storage-full": frozenset({"BOARD_STORAGE_FULL"}),
    "keygen-fail": frozenset({"BOARD_KEYGEN_FAILED"}),
    "wrong-cn": frozenset({"CSR_CN_MISMATCH"}),
    "reuse-key": frozenset({"DEVICE_KEY_REPEATED"}),
    "bad-signature": frozenset({"CSR_BAD_SIGNATURE"}),
    "bad-digest": frozenset({"CLAIM_VERIFY_MISMATCH"}),
    "bad-serial": frozenset({"SERIAL_INVALID"}),
}
NRF91_CODES: dict[str, frozenset[str]] = {
    "drop": frozenset({"BOARD_DISCONNECTED"}),
    "stall": frozenset({"BOARD_TIMEOUT"}),
    "garbage": frozenset({"BOARD_FRAME_CORRUPT"}),
    "flood": frozenset({"BOARD_FRAME_TOO_LONG"}),
    "refuse": frozenset({"BOARD_AT_ERROR", "BOARD_CME_514"}),
    "storage-full": frozenset({"BOARD_CME_515"}),
    "keygen-fail": frozenset({"BOARD_CME_523"}),
    "wrong-cn": frozenset({"CSR_CN_MISMATCH"}),
    "reuse-key": frozenset({"DEVICE_KEY_REPEATED"}),
    "bad-signature": frozenset({"CSR_BAD_SIGNATURE"}),
    "bad-digest": frozenset({"BOARD_DIGEST_MISMATCH"}),
    "bad-serial": frozenset({"BOARD_BAD_IDENTITY"}),
    "stay-online": frozenset({"BOARD_NOT_OFFLINE"}),
}


def fault_kind(fault: str) -> str:
    kind = fault.partition("@")[0]
    return "cme" if kind.startswith("cme-") else kind


def fault_step(fault: str) -> str | None:
    return fault.partition("@")[2] or None


def expected_codes(driver: str, fault: str) -> frozenset[str]:
    """The FAIL codes a session whose only fault is ``fault`` may end with."""
    kind = fault_kind(fault)
    if driver == "agent":
        return AGENT_CODES[kind]
    if kind == "cme":
        code = int(fault.partition("@")[0].removeprefix("cme-"))
        # Until AT+CMEE=1 the modem answers a plain ERROR; an empty %CMNG list (513) is
        # accepted as "nothing stored", so the write is found missing afterwards.
        codes = {f"BOARD_CME_{code}", "BOARD_AT_ERROR"}
        if code == 513:
            codes.add("BOARD_CLAIM_OBJECT_MISSING")
        return frozenset(codes)
    return NRF91_CODES[kind]


@dataclass(frozen=True)
class SessionPlan:
    """One simulated board session: which driver, which faults, what must come out."""

    index: int
    driver: str
    faults: tuple[str, ...]
    expect_pass: bool
    expect_codes: frozenset[str] | None
    """For a FAIL with a single fault: the codes it may end with (None: any FAIL code)."""

    @property
    def slow(self) -> bool:
        return any(fault_kind(f) in SLOW_KINDS for f in self.faults)

    @property
    def label(self) -> str:
        return "+".join(self.faults) or "none"


def plan_session(index: int, driver: str, faults: Sequence[str]) -> SessionPlan:
    recoverable = RECOVERABLE_KINDS[driver]
    failing = [f for f in faults if fault_kind(f) not in recoverable]
    codes = expected_codes(driver, failing[0]) if len(failing) == 1 else None
    return SessionPlan(index, driver, tuple(faults), not failing, codes)


def every_fault(driver: str) -> list[tuple[str, ...]]:
    """Every fault kind at every step, once each, plus one clean session: the coverage set."""
    if driver == "agent":
        step_faults = [f"{kind}@{step}" for kind in AGENT_STEP_KINDS for step in AGENT_STEPS]
        plain = list(AGENT_PLAIN_FAIL)
    else:
        step_faults = [
            f"{kind}@{step}" for kind in NRF91_STEP_KINDS if kind != "cme" for step in NRF91_STEPS
        ]
        step_faults += [f"cme-{NRF91_CME_CODES[i % len(NRF91_CME_CODES)]}@{step}" for i, step in enumerate(NRF91_STEPS)]
        plain = [*NRF91_PLAIN_FAIL, *NRF91_PLAIN_PASS]
    return [(), *[(f,) for f in step_faults], *[(f,) for f in plain]]


def random_fault(rng: random.Random, driver: str) -> str:
    """One fault, drawn with weights that keep stalls rare (each costs retries x timeout)."""
    if driver == "agent":
        kinds = [*AGENT_STEP_KINDS, *AGENT_PLAIN_FAIL]
        weights = [6, 2, 4, 8, 4, 4, *[3] * len(AGENT_PLAIN_FAIL)]
        kind = rng.choices(kinds, weights)[0]
        return f"{kind}@{rng.choice(AGENT_STEPS)}" if kind in AGENT_STEP_KINDS else kind
    kinds = [*NRF91_STEP_KINDS, *NRF91_PLAIN_FAIL, *NRF91_PLAIN_PASS]
    weights = [6, 2, 4, 4, 2, 5, *[3] * len(NRF91_PLAIN_FAIL), *[4] * len(NRF91_PLAIN_PASS)]
    kind = rng.choices(kinds, weights)[0]
    if kind == "cme":
        return f"cme-{rng.choice(NRF91_CME_CODES)}@{rng.choice(NRF91_STEPS)}"
    return f"{kind}@{rng.choice(NRF91_STEPS)}" if kind in NRF91_STEP_KINDS else kind


def random_faults(rng: random.Random, driver: str) -> tuple[str, ...]:
    """No fault (about 1 in 4), or one to three different faults."""
    roll = rng.random()
    count = 0 if roll < 0.25 else 1 if roll < 0.75 else 2 if roll < 0.93 else 3
    faults: list[str] = []
    while len(faults) < count:
        fault = random_fault(rng, driver)
        if fault not in faults:
            faults.append(fault)
    return tuple(faults)


@dataclass(frozen=True)
class CampaignPlan:
    seed: int
    sessions: tuple[SessionPlan, ...]
    rounds: tuple[tuple[SessionPlan, ...], ...]
    ports_per_round: int


def make_plan(
    seed: int, sessions: int, *, nrf91_share: float = 0.35, ports_per_round: int = 16, coverage: bool = True
) -> CampaignPlan:
    """Draw ``sessions`` sessions from ``seed``.

    With ``coverage`` every fault kind at every step comes first (once per driver), the
    rest is random. The simulators of both drivers 'generate' the same key for
    ``reuse-key`` (flashing.sim.keys), so the campaign's first round holds one *seed*
    session, ``reuse-key`` alone, which must PASS (the repeated key is new to this
    database), and no other ``reuse-key`` session; every later ``reuse-key`` session, of
    either driver, must FAIL. Slow sessions (stalls) are packed into rounds of their own so
    that they do not hold up fast ones. Rounds hold 8 to ``ports_per_round`` sessions.
    """
    rng = random.Random(seed)
    cover = {d: every_fault(d) if coverage else [] for d in ("agent", "nrf91")}
    covered = sum(len(c) for c in cover.values())
    extra = max(0, sessions - 1 - covered)
    counts = {"nrf91": len(cover["nrf91"]) + round(extra * nrf91_share)}
    counts["agent"] = sessions - counts["nrf91"]
    if counts["agent"] < 1:  # the seed is an agent board
        counts = {"agent": 1, "nrf91": sessions - 1}
    by_driver: dict[str, list[tuple[str, ...]]] = {}
    for driver in ("agent", "nrf91"):
        count = counts[driver] - (driver == "agent")
        faults = cover[driver][:count]
        faults += [random_faults(rng, driver) for _ in range(count - len(faults))]
        rng.shuffle(faults)
        by_driver[driver] = faults

    plans: list[SessionPlan] = []
    rounds: list[tuple[SessionPlan, ...]] = []
    seed_plan = SessionPlan(0, "agent", ("reuse-key",), expect_pass=True, expect_codes=None)
    plans.append(seed_plan)
    for driver in ("agent", "nrf91"):
        driver_plans = [plan_session(len(plans) + i, driver, f) for i, f in enumerate(by_driver[driver])]
        plans += driver_plans
        fast = [p for p in driver_plans if not p.slow]
        slow = [p for p in driver_plans if p.slow]
        if driver == "agent":
            # The seed's round: fast sessions without reuse-key.
            first = [seed_plan]
            for plan in [p for p in fast if "reuse-key" not in p.faults][: rng.randint(min(8, ports_per_round), ports_per_round) - 1]:
                first.append(plan)
                fast.remove(plan)
            rounds.append(tuple(first))
        for group in (fast, slow):
            while group:
                size = rng.randint(min(8, ports_per_round), ports_per_round)
                rounds.append(tuple(group[:size]))
                del group[:size]
    return CampaignPlan(seed, tuple(plans), tuple(rounds), ports_per_round)


def campaign_seed() -> int:
    """``$CAMPAIGN_SEED`` if set, else a fresh random seed (printed by the callers)."""
    text = os.environ.get(SEED_ENV, "").strip()
    return int(text) if text else random.SystemRandom().randrange(1, 2**31)


# -- running it ----------------------------------------------------------------------------


@dataclass
class SessionOutcome:
    plan: SessionPlan
    port: str
    serial: str
    """The serial the simulated board was made with (a bad-serial board reports another)."""
    attempt_id: int | None
    passed: bool | None
    """None: no result came back for the session (lost)."""
    code: str | None


@dataclass
class CampaignReport:
    seed: int
    sessions: int = 0
    rounds: int = 0
    seconds: float = 0.0
    passed: int = 0
    failed_by_code: Counter[str] = field(default_factory=Counter)
    false_pass: list[str] = field(default_factory=list)
    false_fail: list[str] = field(default_factory=list)
    wrong_code: list[str] = field(default_factory=list)
    board_mismatch: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    database: list[str] = field(default_factory=list)
    attempts_in_db: int = 0
    units_in_db: int = 0
    audit_entries: int = 0
    by_driver: Counter[str] = field(default_factory=Counter)
    fault_kinds: Counter[str] = field(default_factory=Counter)
    """Sessions per fault kind (a session with two faults counts for both)."""
    faults_per_session: Counter[int] = field(default_factory=Counter)
    expected_pass: int = 0

    @property
    def failed(self) -> int:
        return sum(self.failed_by_code.values())

    @property
    def problems(self) -> list[str]:
        return [
            *(f"false PASS: {p}" for p in self.false_pass),
            *(f"false FAIL: {p}" for p in self.false_fail),
            *(f"wrong code: {p}" for p in self.wrong_code),
            *(f"allow-list differs from the board: {p}" for p in self.board_mismatch),
            *(f"lost record: {p}" for p in self.lost),
            *(f"duplicated record: {p}" for p in self.duplicated),
            *(f"database: {p}" for p in self.database),
        ]

    def lines(self) -> list[str]:
        rate = self.sessions / self.seconds if self.seconds else 0.0
        out = [
            f"fault campaign seed {self.seed} (replay: {SEED_ENV}={self.seed})",
            f"  sessions      {self.sessions} ({', '.join(f'{d} {n}' for d, n in sorted(self.by_driver.items()))})"
            f" in {self.rounds} rounds, {self.seconds:.1f} s ({rate:.1f} sessions/s)",
            f"  faults drawn  {', '.join(f'{n} fault(s): {c}' for n, c in sorted(self.faults_per_session.items()))}",
            "                " + ", ".join(f"{k} {c}" for k, c in sorted(self.fault_kinds.items())),
            f"  expected PASS {self.expected_pass}",
            f"  PASS          {self.passed}",
            f"  FAIL          {self.failed}",
        ]
        out += [f"    {code:<28}{count}" for code, count in sorted(self.failed_by_code.items())]
        out += [
            f"  false PASS    {len(self.false_pass)}",
            f"  false FAIL    {len(self.false_fail)}",
            f"  wrong code    {len(self.wrong_code)}",
            f"  allow-list rows not matching the board  {len(self.board_mismatch)}",
            f"  lost records  {len(self.lost)}",
            f"  duplicated    {len(self.duplicated)}",
            f"  database      attempts {self.attempts_in_db}, units {self.units_in_db}, "
            f"audit entries {self.audit_entries}, problems {len(self.database)}",
        ]
        for problem in self.problems[:40]:
            out.append(f"  ! {problem}")
        if len(self.problems) > 40:
            out.append(f"  ! ... and {len(self.problems) - 40} more")
        return out


def driver_config(
    station: Station, driver: str, *, nrf91_answer: float = 0.3, nrf91_cfun: float = 0.6, keygen: float = 3.0
):  # type: ignore[no-untyped-def]
    """The station's config with ``driver`` (dataclasses.replace). The nRF91 answer timeouts
    (5 s and 15 s by default) are shortened to the fixture's scale, and so is the key
    generation limit (60 s): simulated boards make their keys at once, and a stall at
    %KEYGEN must not cost a minute."""
    config = replace(station.config, driver=driver)
    config = replace(config, timeouts=replace(config.timeouts, keygen_seconds=keygen))
    if driver == "nrf91":
        timeouts = replace(config.nrf91.timeouts, answer=nrf91_answer, cfun=nrf91_cfun, keygen=keygen)
        config = replace(config, nrf91=replace(config.nrf91, timeouts=timeouts))
    return config


def spki_sha256(private_key) -> str:  # type: ignore[no-untyped-def]
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


AGENT_OBJECTS = {
    ClaimObject.ROOT_CA: ObjectId.ROOT_CA,
    ClaimObject.CLAIM_CERT: ObjectId.CLAIM_CERT,
    ClaimObject.CLAIM_KEY: ObjectId.CLAIM_KEY,
}
NRF91_TYPES = {ClaimObject.ROOT_CA: 0, ClaimObject.CLAIM_CERT: 1, ClaimObject.CLAIM_KEY: 2}


def board_holds(sim, driver: str, config, bundle: ClaimBundle) -> tuple[str | None, list[str]]:  # type: ignore[no-untyped-def]
    """What the simulated board really holds: (SPKI sha256 of its device key, problems)."""
    problems = []
    if driver == "agent":
        state = sim.model.state
        for obj, object_id in AGENT_OBJECTS.items():
            if state.objects.get(object_id) != bundle.content(obj):
                problems.append(f"board's {obj.value} is not the bundle's")
        if not state.committed:
            problems.append("board was not committed")
        key = state.device_key
    else:
        state = sim.model.state
        tag = config.nrf91.claim_sec_tag
        for obj, cred_type in NRF91_TYPES.items():
            if state.credentials.get((tag, cred_type)) != bundle.content(obj):
                problems.append(f"modem's {obj.value} in sec tag {tag} is not the bundle's")
        if state.cfun != 0:
            problems.append(f"modem left in +CFUN={state.cfun}, not powered off (0) by commit")
        key = state.keys.get(config.nrf91.device_sec_tag)
    if key is None:
        problems.append("board holds no device key")
        return None, problems
    return spki_sha256(key), problems


class Campaign:
    """Runs a :class:`CampaignPlan` on an open station that holds the line."""

    def __init__(
        self,
        station: Station,
        plan: CampaignPlan,
        *,
        batch: str = "B1",
        operator: str = "campaign",
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.station = station
        self.plan = plan
        self.batch = batch
        self.operator = operator
        self.echo = echo or (lambda text: None)
        self.claim = station.claim()
        self.bundle = ClaimBundle(
            root_ca=self.claim.root_ca_pem, claim_cert=self.claim.cert_pem, claim_key=self.claim.key_pem
        )
        self.configs = {driver: driver_config(station, driver) for driver in ("agent", "nrf91")}
        self.outcomes: list[SessionOutcome] = []
        self.report = CampaignReport(seed=plan.seed)
        self._next_number = {"agent": 1, "nrf91": 1}
        self._attempt_ids: Counter[int] = Counter()

    def run(self) -> CampaignReport:
        for plan in self.plan.sessions:
            self.report.faults_per_session[len(plan.faults)] += 1
            self.report.fault_kinds.update({fault_kind(f) for f in plan.faults})
            self.report.expected_pass += plan.expect_pass
        started = time.monotonic()
        for number, round_plans in enumerate(self.plan.rounds):
            self._run_round(round_plans)
            if number % 25 == 24:
                self.echo(f"  ... {len(self.outcomes)}/{len(self.plan.sessions)} sessions, "
                          f"{time.monotonic() - started:.0f} s")
        self.report.seconds = time.monotonic() - started
        self.report.rounds = len(self.plan.rounds)
        self._check_database()
        return self.report

    # -- one round -----------------------------------------------------------------------------

    def _run_round(self, plans: Sequence[SessionPlan]) -> None:
        driver = plans[0].driver
        assert all(p.driver == driver for p in plans)
        config = self.configs[driver]
        first = self._next_number[driver]
        self._next_number[driver] += len(plans)
        faults = {i: list(p.faults) for i, p in enumerate(plans)}
        if driver == "agent":
            sims = start_boards(len(plans), first_number=first, faults=faults)
        else:
            sims = start_nrf91_modems(
                len(plans), first_number=first, faults=faults, device_sec_tag=config.nrf91.device_sec_tag
            )
        try:
            provisioner = Provisioner(config, self.station.records, self.claim, bus=EventBus())
            runner = LineRunner(provisioner, ManualPorts(), batch=self.batch, operator=self.operator)
            results = runner.run_once([sim.port for sim in sims])
        finally:
            for sim in sims:
                sim.stop()
        by_port = {r.port: r for r in results}
        for plan, sim in zip(plans, sims, strict=True):
            result = by_port.get(sim.port)
            serial = sim.model.imei if driver == "nrf91" else sim.serial
            outcome = SessionOutcome(
                plan, sim.port, serial,
                result.attempt_id if result else None,
                result.passed if result else None,
                result.code if result else None,
            )
            self.outcomes.append(outcome)
            self._judge(outcome, sim, config, result)

    def _judge(self, outcome: SessionOutcome, sim, config, result) -> None:  # type: ignore[no-untyped-def]
        report = self.report
        plan = outcome.plan
        report.sessions += 1
        report.by_driver[plan.driver] += 1
        what = f"session {plan.index} ({plan.driver}, {plan.label}, serial {outcome.serial})"
        if result is None:
            report.lost.append(f"{what}: no result came back")
            return
        self._attempt_ids[result.attempt_id] += 1
        if self._attempt_ids[result.attempt_id] > 1:
            report.duplicated.append(f"{what}: attempt {result.attempt_id} reported for two sessions")
        if result.passed:
            report.passed += 1
        else:
            report.failed_by_code[result.code or "?"] += 1
        if result.passed and not plan.expect_pass:
            report.false_pass.append(f"{what}: PASS")
        elif not result.passed and plan.expect_pass:
            report.false_fail.append(f"{what}: {result.code}: {result.detail}")
        elif not result.passed and plan.expect_codes is not None and result.code not in plan.expect_codes:
            report.wrong_code.append(f"{what}: {result.code} ({result.detail}), expected one of "
                                     f"{sorted(plan.expect_codes)}")
        unit = self.station.records.get_unit(outcome.serial)
        if not result.passed:
            if unit is not None:
                report.false_pass.append(f"{what}: FAIL {result.code} but the allow-list has a row")
            return
        if result.serial != outcome.serial:
            report.board_mismatch.append(f"{what}: PASS reported for serial {result.serial}")
        if unit is None:
            report.board_mismatch.append(f"{what}: PASS but no allow-list row")
            return
        key_sha, problems = board_holds(sim, plan.driver, config, self.bundle)
        problems += [] if unit.status == "allowed" else [f"status {unit.status}"]
        if unit.batch != self.batch:
            problems.append(f"batch {unit.batch}")
        if unit.claim_cert_sha256 != self.claim.cert_sha256:
            problems.append("claim_cert_sha256 is not the claim certificate's")
        if key_sha is not None and unit.device_key_sha256 != key_sha:
            problems.append(f"device_key_sha256 {unit.device_key_sha256[:16]}... but the board's key "
                            f"hashes to {key_sha[:16]}...")
        report.board_mismatch += [f"{what}: {p}" for p in problems]

    # -- the database at the end ------------------------------------------------------------------

    def _check_database(self) -> None:
        report = self.report
        records = self.station.records
        path = Path(records.path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            problems = report.database
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"integrity_check: {integrity}")
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
            if fk:
                problems.append(f"foreign_key_check: {len(fk)} row(s), first {tuple(fk[0])}")
            attempts = [dict(r) for r in conn.execute("SELECT * FROM attempts")]
            units = [dict(r) for r in conn.execute("SELECT * FROM units")]
            batches = {r[0] for r in conn.execute("SELECT id FROM batches")}
            unit_pass_audit = Counter(
                r[0] for r in conn.execute("SELECT subject FROM audit WHERE action = 'unit.pass'")
            )
        finally:
            conn.close()
        report.attempts_in_db = len(attempts)
        report.units_in_db = len(units)
        by_id = {a["id"]: a for a in attempts}
        running = [a["id"] for a in attempts if a["result"] == "running"]
        if running:
            problems.append(f"{len(running)} attempt(s) left 'running': {running[:10]}")
        if len(attempts) != report.sessions:
            problems.append(f"{len(attempts)} attempts recorded for {report.sessions} sessions")
        for outcome in self.outcomes:
            if outcome.attempt_id is None:
                continue
            row = by_id.get(outcome.attempt_id)
            what = f"session {outcome.plan.index} attempt {outcome.attempt_id}"
            if row is None:
                report.lost.append(f"{what}: not in the database")
                continue
            expected = "pass" if outcome.passed else "fail"
            if row["result"] != expected:
                problems.append(f"{what}: recorded {row['result']!r}, the station said {expected}")
            if not outcome.passed and row["error_code"] != outcome.code:
                problems.append(f"{what}: recorded code {row['error_code']}, the station said {outcome.code}")
            if row["serial"] is not None and row["serial"] != outcome.serial and outcome.plan.driver == "agent" \
                    and "bad-serial" not in outcome.plan.faults:
                problems.append(f"{what}: recorded serial {row['serial']}, board {outcome.serial}")
        reported = set(self._attempt_ids)
        for attempt in attempts:
            if attempt["id"] not in reported:
                report.duplicated.append(f"attempt {attempt['id']} ({attempt['serial']}) belongs to no session")
            if attempt["batch"] is not None and attempt["batch"] not in batches:
                problems.append(f"attempt {attempt['id']} is in batch {attempt['batch']!r}, which does not exist")
        per_serial = Counter(a["serial"] for a in attempts if a["serial"] is not None)
        for serial, count in per_serial.items():
            if count > 1:
                report.duplicated.append(f"serial {serial} has {count} attempts (every session's serial is new)")
        passing = {a["serial"]: a for a in attempts if a["result"] == "pass"}
        for unit in units:
            attempt = passing.get(unit["serial"])
            if attempt is None:
                problems.append(f"orphan unit {unit['serial']}: no passing attempt with its serial")
            elif attempt["device_key_sha256"] != unit["device_key_sha256"]:
                problems.append(f"unit {unit['serial']}: device key differs from its passing attempt's")
            if unit["batch"] not in batches:
                problems.append(f"unit {unit['serial']} is in batch {unit['batch']!r}, which does not exist")
            if unit_pass_audit[unit["serial"]] != 1:
                problems.append(f"unit {unit['serial']} has {unit_pass_audit[unit['serial']]} unit.pass audit entries")
        for serial in passing:
            if serial not in {u["serial"] for u in units}:
                problems.append(f"attempt for {serial} passed but the allow-list has no row")
        if len(units) != report.passed:
            problems.append(f"{len(units)} allow-list rows for {report.passed} PASS sessions")
        keys = Counter(u["device_key_sha256"] for u in units)
        problems += [f"device key {k[:16]}... is on {n} units" for k, n in keys.items() if n > 1]
        reused = spki_sha256(reused_key())
        holders = [u["serial"] for u in units if u["device_key_sha256"] == reused]
        if len(holders) != 1:
            problems.append(f"the repeated key is on {len(holders)} units, not exactly the seed's")
        verification = records.verify_audit()
        report.audit_entries = verification.entries
        if not verification.ok:
            problems.append(f"audit chain: {verification.problem} (first bad id {verification.first_bad_id})")
