"""The crash-kill campaign (issue 9, part 2): SIGKILL the station at random moments.

Used by ``tests/campaign/test_campaign_crash.py`` and ``bench/campaign_crash.py``.

A batch of simulated boards runs in two ``station sim`` processes (fast and slow boards,
separate hardware as far as the station can tell); the station runs as real
``station run --ports ... --once`` processes, a chunk of not-yet-passed boards at a time,
and is SIGKILLed at random moments (during start-up, or a random time after its first
attempt began). After every kill the harness restarts the way the station does, by
taking the line, and checks the database:

* ``PRAGMA integrity_check`` is ``ok``;
* every attempt that was open at the kill is ``aborted`` after ``take_line`` and none is
  left ``running``;
* the audit chain verifies;
* every attempt whose result is ``pass`` has its unit ``allowed`` with the same device
  key, and every unit has such an attempt (no PASS missing from the allow-list, no orphan).

When every board has passed, a final sync through the station's own sync API
(``run_station_sync``) sends the allow-list to a DynamoDB-compatible server on
loopback, and a scan of the table must hold exactly the PASS set.
"""

from __future__ import annotations

import configparser
import itertools
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from records import Records
from station.context import open_station
from station.demo.line import prepare_folder

BATCH = "CRASH-1"
PRODUCT = "GW"
STATION_TIMEOUTS = {"answer_seconds": "1.0", "retries": "2", "step_retries": "1", "step_seconds": "20"}
"""answer_seconds outlasts the simulator's 0.5 s between PROGRESS frames during KEYGEN."""
SIM_BAUD = 115200
SIM_KEYGEN_MS = 250
STARTUP_KILL_SHARE = 0.15
"""Share of kills that land while the process starts (imports, opening the database,
taking the line, loading the claim), before its first attempt."""
RUN_TIMEOUT = 120.0
LOOPBACK_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""Dummy credentials for the loopback DynamoDB server (nothing leaves the machine)."""


def station_argv() -> list[str]:
    return [sys.executable, "-m", "station"]


REPO = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """The environment of the station and simulator processes: this checkout's code first
    (whichever copy the package was installed from), no STATION_CONFIG from the shell."""
    env = {k: v for k, v in os.environ.items() if k != "STATION_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["STATION_OPERATOR"] = "crash"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def ini_set(ini: Path, section: str, values: dict[str, str]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    if not parser.has_section(section):
        parser.add_section(section)
    for key, value in values.items():
        parser.set(section, key, value)
    with open(ini, "w", encoding="utf-8") as handle:
        parser.write(handle)


def prepare_station(folder: Path) -> Path:
    """A demo station folder with the batch open; returns its station.ini."""
    ini = prepare_folder(folder)
    ini_set(ini, "timeouts", STATION_TIMEOUTS)
    with Records(folder / "station.sqlite") as records:
        records.open_batch(BATCH, PRODUCT, 1000, "crash")
    return ini


class SimProcess:
    """``station sim --boards N`` in its own process; ``ports[i]`` is board ``serials[i]``."""

    def __init__(
        self, boards: int, *, first: int = 1, baud: int = SIM_BAUD, keygen_ms: float = SIM_KEYGEN_MS
    ) -> None:
        self.process = subprocess.Popen(
            [*station_argv(), "sim", "--boards", str(boards), "--baud", str(baud),
             "--keygen-ms", str(keygen_ms), "--first", str(first)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        )
        assert self.process.stdout is not None
        self.ports: list[str] = []
        for line in self.process.stdout:
            if line.startswith("ports: "):
                self.ports = line.removeprefix("ports: ").strip().split(",")
                break
        if len(self.ports) != boards:
            self.stop()
            raise RuntimeError(f"station sim did not start {boards} boards")
        self.serials = [f"SIM{first + i:06d}" for i in range(boards)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_sims(boards: int) -> tuple[list[SimProcess], list[str], dict[str, str]]:
    """Two ``station sim`` processes, fast and slow boards (key generation of
    SIM_KEYGEN_MS and 4x that), interleaved: a chunk always mixes both, so a kill often
    lands when some of its boards have passed and others are half-way.

    Returns (the processes, the ports in provisioning order, serial by port)."""
    fast_count = (boards + 1) // 2
    sims = [SimProcess(fast_count, first=1)]
    if boards - fast_count:
        try:
            sims.append(SimProcess(boards - fast_count, first=fast_count + 1, keygen_ms=4 * SIM_KEYGEN_MS))
        except BaseException:
            sims[0].stop()
            raise
    serial_of = {port: serial for sim in sims for port, serial in zip(sim.ports, sim.serials, strict=True)}
    ports = [port for pair in itertools.zip_longest(*(sim.ports for sim in sims)) for port in pair if port]
    return sims, ports, serial_of


def read_only(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


def snapshot(db: Path) -> tuple[int, list[int], set[str]]:
    """(highest attempt id, ids of running attempts, serials in the allow-list), read-only."""
    if not db.exists():
        return 0, [], set()
    try:
        conn = read_only(db)
    except sqlite3.Error:
        return 0, [], set()
    try:
        top = conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]
        running = [r[0] for r in conn.execute("SELECT id FROM attempts WHERE result = 'running'")]
        units = {r[0] for r in conn.execute("SELECT serial FROM units WHERE status = 'allowed'")}
        return top, running, units
    except sqlite3.Error:
        return 0, [], set()  # mid-migration on the very first run
    finally:
        conn.close()


@dataclass
class KillRecord:
    number: int
    seconds: float
    """After the process was started."""
    phase: str
    """``startup`` (no attempt of this process yet) or ``provisioning``."""
    boards: int
    open_attempts: int
    aborted: int
    allowed_after: int
    problems: list[str] = field(default_factory=list)


@dataclass
class CrashReport:
    seed: int
    boards: int
    kills_wanted: int
    kills: list[KillRecord] = field(default_factory=list)
    runs: int = 0
    finished_runs: int = 0
    exited_before_kill: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    units: int = 0
    synced_items: int | None = None
    sync: dict | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def all_problems(self) -> list[str]:
        return [*self.problems, *(f"kill {k.number}: {p}" for k in self.kills for p in k.problems)]

    def lines(self) -> list[str]:
        startup = sum(k.phase == "startup" for k in self.kills)
        out = [
            f"crash-kill campaign seed {self.seed} (replay: CAMPAIGN_SEED={self.seed})",
            f"  boards          {self.boards}",
            f"  kills           {len(self.kills)} of {self.kills_wanted} "
            f"({startup} during start-up, {len(self.kills) - startup} while provisioning)",
            f"  station runs    {self.runs} ({self.finished_runs} ran to the end, "
            f"{self.exited_before_kill} ended before their kill moment)",
            f"  open attempts at the kills  {sum(k.open_attempts for k in self.kills)}, "
            f"aborted by take_line {sum(k.aborted for k in self.kills)}",
            f"  attempts        {', '.join(f'{r} {n}' for r, n in sorted(self.attempts.items()))}",
            f"  allow-list      {self.units} units",
            f"  DynamoDB table  {self.synced_items if self.synced_items is not None else '-'} items after the final sync"
            + (f" (sync: sent {self.sync['sent']}, unchanged {self.sync['unchanged']}, "
               f"failed {self.sync['failed']})" if self.sync else ""),
            f"  time            {self.seconds:.1f} s",
            f"  problems        {len(self.all_problems)}",
        ]
        for kill in self.kills:
            out.append(
                f"    kill {kill.number:>2}: {kill.phase:<12} at {kill.seconds:5.2f} s, {kill.boards:>2} boards, "
                f"{kill.open_attempts:>2} open -> {kill.aborted:>2} aborted, {kill.allowed_after:>2} allowed"
            )
        out += [f"  ! {p}" for p in self.all_problems[:40]]
        return out


def check_database(ini: Path, open_before: list[int] | None = None) -> tuple[int, list[str], int]:
    """Restart the way the station does (take the line) and check every invariant.

    Returns (attempts take_line aborted, problems, allowed units).
    """
    problems: list[str] = []
    db = ini.with_name("station.sqlite")
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if [r[0] for r in integrity] != ["ok"]:
            problems.append(f"integrity_check: {[r[0] for r in integrity][:5]}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign_key_check: {len(fk)} row(s)")
    finally:
        conn.close()
    with open_station(ini) as station:
        aborted = station.take_line()
        records = station.records
        attempts = records.attempts()
        by_id = {a.id: a for a in attempts}
        running = [a.id for a in attempts if a.result == "running"]
        if running:
            problems.append(f"attempts still running after take_line: {running}")
        if open_before is not None:
            if aborted != len(open_before):
                problems.append(f"take_line aborted {aborted} attempts; {len(open_before)} were open at the kill")
            for attempt_id in open_before:
                attempt = by_id.get(attempt_id)
                if attempt is None:
                    problems.append(f"attempt {attempt_id}, open at the kill, is gone")
                elif attempt.result != "aborted" or attempt.error_code != "ATTEMPT_ABORTED":
                    problems.append(f"attempt {attempt_id}, open at the kill, is {attempt.result}/{attempt.error_code}")
        verification = records.verify_audit()
        if not verification.ok:
            problems.append(f"audit chain: {verification.problem}")
        units = {u.serial: u for u in records.units()}
        passing: dict[str, list] = {}
        for attempt in attempts:
            if attempt.result == "pass":
                passing.setdefault(attempt.serial or "", []).append(attempt)
                unit = units.get(attempt.serial or "")
                if unit is None:
                    problems.append(f"attempt {attempt.id} passed {attempt.serial} but the allow-list has no row")
                elif unit.status != "allowed":
                    problems.append(f"attempt {attempt.id} passed {attempt.serial} but its unit is {unit.status}")
        for serial, unit in units.items():
            mine = passing.get(serial, [])
            if not mine:
                problems.append(f"orphan unit {serial}: no passing attempt")
            elif mine[0].device_key_sha256 != unit.device_key_sha256:  # attempts(): newest first
                problems.append(f"unit {serial}: device key is not its last passing attempt's")
            if records.get_batch(unit.batch) is None:
                problems.append(f"unit {serial} in missing batch {unit.batch}")
        for attempt in attempts:
            if attempt.batch is not None and records.get_batch(attempt.batch) is None:
                problems.append(f"attempt {attempt.id} in missing batch {attempt.batch}")
        allowed = sum(1 for u in units.values() if u.status == "allowed")
    return aborted, problems, allowed


def wait_for_first_attempt(db: Path, process: subprocess.Popen, after_id: int, limit: float) -> bool:
    """Wait until this process started an attempt (id above ``after_id``); False if it
    ended or ``limit`` seconds passed first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if snapshot(db)[0] > after_id:
            return True
        time.sleep(0.01)
    return False


