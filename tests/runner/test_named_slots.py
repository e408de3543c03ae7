"""Named slots (issue 15): a physical slot has a name and a place; a board outside every
named slot is not provisioned and says so; a board pulled mid-run leaves a FAIL on its slot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from station.config import load_config
from station.errors import ConfigError
from station.provisioning.events import DeviceOutsideSlots, EventBus
from station.provisioning.pipeline import Provisioner
from station.provisioning.ports import NamedSlots, location_matches, source_for
from station.provisioning.runner import LineRunner, SlotState


def make_runner(station, ports) -> LineRunner:
    provisioner = Provisioner(station.config, station.records, station.claim(), bus=EventBus())
    return LineRunner(provisioner, ports, batch="B1", operator="tester", poll_interval=0.05)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def usb_port(device: str, location: str, vid: int = 0x1915, pid: int = 0x520F) -> ListPortInfo:
    """What pyserial's list_ports.comports() reports for a USB serial device."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.location, info.vid, info.pid = location, vid, pid
    return info


def with_slots(folder: Path, slots: str, ports: str = "") -> Path:
    ini = folder / "station.ini"
    text = ini.read_text()
    if ports:
        text = text.replace("[ports]\n", f"[ports]\nports = {ports}\n", 1) if "[ports]" in text else text + f"\n[ports]\nports = {ports}\n"
    ini.write_text(text + f"\n[slots]\n{slots}\n")
    return ini


def test_slots_are_read_in_file_order_with_upper_case_names(station_folder):
    config = load_config(with_slots(station_folder, "a1 = 1-1.2:1.0\nA2 = 1-1.3\nB1 = /dev/serial/by-path/pci-0:2.1"))
    assert config.slots == (("A1", "1-1.2:1.0"), ("A2", "1-1.3"), ("B1", "/dev/serial/by-path/pci-0:2.1"))


def test_two_slots_on_one_place_are_refused_naming_both(station_folder):
    with pytest.raises(ConfigError, match="already slot A1"):
        load_config(with_slots(station_folder, "A1 = 1-1.2\nA2 = 1-1.2"))


def test_a_slot_without_a_place_is_refused(station_folder):
    with pytest.raises(ConfigError, match=r"\[slots\] a1 .*no place"):
        load_config(with_slots(station_folder, "A1 ="))


def test_slots_and_a_list_of_ports_together_are_refused(station_folder):
    ini = station_folder / "station.ini"
    text = ini.read_text()
    assert "ports =" in text
    import re

    ini.write_text(re.sub(r"(?m)^ports =.*$", "ports = /dev/ttyACM0", text))
    with pytest.raises(ConfigError, match="keep \\[slots\\] and set ports = auto"):
        load_config(with_slots(station_folder, "A1 = 1-1.2"))


def test_a_station_with_slots_watches_named_slots(station_folder):
    config = load_config(with_slots(station_folder, "A1 = 1-1.2"))
    assert isinstance(source_for(config), NamedSlots)


@pytest.mark.parametrize(
    ("wanted", "location", "matches"),
    [
        ("1-1.2:1.0", "1-1.2:1.0", True),
        ("1-1.2", "1-1.2:1.0", True),
        ("1-1.2", "1-1.2:1.2", True),
        ("1-1.2", "1-1.20:1.0", False),
        ("1-1.2:1.0", "1-1.2:1.2", False),
        ("1-1.2", None, False),
    ],
)
def test_a_usb_location_matches_its_port_and_interfaces_only(wanted, location, matches):
    assert location_matches(wanted, location) is matches


def test_a_device_is_found_by_its_usb_location_and_a_stray_one_is_listed():
    listed = [usb_port("/dev/ttyACM3", "1-1.2:1.0"), usb_port("/dev/ttyACM7", "1-1.4:1.0"), usb_port("/dev/ttyS0", None, vid=None)]
    slots = NamedSlots([("A1", "1-1.2"), ("A2", "1-1.3")], comports=lambda: listed)

    assert slots.scan() == {"A1"}
    assert slots.device("A1") == "/dev/ttyACM3"
    assert slots.strays() == {"/dev/ttyACM7": "1-1.4:1.0"}, "a built-in UART (no VID) is no board"


def test_the_usb_filter_also_applies_to_named_slots():
    listed = [usb_port("/dev/ttyACM3", "1-1.2:1.0", vid=0x0403, pid=0x6001)]
    slots = NamedSlots([("A1", "1-1.2")], [(0x1915, 0x520F)], comports=lambda: listed)
    assert slots.scan() == set()


def test_a_board_in_a_named_slot_is_provisioned_under_the_slots_name(station, boards):
    (sim,) = boards(1)
    runner = make_runner(station, NamedSlots([("A1", sim.port)])).start()
    try:
        wait_for(lambda: runner.slots() and runner.slots()[0].state == SlotState.PASS)
    finally:
        runner.stop()
    slot = runner.slots()[0]
    assert (slot.port, slot.device, slot.serial) == ("A1", sim.port, sim.serial)
    assert station.records.attempts()[0].port == sim.port


def test_a_board_outside_every_named_slot_is_not_provisioned_and_says_so(station, boards):
    inside, outside = boards(2)
    listed = [usb_port(inside.port, "1-1.2:1.0"), usb_port(outside.port, "1-1.4:1.0")]
    events: list[object] = []
    runner = make_runner(station, NamedSlots([("A1", "1-1.2"), ("A2", "1-1.3")], comports=lambda: listed))
    runner.bus.subscribe(events.append)
    runner.start()
    try:
        wait_for(lambda: len(runner.results) == 1)
        time.sleep(0.3)
    finally:
        runner.stop()
    assert [r.serial for r in runner.results] == [inside.serial]
    assert [s.port for s in runner.slots()] == ["A1"]
    assert DeviceOutsideSlots(outside.port, "1-1.4:1.0", present=True) in events
    assert outside.serial not in {a.serial for a in station.records.attempts()}


def test_a_board_plugged_into_another_place_later_is_a_stray_then(station, boards):
    (sim,) = boards(1)
    listed: list[ListPortInfo] = []
    runner = make_runner(station, NamedSlots([("A1", "1-1.2")], comports=lambda: list(listed))).start()
    try:
        listed.append(usb_port(sim.port, "2-1:1.0"))
        wait_for(lambda: sim.port in runner.strays())
        listed.clear()
        wait_for(lambda: not runner.strays())
    finally:
        runner.stop()
    assert runner.results == []


def test_a_board_pulled_mid_run_leaves_a_fail_until_the_next_board_is_plugged(station, boards):
    (slow,) = boards(1, keygen_ms=3000)
    listed = [usb_port(slow.port, "1-1.2:1.0")]
    runner = make_runner(station, NamedSlots([("A1", "1-1.2")], comports=lambda: list(listed))).start()
    try:
        wait_for(lambda: runner.slots() and runner.slots()[0].step == "generate_csr")
        slow.unplug()
        listed.clear()
        wait_for(lambda: runner.slots()[0].state == SlotState.FAIL)
        time.sleep(0.3)  # several polls of an empty slot
        slot = runner.slots()[0]
        assert (slot.state, slot.present, slot.unplugged_at) == (SlotState.FAIL, False, 6)

        (fresh,) = boards(1)
        listed.append(usb_port(fresh.port, "1-1.2:1.0"))
        wait_for(lambda: runner.slots()[0].state == SlotState.PASS)
    finally:
        runner.stop()
    assert runner.slots()[0].unplugged_at is None
    assert runner.slots()[0].serial == fresh.serial
