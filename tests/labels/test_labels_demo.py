"""The demo's printer: an emulator, and labels.ini / label.ini that point at it."""

from __future__ import annotations

from station.labels.demo import describe, start_demo_printer
from station.labels.queue import MemoryStore
from station.labels.service import LabelService
from station.labels.settings import load_labels_file


def test_the_demo_printer_is_configured_and_keeps_every_job(tmp_path):
    emulator = start_demo_printer(tmp_path, port=0)
    try:
        settings = load_labels_file(tmp_path)
        assert settings is not None and settings.printer == emulator.uri
        service = LabelService(settings, "DEMO", store=MemoryStore()).start()
        job = service.print_pass(serial="SIM000001", product="GW", batch="B1", device_key_sha256="ab" * 32,
                                 operator="demo")
        assert service.flush(5)
        service.stop()
        assert [p.name for p in (tmp_path / "printed-labels").iterdir()] == [f"0001-{job.job_id}.zpl"]
        assert describe(emulator, tmp_path).startswith(f"labels: 1 printed by the label printer emulator on {emulator.uri}")
    finally:
        emulator.stop()