@dataclass
class Estimates:
    """How long a station run takes from its first attempt to its end, learnt from the
    runs that were not killed; the 'anywhere' kill moments are drawn from it."""

    startup: float = 1.0
    work: float = 1.5

    def learn_startup(self, seconds: float) -> None:
        self.startup = 0.5 * self.startup + 0.5 * seconds

    def learn_work(self, seconds: float) -> None:
        self.work = 0.5 * self.work + 0.5 * max(0.2, seconds)


EARLY_KILL_SECONDS = 0.35
"""An 'early' kill lands within this time after the run's first attempt began: boards are
identified, half-written or generating keys, none has passed yet."""


def run_crash_campaign(
    folder: Path,
    *,
    boards: int = 50,
    kills: int = 20,
    seed: int,
    parallel: int = 10,
    endpoint_url: str | None = None,
    table: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> CrashReport:
    """Provision ``boards`` simulated boards, SIGKILLing the station ``kills`` times.

    Each station run gets the next ``parallel`` boards that are not in the allow-list yet.
    With ``endpoint_url`` the allow-list is synced there at the end and the table compared.
    """
    if os.name != "posix":
        raise RuntimeError("SIGKILL, flock and pseudo-terminals are POSIX-only")
    say = echo or (lambda text: None)
    rng = random.Random(seed)
    report = CrashReport(seed, boards, kills)
    started = time.monotonic()
    ini = prepare_station(folder)
    db = ini.with_name("station.sqlite")
    sims, ports, serial_of = start_sims(boards)
    estimates = Estimates()
    max_runs = 3 * kills + 4 * math.ceil(boards / parallel) + 10
    try:
        while True:
            top, _, allowed = snapshot(db)
            remaining = [p for p in ports if serial_of[p] not in allowed]
            if not remaining:
                break
            if report.runs >= max_runs:
                report.problems.append(f"gave up after {report.runs} runs with {len(remaining)} boards left")
                break
            chunk = remaining[:parallel]
            argv = [*station_argv(), "--config", str(ini), "run", "--ports", ",".join(chunk), "--once",
                    "--batch", BATCH, "--operator", "crash", "--json"]
            report.runs += 1
            spawned = time.monotonic()
            process = subprocess.Popen(argv, cwd=folder, env=child_env(), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            killed = None
            first_at = None
            if len(report.kills) < kills:
                killed, first_at = _kill_at_random(
                    report, rng, process, db, top, spawned, len(chunk), estimates,
                    chunks_left=math.ceil(len(remaining) / parallel),
                )
            if killed is not None:
                record, open_ids = killed
                process.communicate(timeout=30)
                aborted, problems, allowed_now = check_database(ini, open_ids)
                record.aborted = aborted
                record.allowed_after = allowed_now
                record.problems += problems
                report.kills.append(record)
                say(f"  kill {record.number}: {record.phase} at {record.seconds:.2f} s, "
                    f"{record.open_attempts} open, {allowed_now}/{boards} allowed")
                continue
            if first_at is None and wait_for_first_attempt(db, process, top, RUN_TIMEOUT):
                first_at = time.monotonic()
            try:
                stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
                report.problems.append(f"run {report.runs} did not end within {RUN_TIMEOUT:.0f} s")
            report.finished_runs += 1
            if first_at is not None:
                estimates.learn_work(time.monotonic() - first_at)
            _check_finished_run(report, process.returncode, stdout, stderr, chunk, serial_of)
            aborted, problems, _ = check_database(ini)
            report.problems += [f"after run {report.runs}: {p}" for p in problems]
            if aborted:
                report.problems.append(f"after run {report.runs} (not killed): {aborted} attempts left open")
        if len(report.kills) < kills:
            report.problems.append(f"only {len(report.kills)} of {kills} kills happened before the batch was done")
    finally:
        for sim in sims:
            sim.stop()

    _, problems, _ = check_database(ini)
    report.problems += [f"final: {p}" for p in problems]
    with open_station(ini) as station:
        counts: dict[str, int] = {}
        for attempt in station.records.attempts():
            counts[attempt.result] = counts.get(attempt.result, 0) + 1
        report.attempts = counts
        units = {u.serial: u for u in station.records.units()}
    report.units = len(units)
    everyone = set(serial_of.values())
    if set(units) != everyone:
        report.problems.append(f"allow-list is not the batch: missing {sorted(everyone - set(units))[:10]}, "
                               f"extra {sorted(set(units) - everyone)[:10]}")
    if endpoint_url is not None:
        _sync_and_compare(report, ini, endpoint_url, table or f"crash-{seed}", units)
    report.seconds = time.monotonic() - started
    return report


def _kill_at_random(
    report: CrashReport,
    rng: random.Random,
    process: subprocess.Popen,
    db: Path,
    top: int,
    spawned: float,
    boards: int,
    estimates: Estimates,
    *,
    chunks_left: int,
) -> tuple[tuple[KillRecord, list[int]] | None, float | None]:
    """SIGKILL ``process`` at a random moment.

    Three kinds of moment: during start-up (STARTUP_KILL_SHARE of kills); 'early', within
    EARLY_KILL_SECONDS of the run's first attempt; or 'anywhere' in the run's expected
    provisioning time. 'Anywhere' kills are chosen often enough that the batch makes
    progress (about 1.5 chunks' worth over the kills still due) and no more, so the
    batch is not done before every kill has happened.

    Returns ((the record, attempts open at the kill) or None if the process ended
    before the moment, when the run's first attempt was seen or None).
    """
    kills_left = report.kills_wanted - len(report.kills)
    first_at = None
    if rng.random() < STARTUP_KILL_SHARE:
        time.sleep(rng.uniform(0.0, estimates.startup))
    else:
        if not wait_for_first_attempt(db, process, top, RUN_TIMEOUT):
            report.exited_before_kill += 1
            return None, None
        first_at = time.monotonic()
        estimates.learn_startup(first_at - spawned)
        anywhere = rng.random() < min(1.0, max(0.1, 1.5 * chunks_left / kills_left))
        window = estimates.work if anywhere else EARLY_KILL_SECONDS
        time.sleep(rng.uniform(0.0, window))
    if process.poll() is not None:
        report.exited_before_kill += 1
        return None, first_at
    seconds = time.monotonic() - spawned
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    now_top, open_ids, _ = snapshot(db)  # read once the process is surely dead
    phase = "provisioning" if now_top > top else "startup"
    record = KillRecord(len(report.kills) + 1, seconds, phase, boards, len(open_ids), 0, 0)
    if process.returncode != -signal.SIGKILL:
        record.problems.append(f"process ended with {process.returncode}, not by the kill")
    return (record, open_ids), first_at


def _check_finished_run(report, returncode, stdout, stderr, chunk, serial_of) -> None:  # type: ignore[no-untyped-def]
    where = f"run {report.runs}"
    if "Traceback" in stderr:
        report.problems.append(f"{where}: traceback: {stderr[-500:]}")
    try:
        results = json.loads(stdout)
    except json.JSONDecodeError:
        report.problems.append(f"{where}: exit {returncode}, no JSON results: {stdout[-300:]} {stderr[-300:]}")
        return
    by_port = {r.get("port"): r for r in results}
    for port in chunk:
        result = by_port.get(port)
        if result is None:
            report.problems.append(f"{where}: no result for {port}")
        elif result.get("result") != "PASS":
            report.problems.append(f"{where}: {serial_of[port]} ended {result.get('result')} "
                                   f"{result.get('code')}: {result.get('detail')}")
    if returncode != 0:
        report.problems.append(f"{where}: exit code {returncode}")


def _sync_and_compare(report: CrashReport, ini: Path, endpoint_url: str, table: str, units: dict) -> None:
    import boto3

    from station.allowlist_item import create_allowlist_table
    from station.sync.engine import run_station_sync

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    try:
        create_allowlist_table(client, table)
        ini_set(ini, "cloud", {"table": table, "endpoint_url": endpoint_url, "region": region})
        with open_station(ini) as station:
            sync_report = run_station_sync(station.records, station.config)
            report.sync = {"sent": sync_report.sent, "unchanged": sync_report.unchanged,
                           "failed": sync_report.failed, "conflicts": sync_report.conflicts}
            pending = station.records.count_pending_sync()
        if pending:
            report.problems.append(f"sync: {pending} units still pending after the final sync")
        items = {}
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                items[item["serial"]["S"]] = item
        report.synced_items = len(items)
        passed = {s for s, u in units.items() if u.status == "allowed"}
        if set(items) != passed:
            report.problems.append(f"table holds {len(items)} serials, the PASS set is {len(passed)}: "
                                   f"missing {sorted(passed - set(items))[:10]}, extra {sorted(set(items) - passed)[:10]}")
        for serial, item in items.items():
            unit = units.get(serial)
            if unit is None:
                continue
            if item.get("status", {}).get("S") != "allowed":
                report.problems.append(f"table: {serial} has status {item.get('status')}")
            if item.get("device_key_sha256", {}).get("S") != unit.device_key_sha256:
                report.problems.append(f"table: {serial} has another device key than the allow-list")
    finally:
        client.close()
