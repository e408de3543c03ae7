"""Labels in ``station demo``: a loopback printer emulator and the files that point at it."""

from __future__ import annotations

from pathlib import Path

from station.labels.emulator import PrinterEmulator
from station.labels.settings import LABELS_FILE

SAMPLE_TEMPLATE = Path(__file__).with_name("sample-label.ini")
DEMO_PORT = 9100
JOBS_FOLDER = "printed-labels"


def start_demo_printer(folder: Path, port: int = DEMO_PORT) -> PrinterEmulator:
    """Start the printer emulator (port 9100, or any free port when 9100 is taken), and write
    ``label.ini`` (the sample template, unless one is there) and ``labels.ini`` pointing at it
    into the demo folder. Every printed job is saved in ``folder/printed-labels/``."""
    folder = Path(folder)
    try:
        emulator = PrinterEmulator(port=port, out_dir=folder / JOBS_FOLDER).start()
    except OSError:
        emulator = PrinterEmulator(port=0, out_dir=folder / JOBS_FOLDER).start()
    template = folder / "label.ini"
    if not template.exists():
        template.write_text(SAMPLE_TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / LABELS_FILE).write_text(
        "; Labels of the demo: the printer emulator `station demo` started on this PC.\n"
        "; Start it again with: python -m station.labels.emulator --port "
        f"{emulator.port} --out {JOBS_FOLDER}\n"
        "[labels]\n"
        f"printer = {emulator.uri}\n"
        "template = label.ini\n"
        "connect_seconds = 1\n",
        encoding="utf-8",
    )
    return emulator


def describe(emulator: PrinterEmulator, folder: Path) -> str:
    """The demo summary's line about labels."""
    printed = emulator.printed()
    return (f"labels: {len(printed)} printed by the label printer emulator on {emulator.uri}; "
            f"the ZPL of each is in {Path(folder) / JOBS_FOLDER}")
