"""The real app in demo mode on a real X server (Xvfb): its screenshot is not blank and
shows PASS and FAIL tiles (issue: the operator app)."""

from __future__ import annotations

from collections import Counter

import pytest
from PySide6.QtGui import QColor, QImage
from xvfb_display import run_app, xvfb, xvfb_path

from gui import theme

pytestmark = pytest.mark.xvfb


@pytest.fixture(scope="module")
def display():
    if xvfb_path() is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): the real-window screenshot test needs it")
    with xvfb() as value:
        yield value


def colours(image: QImage, step: int = 7) -> Counter:
    counts: Counter = Counter()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            counts[image.pixel(x, y) & 0xFFFFFF] += 1
    return counts


def test_the_demo_window_under_xvfb_is_not_blank_and_shows_pass_and_fail(display, tmp_path, qapp):
    shot = tmp_path / "demo.png"
    result = run_app(
        display, "--demo", "--dir", str(tmp_path / "demo"), "--boards", "4", "--keygen-ms", "200",
        "--sign-in", "TRAINEE", "--screenshot", str(shot), "--quit-after", "7",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "screenshot saved" in result.stdout
    image = QImage(str(shot))
    assert not image.isNull()
    assert image.width() >= 1000 and image.height() >= 700
    counts = colours(image)
    total = sum(counts.values())
    assert len(counts) > 50, "a blank or nearly blank screenshot"
    assert counts.most_common(1)[0][1] < 0.8 * total, "one colour fills the screenshot"
    pass_rgb = QColor(theme.PASS_BG).rgb() & 0xFFFFFF
    fail_rgb = QColor(theme.FAIL_BG).rgb() & 0xFFFFFF
    assert counts[pass_rgb] > 0.05 * total, "no PASS tile colour on screen"
    assert counts[fail_rgb] > 0.02 * total, "no FAIL tile colour on screen"
