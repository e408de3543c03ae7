"""The Pareto's bars and its percentage axis agree; counts read as English."""

from __future__ import annotations

import re

from station.reports.data import FailureCode
from station.reports.formats import pareto_svg, plural


def _bars(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect x="230" y="\d+" width="([\d.]+)"', svg)]


def test_a_pareto_bar_ends_at_its_share_on_the_percentage_axis():
    failures = [FailureCode("PORT_UNAVAILABLE", 2, 2, 2 / 3, 2 / 3, None),
                FailureCode("BOARD_TIMEOUT", 1, 1, 1 / 3, 1.0, None)]
    width, label_w, right = 760, 230, 70
    plot_w = width - label_w - right

    first, second = _bars(pareto_svg(failures, width=width))

    assert abs(first - plot_w * 2 / 3) < 0.1
    assert abs(second - plot_w / 3) < 0.1


def test_the_pareto_says_what_bars_and_line_measure():
    svg = pareto_svg([FailureCode("X", 1, 1, 1.0, 1.0, None)])

    assert "bars: share of failed attempts" in svg and "cumulative share" in svg


def test_one_hour_is_singular():
    assert plural(1, "hour") == "1 hour"
    assert plural(2, "hour") == "2 hours"
    assert plural(0, "hour") == "0 hours"
