"""The flaky-cloud campaign (issue 9, part 3): the station's sync through a faulty network.

Used by ``tests/campaign_cloud/test_cloudcampaign_flaky_sync.py`` (short and long runs) and,
imported by path, by ``bench/campaign_flaky_cloud.py`` (prints the figures).

Everything is real except the weather: a station database (``records``) with units
provisioned the way the pipeline records them, ``run_station_sync`` with a client built by
``station.sync.dynamo`` whose endpoint is a :class:`flaky_proxy.FlakyProxy` in front of the
DynamoDB-compatible loopback server. The proxy throttles, fails, slows down, times out and
drops connections before and after forwarding, at seeded rates.

A campaign is a number of *rounds*. Each round changes some units (revoke, unrevoke,
re-provision with a new key: each bumps the unit's rev; new units too), partly *while* the
sync runs, lets "the hook" claim some items directly on the server (``provisioned_at``,
``certificate_id``, ``thing_name``, not through the proxy), then runs the sync again and
again until nothing is pending. After every round the table is read back (strongly
consistent scan, on the server directly) and judged:

* nothing lost: every unit has its item, with the station's latest rev and exactly the
  attributes of that rev (status, batch, product, station_id, both fingerprints,
  factory_at = last PASS);
* never backwards: an item's rev never goes down from one look to the next, and every item
  matches the unit *as it was at that rev* (no mix of two revisions);
* the hook's attributes are exactly as the hook wrote them;
* nothing else is in the table; no conflict, no permanent error (a flaky network is never
  a reason to stop for a person).

At the end the proxy's log of every UpdateItem that reached the server, in the order it
was applied, is judged too: per serial the applied revs strictly increase (nothing written
twice, nothing older after newer); the rejected ones (late duplicates that were slowed
past the client's timeout, retries after a lost reply) are counted. Finally captured
UpdateItem requests are **replayed** byte for byte: an older rev after a newer one went
through, and the latest one again; each must be refused by the condition
(ConditionalCheckFailedException) and leave the item unchanged.

The seed (``CLOUD_CAMPAIGN_SEED`` to repeat one) fixes the plan and the fault stream;
thread timing still varies between runs.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flaky_proxy import FlakyProxy, fault_rates

from records import Records, StepTiming, Unit
from station.allowlist_item import HOOK_ATTRIBUTES, SIGNATURE_ATTRIBUTES, SIGNED_ATTRIBUTES
from station.config import load_config
from station.sync.dynamo import ClientSettings, SyncError
from station.sync.engine import SyncReport, run_station_sync
from station.sync.signing import create_signing_key

SEED_ENV = "CLOUD_CAMPAIGN_SEED"
STATION_ID = "CAMPAIGN-ST-1"
CLAIM_SHA = "c1" * 32
_STEPS = (StepTiming(name="read_serial", started_at="2026-01-05T08:00:00.000Z",
                     duration_ms=1.0, ok=True),)
_INI = """\
[station]
id = {station_id}
database = station.sqlite
log_dir = logs

[claim]
certificate = claim.pem
private_key = claim.key
root_ca = root.pem

