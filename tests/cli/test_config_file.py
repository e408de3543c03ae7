"""station.ini: a mistyped name is an error naming the right one; Windows Notepad's files load."""

from __future__ import annotations

import codecs

import pytest
from cli_helpers import station

from station.config import KNOWN_KEYS, load_config
from station.errors import ConfigError


def _add_line(ini, section: str, line: str) -> None:
    text = ini.read_text(encoding="utf-8")
    ini.write_text(text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1), encoding="utf-8")


def test_a_mistyped_key_is_refused_naming_the_valid_one(station_folder):
    ini = station_folder / "station.ini"
    _add_line(ini, "station", "drvier = nrf91")

    with pytest.raises(ConfigError) as refused:
        load_config(ini)

    assert refused.value.code == "CONFIG_UNKNOWN_KEY"
    assert "[station] drvier" in str(refused.value)
    assert "did you mean `driver`?" in str(refused.value)


def test_a_mistyped_section_is_refused_naming_the_valid_one(station_folder):
    ini = station_folder / "station.ini"
    ini.write_text(ini.read_text(encoding="utf-8").replace("[timeouts]", "[timeuots]"), encoding="utf-8")

    with pytest.raises(ConfigError, match=r"\[timeuots\].*did you mean `timeouts`\?"):
        load_config(ini)


def test_a_name_far_from_every_valid_one_is_refused_without_a_guess(station_folder):
    ini = station_folder / "station.ini"
    _add_line(ini, "serial", "colour = blue")

    with pytest.raises(ConfigError) as refused:
        load_config(ini)

    assert "did you mean" not in str(refused.value)


@pytest.mark.parametrize("section", ["slots", "greengrass", "labels"])
def test_sections_read_by_their_own_readers_are_known(section):
    assert section in KNOWN_KEYS


def test_a_file_saved_by_windows_notepad_with_a_byte_order_mark_loads(station_folder):
    ini = station_folder / "station.ini"
    ini.write_bytes(codecs.BOM_UTF8 + ini.read_bytes())

    assert load_config(ini).station_id == "DEMO-STATION-1"


def test_a_byte_that_is_not_utf8_is_named_with_its_line(station_folder):
    ini = station_folder / "station.ini"
    lines = ini.read_bytes().split(b"\n")
    lines[2] += b" caf\xe9"
    ini.write_bytes(b"\n".join(lines))

    with pytest.raises(ConfigError, match="line 3 is not UTF-8"):
        load_config(ini)


def test_the_cli_says_the_mistyped_key_and_exits_3(station_folder):
    _add_line(station_folder / "station.ini", "station", "drvier = nrf91")

    done = station("units", cwd=station_folder)

    assert done.code == 3
    assert "did you mean `driver`?" in done.err
