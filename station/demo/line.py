"""``station demo``: a whole line on one PC, with no hardware and no AWS account.

It leaves a working demo station in the folder (``station.ini``, the database,
demo claim material) so every other command can be tried there afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flashing.greengrass import GreengrassSettings
from flashing.sim import check_fault, start_simulated
from flashing.sim.greengrass_board import DEFAULT_PASSWORD
from station import render
from station.config import DEFAULT_CONFIG_NAME, CloudConfig, StationConfig, find_config, load_config
from station.context import Station, open_station
from station.demo.material import make_demo_claim_material
from station.demo.trust_check import CloudSide, FirstBoot, TrustCase, check_trust_chain
from station.errors import StationError
from station.labels import LabelService
from station.labels.demo import describe as describe_printer
from station.labels.demo import start_demo_printer
from station.provisioning.events import AttemptFinished
from station.provisioning.pipeline import Provisioner, ProvisionResult
from station.provisioning.ports import ManualPorts
from station.provisioning.runner import LineRunner
from station.sync.engine import SyncReport, run_station_sync, station_signer
from station.sync.signing import create_signing_key

DEMO_PRODUCT = "DEMO-GW"
DEFAULT_DEMO_FAULTS = {"agent": ("2=wrong-cn",), "nrf91": ("2=wrong-cn",), "greengrass": ("2=read-only-fs",)}
"""Board 2 of a demo line shows a FAIL the station catches."""

GATEWAY_DEMO_PASSWORD = DEFAULT_PASSWORD


def demo_gateway_settings(config_path: str | None = None) -> GreengrassSettings:
    """The ``[greengrass]`` of the station.ini at hand, else the demo's own section: what
    simulated gateways are laid out by (their paths and serial source)."""
    with contextlib.suppress(StationError):
        config = load_config(find_config(config_path))
        if config.greengrass is not None:
            return config.greengrass
    section = DEMO_INI.split("[greengrass]", 1)[1]
    values = dict(
        (key.strip(), value.strip()) for key, _, value in
        (line.partition("=") for line in section.splitlines() if "=" in line and not line.startswith(";"))
    )
    return GreengrassSettings.from_mapping(values)
DEMO_ENDPOINT = "http://127.0.0.1:8765"
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
; every row this station syncs is signed with this key (made by `station key create`)
signing_key = station-signing-key.pem

[serial]
; simulated agent boards are numbered SIM000001, SIM000002, ...; simulated nRF91 modems by IMEI;
; simulated gateways GW000001, ...
pattern = SIM[0-9]{{6}}|[0-9]{{15}}|GW[0-9]{{6}}

[claim]
certificate = {cert}
private_key = {key}
root_ca = {root_ca}

[ports]
; simulated boards get new ports each time: start some with `station sim --boards 4 --first 9001`
; (numbers the demo has not used yet) and pass the ports it prints to `station run --ports ...`
ports =
baud = 115200

[cloud]
; The demo syncs to a DynamoDB-compatible server on this PC. `station cloud local` keeps one
; up here for `station sync` and the app; `station demo --endpoint-url URL` points elsewhere.
table = {table}
stations_table = {table}-stations
region = us-east-1
endpoint_url = {endpoint}

[timeouts]
answer_seconds = 1.0
retries = 3

[greengrass]
; Only with [station] driver = greengrass (Linux gateways over their console; docs/greengrass.md).
; The simulated gateways' factory account password is in STATION_GATEWAY_PASSWORD ("factory").
aws_region = us-east-1
iot_data_endpoint = demo-ats.iot.us-east-1.amazonaws.com
iot_credential_endpoint = demo.credentials.iot.us-east-1.amazonaws.com
iot_role_alias = GreengrassCoreTokenExchangeRoleAlias
provisioning_template = StationFleet
user = root
password_env = STATION_GATEWAY_PASSWORD
serial_source = devicetree
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


def prepare_folder(folder: Path, *, endpoint_url: str | None = None, driver: str | None = None) -> Path:
    """Write the demo ``station.ini`` and claim material, unless they are there already.

    ``endpoint_url`` (``station demo --endpoint-url``, checked first) is written into
    ``[cloud]`` and ``driver`` into ``[station]``, so the folder keeps working the way the
    demo ran: later commands (``station run``, the app) use the same endpoint and boards.
    """
    if endpoint_url:
        from station.sync.dynamo import validate_endpoint_url

        endpoint_url = validate_endpoint_url(endpoint_url, origin="--endpoint-url")
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
        _ensure_signing_key(load_config(ini))
        if endpoint_url:
            _set_endpoint(ini, endpoint_url)
        if driver:
            _set_driver(ini, driver)
        return ini
    files = make_demo_claim_material(folder / "demo-claim")
    ini.write_text(
        DEMO_INI.format(
            date=datetime.now(UTC).strftime("%Y-%m-%d"),
            cert=files.claim_cert.relative_to(folder).as_posix(),
            key=files.claim_key.relative_to(folder).as_posix(),
            root_ca=files.root_ca.relative_to(folder).as_posix(),
            endpoint=endpoint_url or DEMO_ENDPOINT,
            table=f"station-demo-{secrets.token_hex(3)}",
        ),
        encoding="utf-8",
    )
    if driver:
        _set_driver(ini, driver)
    _ensure_signing_key(load_config(ini))
    return ini


def _set_driver(ini: Path, driver: str) -> None:
    text = ini.read_text(encoding="utf-8")
    ini.write_text(re.sub(r"(?m)^driver\s*=.*$", f"driver = {driver}", text, count=1), encoding="utf-8")


def stations_table(cloud: CloudConfig) -> str:
    """The registry table of a demo cloud ([cloud] stations_table, else beside the allow-list)."""
    return cloud.stations_table or f"{cloud.table}-stations"


def register_demo_station(client: object, cloud: CloudConfig, config: StationConfig) -> None:
    """Do what the administrator does for a real station: create the registry table and
    register this station's signing key in it (once)."""
    from station.admin.stations import register_station
    from station.allowlist_item import create_stations_table
    table = stations_table(cloud)
    create_stations_table(client, table)
    signer = station_signer(config)
    try:
        register_station(client, table, config.station_id, signer.public_der)
    except StationError as exc:
        if exc.code != "STATION_KEY_EXISTS":
            raise


