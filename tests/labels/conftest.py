"""Fixtures for the label room: a printer emulator on loopback and the sample template."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from labels_support import SAMPLE

from station.labels.emulator import PrinterEmulator
from station.labels.template import LabelData, LabelTemplate, load_template


@pytest.fixture
def printer() -> Iterator[PrinterEmulator]:
    with PrinterEmulator() as emulator:
        yield emulator


@pytest.fixture
def template() -> LabelTemplate:
    return load_template(SAMPLE)


@pytest.fixture
def unit() -> LabelData:
    return LabelData(serial="SIM000042", product="ACME-GW-2", batch="B2026-0042", station="LINE1-ST01",
                     fingerprint="3F9A01C2B7DE", date=datetime(2026, 12, 3, 10, 0))

