"""Take the operator guide's screenshots: the real app, in demo mode, on Xvfb.

    python tests/gui/make_doc_screenshots.py [SCENE ...]

Each scene (gui/scenes.py) drives the demo to one state and saves
docs/images/<scene>.png. Screenshots are reduced to a 256-colour palette when
that keeps them readable and under 150 KB.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from xvfb_display import ROOT, SCREEN, run_app, xvfb

from gui.scenes import SCENES

IMAGES = ROOT / "docs" / "images"
LIMIT = 150 * 1024
OPTIONS = {
    "signin": ["--boards", "0"],
    "waiting": ["--boards", "4"],
    "running": ["--boards", "4"],
    "pass": ["--boards", "4"],
    "fail": ["--boards", "4"],
    "supervisor": ["--boards", "1"],
    "qa": ["--boards", "4"],
    "line16": ["--boards", "0", "--slots", "16"],
    "signin16": ["--boards", "0", "--slots", "16"],
}
SCREENS = {"line16": "1366x768x24", "signin16": "1366x768x24"}
EXTRA_SHOTS = {"line16-1080": ("line16", "1920x1080x24")}
"""More pictures of a scene, ``name: (scene, screen)``: the same line on a Full HD screen."""


def shrink(path: Path) -> None:
    """A palette of the screenshot's own 256 most used colours (flat UI colours stay exact)."""
    from collections import Counter

    from PySide6.QtGui import QImage, Qt

    if path.stat().st_size <= LIMIT:
        return
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    counts: Counter = Counter()
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            counts[image.pixel(x, y)] += 1
    palette = [colour for colour, _ in counts.most_common(256)]
    reduced = image.convertToFormat(QImage.Format.Format_Indexed8, palette, Qt.ImageConversionFlag.ThresholdDither)
    reduced.save(str(path), "PNG", 0)


def main(scenes: list[str]) -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shots = {name: (name, SCREENS.get(name, SCREEN)) for name in SCENES} | EXTRA_SHOTS
        for name in scenes or shots:
            scene, screen = shots[name]
            out = IMAGES / f"{name}.png"
            with xvfb(screen) as display:
                result = run_app(
                    display, "--demo", "--dir", str(Path(tmp) / name), "--scene", scene,
                    *OPTIONS[scene], "--screenshot", str(out), "--quit-after", "40",
                )
            if result.returncode != 0 or not out.exists():
                print(f"{name}: FAILED\n{result.stderr[-3000:]}")
                return 1
            shrink(out)
            print(f"{name}: {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
