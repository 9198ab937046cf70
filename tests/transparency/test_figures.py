"""The arithmetic behind the published figures: percentiles, rates, suppression, CSV flattening."""

from __future__ import annotations

import re
import statistics

from hypothesis import given
from hypothesis import strategies as st

from staydown.transparency import figures as fx
from staydown.transparency.export import csv_rows
from staydown.web.templating import ENV


def test_dsa8_median_and_nearest_rank_p90() -> None:
    """REQ DSA-8 (median time to act): the definitions the report states."""
    assert fx.median([]) is None and fx.p90([]) is None
    assert fx.median([3.0, 1.0, 2.0, 10.0]) == 2.5
    assert fx.p90([float(i) for i in range(1, 11)]) == 9.0  # ceil(0.9 * 10) = 9th value
    assert fx.p90([float(i) for i in range(1, 12)]) == 10.0  # ceil(9.9) = 10th value
    assert fx.p90([5.0]) == 5.0
    assert fx.durations([1.0, 2.0]) == {"count": 2, "median_hours": 1.5, "p90_hours": 2.0}


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200))
def test_dsa8_p90_is_a_value_with_90_percent_at_or_below(values: list[float]) -> None:
    """REQ DSA-8: the 90th percentile is one of the values, and at least 90 % are at or below it."""
    got = fx.p90(values)
    assert got in {round(v, 2) for v in values}
    assert sum(1 for v in values if round(v, 2) <= got) >= 0.9 * len(values)
    assert fx.median(values) == round(statistics.median(values), 2)


def test_dsa8_rates_have_no_value_over_nothing() -> None:
    assert fx.rate(1, 3) == 0.3333 and fx.rate(0, 5) == 0.0 and fx.rate(0, 0) is None


def test_dsa8_suppression_masks_small_counts_and_the_rates_on_them() -> None:
    """REQ DSA-8: public counts of 1-4 read "< 5"; 0 stays 0; a rate over fewer than 5 is withheld;
    parameters are not counts; private keys are dropped."""
    tree = {
        "decided": 3,
        "reversal_rate": 0.3333,
        "zero": 0,
        "big": 12,
        "flag": True,
        "inner": {"count": 7, "median_hours": 2.5, "p90_hours": 4.0},
        "tiny": {"count": 2, "median_hours": 1.0, "p90_hours": 1.0},
        "high_reach_threshold": 2,
        "per_reviewer": {"ana": {"decided": 9}},
        "exceptions": [{"reasons": "x"}],
        "names": {"Hotline": 1},
    }
    public = fx.suppress(tree, 5)
    assert public["decided"] == "< 5" and public["reversal_rate"] is None
    assert public["zero"] == 0 and public["big"] == 12 and public["flag"] is True
    assert public["inner"] == {"count": 7, "median_hours": 2.5, "p90_hours": 4.0}
    assert public["tiny"] == {"count": "< 5", "median_hours": None, "p90_hours": None}
    assert public["high_reach_threshold"] == 2
    assert "per_reviewer" not in public and "exceptions" not in public
    assert public["names"] == {"Hotline": "< 5"}
    assert fx.suppress({"decided": 5, "reversal_rate": 0.2}, 5) == {"decided": 5, "reversal_rate": 0.2}


def test_dsa8_csv_rows_flatten_nested_figures() -> None:
    rows = list(
        csv_rows(
            {"schema": "s", "appeals": {"by_basis": {"no_action": 2}, "rate": None, "ok": False}, "list": [{"a": 1}]}
        )
    )
    assert rows == [
        ("schema", "", "s"),
        ("appeals", "by_basis/no_action", "2"),
        ("appeals", "rate", ""),
        ("appeals", "ok", "false"),
        ("list", "0/a", "1"),
    ]


def test_dsa8_bars_scale_to_the_largest_and_draw_nothing_for_suppressed() -> None:
    """The chart partial renders in the shared environment (the public page imports it), with bars
    as SVG presentation attributes and no inline style (CSP)."""

    macro = ENV.from_string(
        '{% from "transparency/_figures.html" import bar_chart %}{{ bar_chart("t", mapping, "c1") }}'
    )
    html = macro.render(mapping={"a": 10, "b": 5, "c": 0, "d": "< 5", "e": 0.01})
    # Widths in per cent of the cell: the largest fills it, a positive value shows at least 1.
    assert re.findall(r'class="chart-bar"[^>]* width="([\d.]+)"', html) == ["100.0", "50.0", "0", "0", "1"]
    # One row per entry, its label as text (it wraps on a phone rather than being clipped).
    assert re.findall(r'<th scope="row">([^<]*)</th>', html) == ["a", "b", "c", "d", "e"]  # not ours: as given
    assert "&lt; 5" in html and "style=" not in html
    assert "<svg" not in macro.render(mapping={})