def _ensure_signing_key(config: StationConfig) -> None:
    """A demo station signs its rows like a real one; its key is made on first use."""
    if not config.signing_key.exists():
        create_signing_key(config.signing_key, config.station_id)


def _set_endpoint(ini: Path, endpoint_url: str) -> None:
    text = ini.read_text(encoding="utf-8")
    if re.search(r"(?m)^\[cloud\]", text):
        if re.search(r"(?m)^endpoint_url\s*=.*$", text):
            text = re.sub(r"(?m)^endpoint_url\s*=.*$", f"endpoint_url = {endpoint_url}", text)
        else:
            text = re.sub(r"(?m)^\[cloud\]\s*$", f"[cloud]\nendpoint_url = {endpoint_url}", text)
    else:
        text += f"\n[cloud]\ntable = station-demo-{secrets.token_hex(3)}\nregion = us-east-1\nendpoint_url = {endpoint_url}\n"
    ini.write_text(text, encoding="utf-8")


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
    """Run the demo line; returns the exit code.

    0 when every board ended as its faults predict (a FAIL that a fault predicts is
    expected) and every case of the cloud check came out as the trust chain requires;
    1 otherwise. The summary line says which.
    """
    folder = Path(folder).resolve()
    default_faults = DEFAULT_DEMO_FAULTS[driver] if boards >= 2 else ()  # the default fault is board 2's
    fault_map = parse_board_faults(faults or default_faults, boards, driver)
    if endpoint_url:
        from station.sync.dynamo import validate_endpoint_url

        endpoint_url = validate_endpoint_url(endpoint_url, origin="--endpoint-url")
        if not _answers(endpoint_url):
            raise StationError(
                f"--endpoint-url {endpoint_url}: nothing answers there",
                code="DEMO_ENDPOINT_UNREACHABLE",
                hint="Start the endpoint first (e.g. `station cloud local` in another terminal), or leave "
                "--endpoint-url out and the demo starts one of its own.",
            )
    ini = prepare_folder(folder, endpoint_url=endpoint_url, driver=driver)
    say = (lambda text: None) if as_json else echo
    with open_station(ini) as station:
        station.take_line()
        claim = station.claim()
        batch_id = "DEMO-" + datetime.now(UTC).strftime("%Y%m%d")
        station.records.open_batch(batch_id, DEMO_PRODUCT, 100, "demo")
        say(f"Demo station in {folder}")
        say(f"  claim certificate: {claim.subject} (sha256 {claim.cert_sha256[:16]}…)")
        kind = {"nrf91": "nRF91 modem(s)", "greengrass": "Linux gateway(s) on their console"}.get(
            driver, "board(s) with the station agent")
        say(f"  batch {batch_id}; {boards} simulated {kind} at {baud} baud, "
            f"key generation {keygen_ms:.0f} ms; faults: "
            + (", ".join(f"board {i + 1}: {'+'.join(f)}" for i, f in sorted(fault_map.items())) or "none"))
        say("")
        results, keys, first_boot = _provision(station, driver, batch_id, boards, baud, keygen_ms, fault_map, say)
        expected = ended_as_expected(results, fault_map)
        if not as_json:
            _say_summary(results, fault_map, expected, say)
        cloud = DemoCloud(station, folder, endpoint_url, say)
        sync_report, rows, cases = cloud.run({r.serial: keys[r.serial] for r in results if r.passed and r.serial},
                                             first_boot)
        trusted = all(case.ok for case in cases)
        if as_json:
            echo(json.dumps({
                "folder": str(folder), "batch": batch_id,
                "results": [
                    {"serial": r.serial, "result": r.result, "code": r.code, "hint": r.hint,
                     "faults": fault_map.get(i, []), "seconds": round(r.duration_ms / 1000, 3)}
                    for i, r in enumerate(results)],
                "sync": sync_report.to_dict() if sync_report else None,
                "table": rows,
                "cloud_check": [
                    {"case": c.name, "serial": c.serial, "expected": "allow" if c.expected_allow else "deny",
                     "got": "allow" if c.allowed else "deny", "ok": c.ok} for c in cases],
            }, indent=2, default=str))
            return 0 if expected and trusted else 1
        say("")
        say("Exit 0: every board ended as its faults predict and the cloud check held." if expected and trusted
            else "Exit 1: " + ("a board did not end as its faults predict" if not expected
                               else "a case of the cloud check came out wrong") + ".")
        say("")
        say("Try next, in this folder:")
        say("  station units                 the allow-list")
        say(f"  {'station show ' + (results[0].serial or 'SERIAL'):<30}one board's attempts and audit trail")
        say(f"  station report --batch {batch_id}   the QA batch report (HTML)")
        say("  station audit verify          check the tamper-evident audit log")
        say("  station doctor                the station's security posture")
        say("  station cloud local           keep a local DynamoDB-compatible server up for station sync")
        return 0 if expected and trusted else 1


