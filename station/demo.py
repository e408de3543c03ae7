"""``station demo``: a whole line on one PC, with no hardware and no AWS account.

It leaves a working demo station in the folder (``station.ini``, the database,
demo claim material) so every other command can be tried there afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flashing.sim import check_fault, start_simulated

from . import render
from .config import DEFAULT_CONFIG_NAME, load_config
from .context import open_station
from .demo_material import make_demo_claim_material
from .errors import StationError
from .events import AttemptFinished
from .pipeline import Provisioner
from .ports import ManualPorts
from .runner import LineRunner

DEMO_PRODUCT = "DEMO-GW"
DEFAULT_DEMO_FAULTS = ("2=wrong-cn",)
RECOVERED_FAULT_KINDS = frozenset({"corrupt-once"})
"""Faults the protocol recovers from: a board that has only these is expected to PASS."""

DEMO_INI = """\
; A demo station, made by `station demo` on {date}.
; Its claim material is DEMO ONLY (a throwaway CA made on this PC): never put it on real boards.
; Every station command works from this folder: station units, station show SERIAL, ...
[station]
id = DEMO-STATION-1
database = station.sqlite
log_dir = logs
driver = agent
demo = yes

[serial]
; simulated agent boards are numbered SIM000001, SIM000002, ...; simulated nRF91 modems by IMEI
pattern = SIM[0-9]{{6}}|[0-9]{{15}}

[claim]
certificate = {cert}
private_key = {key}
root_ca = {root_ca}

[ports]
; simulated boards get new ports each time: start some with `station sim --boards 4 --first 9001`
; (numbers the demo has not used yet) and pass the ports it prints to `station run --ports ...`
ports =
baud = 115200

[timeouts]
answer_seconds = 1.0
retries = 3
"""


def parse_board_faults(specs: Iterable[str], boards: int, driver: str = "agent") -> dict[int, list[str]]:
    """``["3=drop@keygen", "corrupt-once@hello"]`` → faults by 0-based board index."""
    faults: dict[int, list[str]] = {}
    for spec in specs:
        number_text, sep, fault = spec.partition("=")
        if sep:
            if not number_text.strip().isdigit() or not 1 <= int(number_text) <= boards:
                raise StationError(f"--fault {spec!r}: board number must be 1..{boards}", code="FAULT_SPEC_INVALID",
                                   hint="Write faults as [N=]KIND[@STEP], e.g. 2=drop@keygen.")
            targets = [int(number_text) - 1]
        else:
            fault, targets = spec, list(range(boards))
        check_fault(driver, fault)
        for index in targets:
            faults.setdefault(index, []).append(fault.strip())
    return faults


def prepare_folder(folder: Path) -> Path:
    """Write the demo ``station.ini`` and claim material, unless they are there already."""
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / DEFAULT_CONFIG_NAME
    if ini.exists():
        if not load_config(ini).demo:
            raise StationError(
                f"{ini} belongs to a real station, not a demo",
                code="DEMO_FOLDER_IN_USE",
                hint="Run `station demo` in an empty folder (or pass --dir NEW_FOLDER).",
            )
        make_demo_claim_material(folder / "demo-claim")
        return ini
    files = make_demo_claim_material(folder / "demo-claim")
    ini.write_text(
        DEMO_INI.format(
            date=datetime.now(UTC).strftime("%Y-%m-%d"),
            cert=files.claim_cert.relative_to(folder).as_posix(),
            key=files.claim_key.relative_to(folder).as_posix(),
            root_ca=files.root_ca.relative_to(folder).as_posix(),
        ),
        encoding="utf-8",
    )
    return ini


def run_demo(
    folder: str | Path,
    *,
    boards: int = 4,
    faults: Iterable[str] = (),
    baud: int = 115200,
    keygen_ms: float = 200.0,
    endpoint_url: str | None = None,
    driver: str = "agent",
    as_json: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the demo line; returns the exit code (0 when every board ended as its faults predict)."""
    folder = Path(folder).resolve()
    default_faults = DEFAULT_DEMO_FAULTS if boards >= 2 else ()  # the default fault is board 2's
    fault_map = parse_board_faults(faults or default_faults, boards)
    ini = prepare_folder(folder)
    say = (lambda text: None) if as_json else echo
    with open_station(ini) as station:
        station.take_line()
        claim = station.claim()
        batch_id = "DEMO-" + datetime.now(UTC).strftime("%Y%m%d")
        station.records.open_batch(batch_id, DEMO_PRODUCT, 100, "demo")
        first_number = len(station.records.attempts()) + 1
        say(f"Demo station in {folder}")
        say(f"  claim certificate: {claim.subject} (sha256 {claim.cert_sha256[:16]}…)")
        kind = "nRF91 modem(s)" if driver == "nrf91" else "board(s) with the station agent"
        say(f"  batch {batch_id}; {boards} simulated {kind} at {baud} baud, "
            f"key generation {keygen_ms:.0f} ms; faults: "
            + (", ".join(f"board {i + 1}: {'+'.join(f)}" for i, f in sorted(fault_map.items())) or "none"))
        say("")
        sims = start_simulated(
            driver, boards, first_number=first_number, baud=baud or None, keygen_ms=keygen_ms, faults=fault_map
        )
        try:
            config = replace(station.config, driver=driver)
            provisioner = Provisioner(config, station.records, claim)
            runner = LineRunner(provisioner, ManualPorts(), batch=batch_id, operator="demo")
            provisioner.bus.subscribe(lambda event: _say_result(event, say))
            results = runner.run_once([sim.port for sim in sims])
        finally:
            for sim in sims:
                sim.stop()
        expected = all(r.passed == _expected_to_pass(fault_map.get(i, [])) for i, r in enumerate(results))
        if as_json:
            echo(json.dumps({"folder": str(folder), "batch": batch_id, "results": [
                {"serial": r.serial, "result": r.result, "code": r.code, "hint": r.hint,
                 "faults": fault_map.get(i, []), "seconds": round(r.duration_ms / 1000, 3)}
                for i, r in enumerate(results)]}, indent=2))
            return 0 if expected else 1
        say("")
        say(render.table(
            ["board", "serial", "result", "code", "time", "simulated fault"],
            [(i + 1, r.serial or "-", r.result, r.code or "", render.duration(r.duration_ms),
              "+".join(fault_map.get(i, [])) or "-") for i, r in enumerate(results)],
        ))
        passed = sum(r.passed for r in results)
        say("")
        say(f"{passed} PASS, {len(results) - passed} FAIL. "
            + ("Every board ended as expected." if expected else "UNEXPECTED: a board did not end as its faults predict (see logs/station.log)."))
        say("")
        say("Try next, in this folder:")
        say("  station units                 the allow-list")
        say(f"  {'station show ' + (results[0].serial or 'SERIAL'):<30}one board's attempts and audit trail")
        say("  station batch list            batches and progress")
        say("  station audit verify          check the tamper-evident audit log")
        return 0 if expected else 1


def _expected_to_pass(faults: Iterable[str]) -> bool:
    return all(fault.strip().lower().partition("@")[0] in RECOVERED_FAULT_KINDS for fault in faults)


def _say_result(event: object, say: Callable[[str], None]) -> None:
    if not isinstance(event, AttemptFinished):
        return
    if event.passed:
        say(f"  PASS  {event.serial}  {render.duration(event.duration_ms)}")
    else:
        say(f"  FAIL  {event.serial or '(no serial)'}  {event.code}\n        what to do: {event.hint}")