[cloud]
table = {table}
region = {region}
endpoint_url = {endpoint}
"""


class CampaignViolation(AssertionError):
    """The sync broke a promise of the cloud contract."""


@dataclass(frozen=True)
class FlakyPlan:
    units: int = 100
    rounds: int = 2
    change_fraction: float = 0.3  # of the units, changed per round
    new_fraction: float = 0.05  # new units per round (of the initial count)
    concurrent_share: float = 0.5  # of a round's changes made while the sync runs
    hook_fraction: float = 0.1  # items the hook claims per round
    fault_rate: float = 0.2
    read_timeout: float = 1.0  # the sync client's; the proxy's timeouts go beyond it
    workers: int = 32
    retry_mode: str = "adaptive"  # the station's default (station.sync.dynamo.ClientSettings)
    max_runs_per_round: int = 60
    replays: int = 20
    seed: int | None = None


@dataclass
class FlakyFigures:
    seed: int
    settings: str = ""
    units: int = 0
    rounds: int = 0
    changes: Counter = field(default_factory=Counter)
    hook_claims: int = 0
    requests: int = 0
    by_operation: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    sync_runs: int = 0
    runs_per_round: list[int] = field(default_factory=list)
    sent: int = 0
    unchanged: int = 0
    failed_in_runs: int = 0
    retry_waves: int = 0  # the sync's own backoff-and-retry waves (after botocore gave up)
    retried_units: int = 0
    runs_with_error: Counter = field(default_factory=Counter)
    applied: int = 0
    rejected_duplicate: int = 0  # same rev as the table's: a retry after a lost reply
    lost_replies: int = 0  # writes applied whose answer the proxy then dropped or held too long
    rejected_older: int = 0  # older than the table's: a late duplicate out of order
    replays: int = 0
    replays_rejected: int = 0
    provision_seconds: float = 0.0
    sync_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def fault_total(self) -> int:
        return sum(self.faults.values())

    def lines(self) -> list[str]:
        faults = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        changes = ", ".join(f"{kind} {n}" for kind, n in sorted(self.changes.items()))
        errors = ", ".join(f"{code} {n}" for code, n in sorted(self.runs_with_error.items()))
        share = self.fault_total / self.requests if self.requests else 0.0
        return [
            f"seed                 {self.seed}",
            f"settings             {self.settings}",
            f"units                {self.units} (rounds of changes: {self.rounds})",
            f"changes              {sum(self.changes.values())} ({changes})",
            f"hook claims          {self.hook_claims} (written on the server, not the proxy)",
            f"requests             {self.requests} through the proxy ("
            + ", ".join(f"{op} {n}" for op, n in sorted(self.by_operation.items())) + ")",
            f"faults injected      {self.fault_total} ({share:.1%}): {faults}",
            f"sync runs            {self.sync_runs} (per round, to converge: "
            f"{', '.join(map(str, self.runs_per_round))})",
            f"sync's retry waves   {self.retry_waves} ({self.retried_units} units retried "
            "within a run after botocore's 3 attempts failed)",
            f"runs ended early     {sum(self.runs_with_error.values())} ({errors or 'none'})",
            f"items sent           {self.sent} sent, {self.unchanged} unchanged "
            f"(confirmed by the condition), {self.failed_in_runs} left for a later run",
            f"writes applied       {self.applied} ({self.lost_replies} of them unanswered); refused by "
            f"the condition: {self.rejected_duplicate} duplicates, {self.rejected_older} older revs",
            f"replayed requests    {self.replays}, refused {self.replays_rejected}",
            f"time                 {self.seconds:.1f} s (provisioning {self.provision_seconds:.1f} s, "
            f"sync runs {self.sync_seconds:.1f} s)",
        ]


LOST_REPLY_FAULTS = ("drop_after", "timeout_after")
"""Faults that let a write through and keep its answer from the station: it must send that
revision again, and the condition must refuse it as a duplicate."""


def campaign_seed(seed: int | None = None) -> int:
    if seed is not None:
        return seed
    text = os.environ.get(SEED_ENV, "").strip()
    return int(text) if text else secrets.randbelow(2**32)


def expected_item(unit: Unit) -> dict[str, Any]:
    """The station-owned attributes the table must hold for ``unit`` (plain values)."""
    return {
        "serial": unit.serial,
        "status": unit.status,
        "batch": unit.batch,
        "product": unit.product,
        "station_id": unit.station_id,
        "device_key_sha256": unit.device_key_sha256,
        "claim_cert_sha256": unit.claim_cert_sha256,
        "factory_at": unit.last_pass_at,
        "rev": unit.rev,
    }


def plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        (kind, raw), = value.items()
        out[name] = int(raw) if kind == "N" else raw
    return out


def scan(client: Any, table: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            item = plain(raw)
            items[item["serial"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _RetryCounter(logging.Handler):
    """Counts the sync's "retrying N unit(s)" log records (it only observes)."""

    def __init__(self, figures: FlakyFigures) -> None:
        super().__init__(logging.INFO)
        self.figures = figures

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("sync: %s; retrying") and len(record.args or ()) >= 2:
            self.figures.retry_waves += 1
            self.figures.retried_units += int(record.args[1])


