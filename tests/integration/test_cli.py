"""The ``station`` command as a user meets it: exit codes, what it prints, what it leaves.

Exit codes (station/cli.py): 0 success, 1 a board FAILed, 2 usage, 3 the station could not
do what was asked. Whatever goes wrong, the user gets a line saying what and what to do,
never a Python traceback.

The demo line and the long-running commands (``sim``, ``run``) run as real processes; the
quick record commands run in this process through click's runner.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration_harness import (
    Run,
    assert_no_traceback,
    clean_env,
    ini_set,
    invoke,
    open_batch,
    run_station,
)

from records import Records

PASS_SERIALS = ["SIM000001", "SIM000003", "SIM000004"]  # the demo's board 2 fails (wrong CN)

# ``station`` with Ctrl-C working as on a terminal, even when the test runner was started
# with SIGINT ignored (as background jobs are): the same CLI entry point, nothing else.
CTRL_C_READY = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from station.cli import main; sys.argv[0] = 'station'; main()"
)


class Process:
    """A long-running ``station`` process whose output is read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            [sys.executable, "-c", CTRL_C_READY, *args], cwd=cwd, env=clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} from station {' '.join(self.args)}; got {self.seen}")

    def ctrl_c(self, timeout: float = 20) -> Run:
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=timeout)
        finally:
            self.kill()
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        assert self.popen.stderr is not None
        return Run(self.args, self.popen.returncode, "\n".join(self.seen + rest), self.popen.stderr.read())

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


# -- the demo line -----------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    folder: Path
    run: Run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    cwd = tmp_path_factory.mktemp("demo-cwd")
    folder = cwd / "line"
    folder.mkdir()
    done = run_station("demo", "--boards", "4", "--keygen-ms", "50", cwd=folder)
    return Demo(folder, done)


def test_demo_in_an_empty_folder_exits_0(demo):
    assert demo.run.returncode == 0, demo.run
    assert_no_traceback(demo.run)


def test_demo_prints_a_pass_or_fail_line_for_each_board(demo):
    out = demo.run.stdout

    for serial in PASS_SERIALS:
        assert re.search(rf"^\s+PASS\s+{serial}\b", out, re.M)
    assert re.search(r"^\s+FAIL\s+SIM000002\s+CSR_CN_MISMATCH", out, re.M)
    assert "what to do:" in out


def test_demo_prints_a_summary(demo):
    assert "3 PASS, 1 FAIL. Every board ended as expected." in demo.run.stdout
    assert "station units" in demo.run.stdout


def test_demo_leaves_a_working_station_folder(demo):
    for name in ["station.ini", "station.sqlite", "logs/station.log", "demo-claim/demo-claim-key.pem"]:
        assert (demo.folder / name).is_file(), name


