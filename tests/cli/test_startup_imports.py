"""``station --help`` and the small commands import only what they need."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("boto3", "botocore", "cryptography", "records", "sqlite_utils", "station.provisioning",
         "station.sync", "station.reports", "flashing.sim")


def test_importing_the_cli_loads_no_heavy_package():
    code = ("import sys, station.cli; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert loaded == ""


def test_reading_station_ini_loads_no_board_driver_and_no_pyserial(station_folder):
    code = ("import sys; from station.config import load_config; "
            f"load_config({str(station_folder / 'station.ini')!r}); "
            "print(','.join(m for m in ('serial', 'flashing.nrf91', 'flashing.greengrass', 'flashing.agent', "
            "'flashing.console') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert loaded == ""


def test_the_drivers_settings_are_the_ones_station_ini_builds():
    from flashing.greengrass import GreengrassSettings as DriverGreengrass
    from flashing.nrf91 import Nrf91Settings as DriverNrf91
    from station.config import GreengrassSettings, Nrf91Settings

    assert (DriverNrf91, DriverGreengrass) == (Nrf91Settings, GreengrassSettings)


def test_reading_a_database_read_only_loads_no_sqlite_utils(tmp_path):
    from records import Records

    Records(tmp_path / "station.sqlite").close()
    code = ("import sys; from records import Records; "
            f"r = Records({str(tmp_path / 'station.sqlite')!r}, read_only=True); r.count_units(); list(r.iter_units()); "
            "print('sqlite_utils' in sys.modules)")

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_opening_the_records_package_does_not_import_numpy():
    code = "import sys, records; print('numpy' in sys.modules)"

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_numpy_still_imports_after_the_records_package():
    code = "import records, numpy; print(numpy.zeros(2).sum())"

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "0.0\n"


def test_the_clis_copies_of_names_match_their_owners():
    from records.models import ROLES
    from station.cli.report import FORMATS
    from station.cli.users import ROLES as CLI_ROLES
    from station.reports.formats import FORMATS as REPORT_FORMATS

    assert FORMATS == REPORT_FORMATS
    assert CLI_ROLES == ROLES


def test_every_command_is_known_by_the_module_that_defines_it():
    import importlib

    from station.cli import COMMAND_MODULES, main

    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(module)

    assert set(main.commands) == set(COMMAND_MODULES)
    assert {name: command.callback.__module__ for name, command in main.commands.items()} == COMMAND_MODULES


def test_a_command_imports_its_own_module_and_no_other_commands(station_folder):
    code = ("import sys; from station.cli import main; "
            "sys.argv[1:] = ['--config', sys.argv[1], 'units']; "
            "main(standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m.startswith('station.cli.') and m != 'station.cli.common'), "
            "'logging.handlers' in sys.modules, file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code, str(station_folder / "station.ini")],
                         capture_output=True, text=True, check=True)

    assert run.stderr.strip() == "['station.cli.lookup'] False"


def test_the_help_lists_every_command():
    from station.cli import COMMAND_MODULES

    shown = subprocess.run([sys.executable, "-m", "station", "--help"], capture_output=True, text=True,
                           check=True).stdout

    assert all(f"\n  {name} " in shown for name in COMMAND_MODULES)


def test_a_built_in_report_format_needs_no_package_metadata():
    code = ("import sys; from station.reports.formats import format_renderer; format_renderer('html'); "
            "format_renderer('csv'); print('importlib.metadata' in sys.modules)")

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