def _provision(
    station: Station, driver: str, batch_id: str, boards: int, baud: int, keygen_ms: float,
    fault_map: dict[int, list[str]], say: Callable[[str], None],
) -> tuple[list[ProvisionResult], dict[str | None, object], dict[str, FirstBoot]]:
    """Provision the simulated boards in parallel; return the results, each board's key and,
    for gateways, what each one's own first boot will send."""
    first_number = len(station.records.attempts()) + 1
    gateways = {}
    if driver == "greengrass":
        os.environ.setdefault(station.config.greengrass.password_env, GATEWAY_DEMO_PASSWORD)
        gateways = {"greengrass": station.config.greengrass, "password": GATEWAY_DEMO_PASSWORD}
    sims = start_simulated(
        driver, boards, first_number=first_number, baud=baud or None, keygen_ms=keygen_ms, faults=fault_map,
        **gateways,
    )
    printer = start_demo_printer(station.config.folder)
    labels = None
    try:
        config = replace(station.config, driver=driver)
        provisioner = Provisioner(config, station.records, station.claim())
        labels = LabelService.for_station(config.folder, config.station_id, station.records)
        runner = LineRunner(provisioner, ManualPorts(), batch=batch_id, operator="demo", labels=labels)
        provisioner.bus.subscribe(lambda event: _say_result(event, say))
        try:
            results = runner.run_once([sim.port for sim in sims])
            if labels is not None:
                labels.flush(10.0)
            say(describe_printer(printer, config.folder))
        except KeyboardInterrupt:
            # before the simulated boards go, or their attempts would end as FAIL BOARD_DISCONNECTED
            station.records.abort_open_attempts("the demo was stopped (Ctrl-C) while this board ran")
            raise
        keys = {sim.serial: sim.device_private_key for sim in sims}  # before a gateway's files go
        passed = {r.serial for r in results if r.passed}
        first_boot = {sim.serial: FirstBoot(sim.csr_der(), sim.template_parameters())
                      for sim in sims if driver == "greengrass" and sim.serial in passed}
    finally:
        if labels is not None:
            labels.stop()
        printer.stop()
        for sim in sims:
            sim.stop()
    return results, keys, first_boot