def test_units_lists_the_pass_serials(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("units")

    assert result.exit_code == 0
    assert_no_traceback(result)
    listed = re.findall(r"^(SIM\d{6})\s", result.stdout, re.M)
    assert sorted(listed) == PASS_SERIALS


def test_units_json_parses_and_lists_the_pass_serials(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("units", "--json")

    assert result.exit_code == 0
    units = json.loads(result.stdout)
    assert sorted(u["serial"] for u in units) == PASS_SERIALS
    assert {u["status"] for u in units} <= {"allowed", "revoked"}  # the demo's cloud check revokes one
    assert all(re.fullmatch(r"[0-9a-f]{64}", u["device_key_sha256"]) for u in units)
    assert result.stdout == json.dumps(units, indent=2, sort_keys=True) + "\n", "not json.dumps' own layout"


def test_show_prints_the_unit_its_attempts_and_audit_trail(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("show", "SIM000001")

    assert result.exit_code == 0
    assert_no_traceback(result)
    assert re.search(r"^SIM000001: ALLOWED in batch DEMO-\d{8}", result.stdout, re.M)
    assert "attempts:" in result.stdout
    assert "unit.pass" in result.stdout


def test_show_json_has_the_unit_attempts_and_audit(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("show", "SIM000001", "--json")

    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["unit"]["serial"] == "SIM000001"
    assert [a["result"] for a in shown["attempts"]] == ["pass"]
    assert [s["name"] for s in shown["attempts"][0]["steps"]][-1] == "record"
    assert "unit.pass" in [e["action"] for e in shown["audit"]]


def test_show_of_a_failed_board_says_it_never_passed_and_why(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("show", "SIM000002")

    assert result.exit_code == 0
    assert "SIM000002: never passed" in result.stdout
    assert "CSR_CN_MISMATCH" in result.stdout


def test_show_of_an_unknown_serial_exits_3_with_one_clear_line(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("show", "SIM999999")

    assert result.exit_code == 3
    assert_no_traceback(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: SERIAL_UNKNOWN: serial 'SIM999999' is unknown to this station"
    assert all(line.startswith("  what to do:") for line in lines[1:])


def test_audit_verify_exits_0_on_the_demo_line(demo, monkeypatch):
    monkeypatch.chdir(demo.folder)

    result = invoke("audit", "verify")

    assert result.exit_code == 0
    assert "audit log OK" in result.stdout


def test_station_config_environment_variable_is_honoured(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    result = invoke("units", "--json", env={"STATION_CONFIG": str(demo.folder / "station.ini")})

    assert result.exit_code == 0, result.output
    assert sorted(u["serial"] for u in json.loads(result.stdout)) == PASS_SERIALS


def test_config_option_wins_over_the_environment_variable(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    result = invoke(
        "--config", demo.folder / "station.ini", "units", "--json",
        env={"STATION_CONFIG": str(tmp_path / "elsewhere.ini")},
    )

    assert result.exit_code == 0, result.output


def test_station_config_naming_a_missing_file_exits_3_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    result = invoke("units", env={"STATION_CONFIG": str(tmp_path / "nope.ini")})

    assert result.exit_code == 3
    assert_no_traceback(result)
    assert "CONFIG_MISSING" in result.stderr
    assert "STATION_CONFIG" in result.stderr


# -- demo, again and elsewhere ------------------------------------------------------------


def test_a_second_demo_in_the_same_folder_continues_the_numbering(tmp_path):
    first = invoke("demo", "--dir", tmp_path, "--boards", "2", "--keygen-ms", "0")
    second = invoke("demo", "--dir", tmp_path, "--boards", "2", "--keygen-ms", "0")

    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    assert "SERIAL_ALREADY_PROVISIONED" not in second.stdout
    assert re.search(r"PASS\s+SIM000003\b", second.stdout)
    assert re.search(r"FAIL\s+SIM000004\s+CSR_CN_MISMATCH", second.stdout)
    with Records(tmp_path / "station.sqlite") as records:
        assert sorted(u.serial for u in records.units()) == ["SIM000001", "SIM000003"]


def test_demo_with_a_fault_the_protocol_recovers_from_ends_as_expected(tmp_path):
    result = invoke("demo", "--dir", tmp_path, "--boards", "2", "--keygen-ms", "0", "--fault", "1=corrupt-once@write_chunk")

    assert result.exit_code == 0, result.output
    assert "2 PASS, 0 FAIL. Every board ended as expected." in result.stdout


def test_demo_with_a_single_board_runs_it_without_the_default_fault(tmp_path):
    result = invoke("demo", "--dir", tmp_path, "--boards", "1", "--keygen-ms", "0")

    assert result.exit_code == 0, result.output
    assert "1 PASS, 0 FAIL. Every board ended as expected." in result.stdout


def test_demo_refuses_a_folder_with_a_real_station_ini(station_folder):
    ini = station_folder / "station.ini"
    ini_set(ini, "station", "demo", "no")
    before = ini.read_bytes()

    result = invoke("demo", "--dir", station_folder, "--boards", "2")

    assert result.exit_code == 3
    assert_no_traceback(result)
    assert "DEMO_FOLDER_IN_USE" in result.stderr
    assert "what to do:" in result.stderr
    assert ini.read_bytes() == before
    assert not (station_folder / "station.sqlite").exists()


# -- batches ----------------------------------------------------------------------------------


def test_batch_open_list_close_round_trip(station_folder, monkeypatch):
    monkeypatch.chdir(station_folder)

    invoke("user", "add", "tester", "--role", "supervisor", "--pin-stdin", input="4711-pin\n")
    opened = invoke("batch", "open", "B7", "--product", "GW", "--quantity", "10")
    listed_open = invoke("batch", "list", "--json")
    closed = invoke("batch", "close", "B7", "--pin-stdin", input="4711-pin\n")
    listed_closed = invoke("batch", "list", "--json")
    closed_again = invoke("batch", "close", "B7", "--pin-stdin", input="4711-pin\n")

    assert opened.exit_code == 0 and "batch B7 open: GW, 10 planned" in opened.stdout
    [batch] = json.loads(listed_open.stdout)
    assert (batch["id"], batch["product"], batch["planned_quantity"], batch["closed_at"], batch["passed"]) == (
        "B7", "GW", 10, None, 0,
    )
    assert closed.exit_code == 0 and "batch B7 closed at" in closed.stdout
    [batch] = json.loads(listed_closed.stdout)
    assert batch["closed_at"] is not None
    assert batch["closed_by"] == "tester"
    assert closed_again.exit_code == 3
    assert_no_traceback(closed_again)


# -- configuration errors -----------------------------------------------------------------------


def test_no_station_ini_in_the_current_folder_exits_3_with_config_missing_and_a_hint(tmp_path):
    done = run_station("units", cwd=tmp_path)

    assert done.returncode == 3
    assert_no_traceback(done)
    assert done.stderr.startswith("error: CONFIG_MISSING: no station.ini in ")
    assert "what to do:" in done.stderr
    assert "station demo" in done.stderr


def _garbage_bytes(ini: Path) -> None:
    ini.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage \x80\x81")


def _no_sections(ini: Path) -> None:
    ini.write_text("this is not an ini file\n")


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        pytest.param(_garbage_bytes, "line 1 is not UTF-8 text", id="garbage-bytes"),
        pytest.param(_no_sections, "is not a valid ini file", id="no-section-headers"),
        pytest.param(lambda ini: ini_set(ini, "claim", "private_key", None), "[claim] private_key", id="missing-claim-key"),
        pytest.param(lambda ini: ini_set(ini, "station", "id", None), "[station] id", id="missing-station-id"),
        pytest.param(lambda ini: ini_set(ini, "serial", "pattern", "SIM[0-9"), "[serial] pattern", id="bad-regex"),
        pytest.param(lambda ini: ini_set(ini, "timeouts", "answer_seconds", "fast"), "[timeouts] answer_seconds", id="bad-number"),
        pytest.param(lambda ini: ini_set(ini, "station", "driver", "usb"), "[station] driver", id="unknown-driver"),
    ],
)
def test_a_broken_station_ini_exits_3_naming_what_is_wrong(station_folder, monkeypatch, damage, named):
    monkeypatch.chdir(station_folder)
    ini = station_folder / "station.ini"
    damage(ini)

    result = invoke("units")

    assert result.exit_code == 3
    assert_no_traceback(result)
    assert result.stdout == ""
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("error: CONFIG_")
    assert named in first_line
    assert str(ini) in first_line


# -- simulated boards and the line ----------------------------------------------------------------


def test_sim_prints_its_ports_and_a_board_on_one_of_them_can_be_provisioned(station_folder):
    open_batch(station_folder, "B1")
    sim = Process("sim", "--boards", "2", "--keygen-ms", "0", cwd=station_folder)
    try:
        ports = sim.wait_for_line(r"^ports: (\S+)").group(1).split(",")
        assert len(ports) == 2

        done = run_station("provision", "--port", ports[1], "--batch", "B1", cwd=station_folder)

        stopped = sim.ctrl_c()
    finally:
        sim.kill()
    assert done.returncode == 0, done
    assert_no_traceback(done)
    assert re.search(rf"^PASS\s+{re.escape(ports[1])}\s+SIM000002\b", done.stdout, re.M)
    assert stopped.returncode == 130
    assert "stopped" in stopped.stderr
    assert_no_traceback(stopped)
    with Records(station_folder / "station.sqlite") as records:
        assert [u.serial for u in records.units()] == ["SIM000002"]


def test_run_with_two_ports_provisions_both_until_ctrl_c(station_folder, boards):
    open_batch(station_folder, "B1")
    first, second = boards(2)
    line = Process("run", "--ports", f"{first.port},{second.port}", "--batch", "B1", cwd=station_folder)
    try:
        finished = {line.wait_for_line(r"\b(SIM00000[12])\s+PASS\b").group(1) for _ in range(2)}
        stopped = line.ctrl_c()
    finally:
        line.kill()
    assert finished == {first.serial, second.serial}
    assert stopped.returncode == 0, stopped
    assert "2 PASS, 0 FAIL" in stopped.stdout
    assert_no_traceback(stopped)


def test_run_once_with_two_ports_provisions_both_and_exits_0(station_folder, boards):
    open_batch(station_folder, "B1")
    first, second = boards(2)

    result = invoke("--config", station_folder / "station.ini", "run", "--once", "--ports", f"{first.port},{second.port}")

    assert result.exit_code == 0, result.output
    assert_no_traceback(result)
    assert re.search(rf"{first.serial}\s+PASS", result.stdout)
    assert re.search(rf"{second.serial}\s+PASS", result.stdout)
    with Records(station_folder / "station.sqlite") as records:
        assert sorted(u.serial for u in records.units()) == [first.serial, second.serial]


def test_provision_exits_1_and_says_what_to_do_when_the_board_fails(station_folder, boards, monkeypatch):
    monkeypatch.chdir(station_folder)
    open_batch(station_folder, "B1")
    sim = boards(1, faults={0: ["wrong-cn"]})[0]

    result = invoke("provision", "--port", sim.port)

    assert result.exit_code == 1
    assert_no_traceback(result)
    assert re.search(rf"^FAIL\s+{re.escape(sim.port)}\s+{sim.serial}\s+CSR_CN_MISMATCH", result.stdout, re.M)
    assert "what to do:" in result.stdout
