"""Public figures whose hidden counts cannot be worked back (DSA-8, X: "every figure is true").

A count below the threshold reads "< 5"; any sum that would give it back (a total minus its
other parts, two breakdowns of one total, a count shown twice) makes the public set withhold a
second count. These tests try every subtraction on the published figures, and on small tables
try every assignment of the hidden counts that agrees with what is published."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from staydown.transparency import figures as fx

K = 5


def _public(tree: dict[str, Any]) -> dict[str, Any]:
    return fx.protect(tree, fx.suppress(copy.deepcopy(tree), K), K)


def _subtractions(public: dict[str, Any], exact: dict[str, Any]) -> list[str]:
    """Every single subtraction a reader can do: for each sum, each member from the others. A
    member is recovered when its only possible value follows from exact figures and the bounds
    of the hidden ones ("< 5" is 1..4, "withheld" is 5 or more)."""
    found = []
    for total, parts in fx.relations(exact):
        members = [total, *parts]
        bounds = {p: fx._bounds(fx._get(public, p), K) for p in members}
        for target in members:
            if bounds[target][0] == bounds[target][1]:
                continue  # published exactly anyway
            others = [p for p in parts if p != target]
            if target == total:
                lo, hi = sum(bounds[p][0] for p in parts), sum(bounds[p][1] for p in parts)
            else:
                lo = bounds[total][0] - sum(bounds[p][1] for p in others)
                hi = bounds[total][1] - sum(bounds[p][0] for p in others)
            lo, hi = max(lo, bounds[target][0]), min(hi, bounds[target][1])
            if fx._get(public, target) == fx.WITHHELD and hi < K:
                lo = hi = 0
            if lo == hi:
                found.append(f"{'/'.join(target)} = {int(lo)} from {'/'.join(total)}")
    return found


def _notices(total_kinds: dict[str, int], sources: dict[str, int]) -> dict[str, Any]:
    return {"notices": {"total": sum(total_kinds.values()), "by_kind": dict(total_kinds), "by_source": dict(sources)}}


def test_DSA8_a_hidden_count_is_not_the_total_minus_the_others() -> None:
    """REQ DSA-8: 23 reports, 20 from the public page and 3 TAKE IT DOWN requests: "< 5" for the
    three used to be undone by 23 - 20. Now a second count is withheld, and says so."""
    exact = _notices({"public_report": 20, "take_it_down": 3}, {"notice": 23})
    plain = fx.suppress(copy.deepcopy(exact), K)
    assert plain["notices"]["by_kind"] == {"public_report": 20, "take_it_down": "< 5"}
    assert _subtractions(plain, exact)  # the old public set gave it back
    public = _public(exact)
    assert public["notices"]["by_kind"]["take_it_down"] == "< 5"
    assert fx.WITHHELD in (public["notices"]["by_kind"]["public_report"], public["notices"]["total"])
    assert _subtractions(public, exact) == []


def test_DSA8_a_rate_on_a_hidden_count_is_left_out() -> None:
    """REQ DSA-8: 20 appeals decided, 3 reversed: a reversal rate of 0.15 would give back the 3."""
    exact = {
        "appeals": {
            "received": 20,
            "by_basis": {"content_restriction": 20},
            "decided": 20,
            "by_outcome": {"upheld": 17, "reversed": 3},
            "reversal_rate": 0.15,
            "modification_rate": 0.0,
        }
    }
    public = _public(exact)
    assert public["appeals"]["by_outcome"]["reversed"] == "< 5"
    assert public["appeals"]["reversal_rate"] is None
    assert _subtractions(public, exact) == []


def _feasible(public: dict[str, Any], exact: dict[str, Any], cap: int) -> dict[tuple[str, ...], set[int]]:
    """Every assignment of the hidden counts (up to `cap`) that agrees with the published figures
    and every sum: the values each hidden count can take."""
    rels = fx.relations(exact)
    paths = sorted({p for t, ps in rels for p in (t, *ps)})
    hidden = [p for p in paths if not fx._is_count(fx._get(public, p))]
    ranges = []
    for p in hidden:
        lo, hi = fx._bounds(fx._get(public, p), K)
        domain: range | list[int] = range(int(lo), int(min(hi, cap)) + 1)
        if fx._get(public, p) == fx.WITHHELD:
            domain = [v for v in domain if v == 0 or v >= K]  # never 1..4: those read "< 5"
        ranges.append(domain)
    found: dict[tuple[str, ...], set[int]] = {p: set() for p in hidden}
    for values in itertools.product(*ranges):
        known = dict(zip(hidden, values, strict=True))
        value = lambda p, known=known: known[p] if p in known else fx._get(public, p)  # noqa: E731
        if all(value(t) == sum(value(p) for p in ps) for t, ps in rels):
            for p, v in known.items():
                found[p].add(v)
    return found


counts = st.integers(min_value=0, max_value=8)


@settings(max_examples=60, deadline=None)
@given(kinds=st.lists(counts, min_size=2, max_size=3), split=st.lists(st.floats(0, 1), min_size=1, max_size=1))
def test_DSA8_no_assignment_of_the_hidden_counts_is_the_only_one(kinds: list[int], split: list[float]) -> None:
    """REQ DSA-8: two breakdowns of one total (by kind, by source), random small counts: whatever
    is hidden can take at least two values that agree with everything published."""
    total = sum(kinds)
    cuts = sorted(int(total * f) for f in split)
    bounds = [0, *cuts, total]
    sources = {f"s{i}": bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)}
    exact = _notices({f"k{i}": n for i, n in enumerate(kinds)}, sources)
    public = _public(exact)
    assert _subtractions(public, exact) == []
    for path, values in _feasible(public, exact, cap=total + 2 * K).items():
        assert len(values) >= 2, (path, values, public)
    # Small counts still read "< 5", never "withheld", and withheld ones are never small.
    for total_path, parts in fx.relations(exact):
        for p in (total_path, *parts):
            shown, true = fx._get(public, p), fx._get(exact, p)
            if shown == fx.WITHHELD:
                assert true >= K
            elif isinstance(shown, str):
                assert 0 < true < K