def _say_summary(
    results: list[ProvisionResult], fault_map: dict[int, list[str]], expected: bool, say: Callable[[str], None]
) -> None:
    say("")
    say(render.table(
        ["board", "serial", "result", "code", "time", "simulated fault"],
        [(i + 1, r.serial or "-", r.result, r.code or "", render.duration(r.duration_ms),
          "+".join(fault_map.get(i, [])) or "-") for i, r in enumerate(results)],
    ))
    passed = sum(r.passed for r in results)
    say("")
    say(f"{passed} PASS, {len(results) - passed} FAIL. "
        + ("Every board ended as expected." if expected
           else "UNEXPECTED: a board did not end as its faults predict (see logs/station.log)."))


class DemoCloud:
    """The demo's cloud half: a DynamoDB-compatible server, the sync, a revoke, and the hook's verdicts."""

    def __init__(self, station: Station, folder: Path, endpoint_url: str | None, say: Callable[[str], None]):
        self.station = station
        self.folder = folder
        self.endpoint_url = endpoint_url
        self.say = say

    def run(self, passed_keys: dict[str | None, object], first_boot: dict[str, FirstBoot] | None = None,
            ) -> tuple[SyncReport | None, list[dict], list[TrustCase]]:
        from botocore.exceptions import BotoCoreError, ClientError

        from station.allowlist_item import create_allowlist_table
        from station.sync.dynamo import classify_error, make_client
        from station.sync.local_server import LocalDynamo

        config = self.station.config
        server: LocalDynamo | None = None
        endpoint = config.cloud.endpoint_url or ""
        if not self.endpoint_url and not _answers(endpoint):
            server = LocalDynamo(port=int(urlsplit(endpoint).port or 0))
            try:
                server.start()
            except StationError:
                server = LocalDynamo()
                server.start()
            endpoint = server.endpoint_url
        cloud = replace(config.cloud, endpoint_url=endpoint)
        try:
            client = make_client(cloud)
            create_allowlist_table(client, cloud.table)
            register_demo_station(client, cloud, config)
            self.say("")
            self.say(f"Cloud: DynamoDB-compatible server at {endpoint}, table {cloud.table}")
            report = run_station_sync(self.station.records, replace(config, cloud=cloud))
            self.say(f"  sync: {report.sent} sent, {report.unchanged} unchanged, {report.conflicts} conflicts, "
                     f"{report.failed} failed")
            cases = self._trust_check(cloud, passed_keys, first_boot or {})
            rows = _table_rows(client, cloud.table)
            self.say("")
            self.say(render.table(
                ["serial", "status", "batch", "device key sha256", "rev", "provisioned_at (hook)"],
                [(r["serial"], r.get("status"), r.get("batch"), (r.get("device_key_sha256") or "")[:16] + "…",
                  r.get("rev"), r.get("provisioned_at", "-")) for r in rows],
            ))
            return report, rows, cases
        except (BotoCoreError, ClientError) as exc:  # the emulator or the endpoint failed: say which
            raise classify_error(exc, table=cloud.table or "", endpoint=endpoint)[1] from exc
        finally:
            if server is not None:
                server.stop()

    def _trust_check(self, cloud: CloudConfig, passed_keys: dict[str | None, object],
                     first_boot: dict[str, FirstBoot]) -> list[TrustCase]:
        """Revoke one board, sync, then let the real hook judge every case of the trust chain."""
        keys = {serial: key for serial, key in passed_keys.items() if serial and key is not None}
        if not keys:
            self.say("  (no board passed: nothing for the cloud check)")
            return []
        revoked = list(keys)[-1] if len(keys) > 1 else None
        if revoked:
            self.station.records.revoke(revoked, actor="demo", reason="demo: scrapped after test")
            run_station_sync(self.station.records, replace(self.station.config, cloud=cloud))
        files = self.station.config.claim
        ca_cert, ca_key = files.root_ca, files.root_ca.with_name("demo-ca-key.pem")
        side = CloudSide(cloud.table or "", stations_table(cloud), cloud.endpoint_url, cloud.region or "us-east-1")
        cases = check_trust_chain(
            keys, cloud=side, ca_cert=ca_cert, ca_key=ca_key, claim_sha256=self.station.claim().cert_sha256,
            signer=station_signer(self.station.config), revoked=revoked, first_boot=first_boot,
            # Greengrass's plugin sends no proof of possession: gateways use a template whose
            # hook does not ask for one (docs/greengrass.md).
            **({"require_device_signature": False} if first_boot else {}),
        )
        self.say("")
        self.say("Cloud check: AWS IoT emulated (the demo CA signs each board's own CSR, as")
        self.say("CreateCertificateFromCsr would; each board proves it holds its key); the real")
        self.say("pre-provisioning hook decides:")
        self.say(render.table(
            ["case", "serial", "expected", "hook said", "reason", ""],
            [(c.name + (" (revoked)" if c.serial == revoked and c.name.startswith("board") else ""), c.serial,
              "allow" if c.expected_allow else "deny", "allow" if c.allowed else "deny", c.reason,
              "ok" if c.ok else "WRONG") for c in cases],
        ))
        return cases