class _Line:
    """The station's database, changed the way the line and QA change it."""

    def __init__(self, records: Records, rng: random.Random) -> None:
        self.records = records
        self.rng = rng
        self.versions: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.changes: Counter = Counter()
        self._lock = threading.Lock()
        self._next = 0
        for batch in ("B1", "B2", "B3"):
            if records.get_batch(batch) is None:
                records.open_batch(batch, "sensor-v2", 1_000_000, "campaign")

    def _remember(self, unit: Unit) -> Unit:
        with self._lock:
            self.versions[unit.serial][unit.rev] = expected_item(unit)
        return unit

    def new_serial(self) -> str:
        with self._lock:
            self._next += 1
            return f"CC{self._next:07d}"

    def provision(self, serial: str, batch: str) -> Unit:
        attempt = self.records.start_attempt(port="COM1", station_id=STATION_ID,
                                             operator="alice", driver="agent", batch=batch)
        self.records.set_attempt_serial(attempt, serial)
        unit = self.records.finish_attempt_pass(
            attempt, serial=serial, batch=batch, product="sensor-v2",
            device_key_sha256=secrets.token_hex(32), claim_cert_sha256=CLAIM_SHA,
            station_id=STATION_ID, operator="alice", steps=_STEPS,
        )
        return self._remember(unit)

    def plan_changes(self, count: int, new: int) -> list[tuple[str, str]]:
        serials = [u.serial for u in self.records.units()]
        picked = self.rng.sample(serials, min(count, len(serials)))
        plan = []
        for serial in picked:
            kind = self.rng.choices(("status", "reprovision"), weights=(0.55, 0.45))[0]
            plan.append((kind, serial))
        plan += [("new", self.rng.choice(("B1", "B2", "B3"))) for _ in range(new)]
        self.rng.shuffle(plan)
        return plan

    def apply(self, kind: str, target: str) -> None:
        if kind == "new":
            self.provision(self.new_serial(), target)
        elif kind == "reprovision":  # the same board again, new key pair: rev + 1
            unit = self.records.get_unit(target)
            assert unit is not None
            self.provision(target, unit.batch)
        else:
            unit = self.records.get_unit(target)
            assert unit is not None
            if unit.status == "allowed":
                unit = self.records.revoke(target, actor="qa", reason="campaign")
                kind = "revoke"
            else:
                unit = self.records.unrevoke(target, actor="qa", reason="campaign")
                kind = "unrevoke"
            self._remember(unit)
        with self._lock:
            self.changes[kind] += 1


class FlakyCloudCampaign:
    """One campaign against ``endpoint_url`` (the real server; the proxy goes in front)."""

    def __init__(self, endpoint_url: str, region: str, folder: Path, plan: FlakyPlan,
                 *, log: Callable[[str], None] = print) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.folder = Path(folder)
        self.plan = plan
        self.log = log
        self.seed = campaign_seed(plan.seed)
        self.rng = random.Random(self.seed)
        self.figures = FlakyFigures(
            seed=self.seed,
            settings=f"fault rate {plan.fault_rate:.0%}, client read timeout "
            f"{plan.read_timeout:g} s, botocore {plan.retry_mode} retries (3 attempts), "
            f"{plan.workers} workers",
        )
        self.table = f"cloud-campaign-{uuid.uuid4().hex[:10]}"
        self.hook_attrs: dict[str, dict[str, str]] = {}
        self.last_revs: dict[str, int] = {}
        self.problems: list[str] = []

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> FlakyFigures:
        import boto3
        from botocore.config import Config

        from station.allowlist_item import create_allowlist_table

        started = time.perf_counter()
        self.log(f"flaky cloud campaign: seed {self.seed} (repeat with {SEED_ENV}={self.seed}); "
                 f"{self.plan.units} units, {self.plan.rounds} rounds, fault rate "
                 f"{self.plan.fault_rate:.0%}, botocore retry mode {self.plan.retry_mode}")
        self.direct = boto3.session.Session().client(
            "dynamodb", endpoint_url=self.endpoint_url, region_name=self.region,
            config=Config(retries={"total_max_attempts": 5, "mode": "standard"},
                          max_pool_connections=4),
        )
        create_allowlist_table(self.direct, self.table)
        proxy = FlakyProxy(self.endpoint_url, seed=self.seed, rates={},
                           client_timeout=self.plan.read_timeout).start()
        self.proxy = proxy
        self.folder.mkdir(parents=True, exist_ok=True)
        ini = self.folder / "station.ini"
        ini.write_text(_INI.format(station_id=STATION_ID, table=self.table, region=self.region,
                                   endpoint=proxy.url), encoding="utf-8")
        self.config = load_config(ini)
        create_signing_key(self.config.signing_key, STATION_ID)  # rows are signed, as on a line
        self.settings = ClientSettings(
            max_pool_connections=self.plan.workers, connect_timeout=self.plan.read_timeout,
            read_timeout=self.plan.read_timeout, retry_mode=self.plan.retry_mode,
        )
        records = Records(self.config.database)
        sync_log = logging.getLogger("station.sync.engine")
        counter, level = _RetryCounter(self.figures), sync_log.level
        sync_log.addHandler(counter)
        if sync_log.getEffectiveLevel() > logging.INFO:
            sync_log.setLevel(logging.INFO)
        try:
            self._campaign(records, proxy)
        finally:
            sync_log.removeHandler(counter)
            sync_log.setLevel(level)
            records.close()
            proxy.stop()
            try:
                self.direct.delete_table(TableName=self.table)
            finally:
                self.direct.close()
        self.figures.seconds = time.perf_counter() - started
        return self.figures

    def _campaign(self, records: Records, proxy: FlakyProxy) -> None:
        line = _Line(records, self.rng)
        self.line = line
        t0 = time.perf_counter()
        batches = ("B1", "B2", "B3")
        for i in range(self.plan.units):
            line.provision(line.new_serial(), batches[i % 3])
        self.figures.provision_seconds += time.perf_counter() - t0
        proxy.set_rates(fault_rates(self.plan.fault_rate))

        self._converge(records, round_no=0, concurrent=[])
        for round_no in range(1, self.plan.rounds + 1):
            changes = line.plan_changes(
                int(self.plan.units * self.plan.change_fraction),
                int(self.plan.units * self.plan.new_fraction),
            )
            during = int(len(changes) * self.plan.concurrent_share)
            before, concurrent = changes[during:], changes[:during]
            t0 = time.perf_counter()
            for kind, target in before:
                line.apply(kind, target)
            self.figures.provision_seconds += time.perf_counter() - t0
            self._hook_claims(int(self.plan.units * self.plan.hook_fraction) // 2)
            self._converge(records, round_no, concurrent)
        proxy.set_rates({})
        self.figures.units = records.count_units()
        self.figures.rounds = self.plan.rounds
        self.figures.changes = line.changes
        self._judge_history()
        self._replay_old_requests()
        stats = proxy.stats
        self.figures.requests = stats.requests
        self.figures.by_operation = stats.by_operation
        self.figures.faults = stats.faults
        if self.problems:
            shown = "\n  ".join(self.problems[:20])
            raise CampaignViolation(
                f"seed {self.seed}: {len(self.problems)} problem(s):\n  {shown}")

    # -- a round ------------------------------------------------------------------------------

    def _converge(self, records: Records, round_no: int,
                  concurrent: list[tuple[str, str]]) -> None:
        """Sync until nothing is pending; ``concurrent`` changes (and hook claims) are made
        by another thread while the first runs go."""
        mutator = None
        if concurrent:
            rng = random.Random(self.rng.random())

            def mutate() -> None:
                for kind, target in concurrent:
                    time.sleep(rng.uniform(0, 0.01))
                    self.line.apply(kind, target)
                self._hook_claims(max(1, int(self.plan.units * self.plan.hook_fraction) // 2),
                                  rng)

            mutator = threading.Thread(target=mutate, name="campaign-mutator")
        runs = 0
        t0 = time.perf_counter()
        if mutator is not None:
            mutator.start()
        while True:
            runs += 1
            report = self._sync_once(records)
            if mutator is not None and not mutator.is_alive():
                mutator.join()
                mutator = None
            if report.pending_left == 0 and mutator is None:
                break
            if runs >= self.plan.max_runs_per_round:
                if mutator is not None:
                    mutator.join()
                raise CampaignViolation(
                    f"seed {self.seed}: round {round_no} did not converge in {runs} runs "
                    f"({report.pending_left} pending, last error {report.error})")
        self.figures.sync_seconds += time.perf_counter() - t0
        self.figures.sync_runs += runs
        self.figures.runs_per_round.append(runs)
        # Late duplicates still inside the proxy reach the table before we look.
        if not self.proxy.wait_idle(30):
            raise CampaignViolation("the proxy did not go idle within 30 s")
        self._judge_table(records, f"round {round_no}")
        self.log(f"  round {round_no}: converged in {runs} run(s); "
                 f"{self.proxy.stats.requests} requests, {sum(self.proxy.stats.faults.values())} "
                 "faults so far")

    def _sync_once(self, records: Records) -> SyncReport:
        try:
            report = run_station_sync(records, self.config, settings=self.settings,
                                      workers=self.plan.workers)
        except SyncError as exc:  # a permanent error: the flaky network must never cause one
            raise CampaignViolation(
                f"seed {self.seed}: the sync stopped with a permanent error {exc.code}: "
                f"{exc.message}") from exc
        self.figures.sent += report.sent
        self.figures.unchanged += report.unchanged
        self.figures.failed_in_runs += report.failed
        if report.error_code:
            self.figures.runs_with_error[report.error_code] += 1
        if report.conflicts:
            self.problems.append(f"conflicts reported for one station: "
                                 f"{list(report.conflict_serials)[:5]}")
        return report

    def _hook_claims(self, count: int, rng: random.Random | None = None) -> None:
        """Claim ``count`` items as the pre-provisioning hook does, on the server directly."""
        rng = rng or self.rng
        synced = [s for s, revs in list(self.line.versions.items()) if s not in self.hook_attrs]
        for serial in rng.sample(synced, min(count, len(synced))):
            values = {
                "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "certificate_id": secrets.token_hex(32),
                "thing_name": f"fleet-{serial}",
            }
            try:
                self.direct.update_item(
                    TableName=self.table, Key={"serial": {"S": serial}},
                    UpdateExpression="SET provisioned_at = :p, certificate_id = :c, "
                    "thing_name = :t",
                    ConditionExpression="attribute_exists(serial) AND "
                    "attribute_not_exists(provisioned_at)",
                    ExpressionAttributeValues={":p": {"S": values["provisioned_at"]},
                                               ":c": {"S": values["certificate_id"]},
                                               ":t": {"S": values["thing_name"]}},
                )
            except self.direct.exceptions.ConditionalCheckFailedException:
                continue  # not in the table yet: the hook would have said UNKNOWN_SERIAL
            self.hook_attrs[serial] = values
            self.figures.hook_claims += 1

    # -- judging ------------------------------------------------------------------------------

    def _judge_table(self, records: Records, when: str) -> None:
        items = scan(self.direct, self.table)
        units = {u.serial: u for u in records.units()}
        for serial, unit in units.items():
            item = items.get(serial)
            if item is None:
                self.problems.append(f"{when}: {serial} (rev {unit.rev}) is not in the table")
                continue
            station_part = {k: item.get(k) for k in SIGNED_ATTRIBUTES}
            if station_part != expected_item(unit):
                self.problems.append(f"{when}: {serial}: table {station_part} != station "
                                     f"{expected_item(unit)}")
            past = self.line.versions[serial].get(item.get("rev"))
            if past is None or station_part != past:
                self.problems.append(f"{when}: {serial}: the item is no revision the station "
                                     f"ever had: {station_part}")
            if item.get("rev", 0) < self.last_revs.get(serial, 0):
                self.problems.append(f"{when}: {serial}: rev went back from "
                                     f"{self.last_revs[serial]} to {item.get('rev')}")
            self.last_revs[serial] = max(self.last_revs.get(serial, 0), item.get("rev", 0))
            hook_part = {k: item[k] for k in HOOK_ATTRIBUTES if k in item}
            if hook_part != self.hook_attrs.get(serial, {}):
                self.problems.append(f"{when}: {serial}: hook attributes {hook_part} != "
                                     f"{self.hook_attrs.get(serial, {})}")
            extra = set(item) - {*SIGNED_ATTRIBUTES, *SIGNATURE_ATTRIBUTES, *HOOK_ATTRIBUTES}
            if extra:
                self.problems.append(f"{when}: {serial}: unexpected attributes {sorted(extra)}")
        for serial in set(items) - set(units):
            self.problems.append(f"{when}: {serial} is in the table but not in the station")

    def _judge_history(self) -> None:
        """Per serial, the writes the server applied strictly increase in rev."""
        applied_max: dict[str, int] = {}
        for entry in self.proxy.applied:
            if entry.serial is None or entry.rev is None:
                self.problems.append(f"an UpdateItem without serial or rev: {entry}")
                continue
            top = applied_max.get(entry.serial, 0)
            if entry.status == 200:
                self.figures.applied += 1
                if entry.fault in LOST_REPLY_FAULTS and not entry.replay:
                    self.figures.lost_replies += 1
                if entry.rev <= top:
                    self.problems.append(
                        f"{entry.serial}: rev {entry.rev} applied after rev {top} (order "
                        f"{entry.order}, fault {entry.fault}, replay {entry.replay})")
                applied_max[entry.serial] = max(top, entry.rev)
            elif entry.code == "ConditionalCheckFailedException":
                if entry.rev == top:
                    self.figures.rejected_duplicate += 1
                elif entry.rev < top:
                    self.figures.rejected_older += 1
                else:
                    self.problems.append(
                        f"{entry.serial}: rev {entry.rev} refused although the table held "
                        f"only rev {top} (order {entry.order})")
            else:
                self.problems.append(f"{entry.serial}: the server answered {entry.status} "
                                     f"{entry.code} (order {entry.order})")

    def _replay_old_requests(self) -> None:
        """Send captured UpdateItems again, byte for byte: older revs after newer ones, and
        the latest one again. Each must be refused and change nothing."""
        before = scan(self.direct, self.table)
        by_serial: dict[str, list] = defaultdict(list)
        for captured in self.proxy.captured:
            if captured.serial is not None and captured.rev is not None:
                by_serial[captured.serial].append(captured)
        candidates = [s for s, caps in by_serial.items()
                      if min(c.rev for c in caps) < before.get(s, {}).get("rev", 0)]
        self.rng.shuffle(candidates)
        chosen = candidates[: self.plan.replays]
        if self.plan.rounds and not chosen:
            self.problems.append("no serial with an older captured request to replay")
        for serial in chosen:
            caps = by_serial[serial]
            oldest = min(caps, key=lambda c: c.rev)
            latest = max(caps, key=lambda c: c.rev)
            for captured in (oldest, latest):
                status, answer = self.proxy.replay(captured)
                self.figures.replays += 1
                code = str(answer.get("__type", "")).rpartition("#")[2]
                if status == 400 and code == "ConditionalCheckFailedException":
                    self.figures.replays_rejected += 1
                else:
                    self.problems.append(f"replay of {serial} rev {captured.rev} answered "
                                         f"{status} {code or answer}")
        after = scan(self.direct, self.table)
        for serial in chosen:
            if after.get(serial) != before.get(serial):
                self.problems.append(f"replays changed {serial}: {before.get(serial)} -> "
                                     f"{after.get(serial)}")