def _answers(endpoint: str) -> bool:
    """True if a DynamoDB-compatible server already listens at ``endpoint`` (e.g. `station cloud local`)."""
    if not endpoint:
        return False
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.3):
            return True
    except OSError:
        return False


def _table_rows(client: object, table: str | None) -> list[dict]:
    from station.allowlist_item import plain_item

    items = client.scan(TableName=table, ConsistentRead=True)["Items"]  # type: ignore[attr-defined]
    rows = [plain_item(item) for item in items]
    return sorted(rows, key=lambda r: r["serial"])


def _expected_to_pass(faults: Iterable[str]) -> bool:
    return all(fault.strip().lower().partition("@")[0] in RECOVERED_FAULT_KINDS for fault in faults)


def _kinds(faults: Iterable[str]) -> set[str]:
    return {fault.strip().lower().partition("@")[0] for fault in faults}


def ended_as_expected(results: list[ProvisionResult], fault_map: dict[int, list[str]]) -> bool:
    """Whether every board ended as its faults predict.

    ``reuse-key`` boards all "generate" one shared key: the first of them to be recorded
    PASSes (its key is new) unless an earlier run recorded it already; every other one
    FAILs DEVICE_KEY_REPEATED. So among them at most one PASSes, whichever it is.
    """
    reusers = [r for i, r in enumerate(results) if "reuse-key" in _kinds(fault_map.get(i, []))]
    others = [(i, r) for i, r in enumerate(results) if "reuse-key" not in _kinds(fault_map.get(i, []))]
    if sum(r.passed for r in reusers) > 1 or any(not r.passed and r.code != "DEVICE_KEY_REPEATED" for r in reusers):
        return False
    return all(r.passed == _expected_to_pass(fault_map.get(i, [])) for i, r in others)


def _say_result(event: object, say: Callable[[str], None]) -> None:
    if not isinstance(event, AttemptFinished):
        return
    if event.passed:
        say(f"  PASS  {event.serial}  {render.duration(event.duration_ms)}")
    else:
        say(f"  FAIL  {event.serial or '(no serial)'}  {event.code}\n        what to do: {event.hint}")
