"""The arithmetic of the published figures: percentiles, rates, and small-count suppression.

Percentiles are computed here, in Python, from the durations the report reads: neither SQLite nor
portable SQL has a percentile aggregate (PostgreSQL's `percentile_cont` has no SQLite twin), and
the report must give the same figure on both. Definitions, so that anyone can recompute them:
- median: the middle value, or the mean of the two middle values (`statistics.median`);
- 90th percentile: nearest rank, the smallest value with at least 90 % of values at or below it
  (the ceil(0.9 n)-th value in ascending order);
- rates: numerator / denominator rounded to 4 places; no rate (None) when the denominator is 0;
- hours: rounded to 2 places.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

SUPPRESSED_PREFIX = "< "

# Keys whose integers are parameters, not counts of people or items: never suppressed.
PARAMETER_KEYS = frozenset({"min_count", "sample_rate", "high_reach_threshold", "consistency_sample_rate"})
# A rate, percentile or median is published only when the count it rests on is at least the
# suppression threshold: the sibling key below names that count.
BASIS = {
    "median_hours": "count",
    "p90_hours": "count",
    "reversal_rate": "decided",
    "modification_rate": "decided",
    "review_reversal_rate": "decided",
    "appeal_reversal_rate": "confirmed",
    "agreement_rate": "completed",
    "implementation_rate": "decided",
}
# What the public figure set leaves out: who decided (reviewers are staff, not the public's
# business), the reasons of exceptions (free text may name a person), and row ids.
PRIVATE_KEYS = frozenset({"per_reviewer", "exceptions", "unrecorded_deviations"})


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def median(values: Iterable[float]) -> float | None:
    data = list(values)
    return round(statistics.median(data), 2) if data else None


def p90(values: Iterable[float]) -> float | None:
    data = sorted(values)
    if not data:
        return None
    rank = math.ceil(0.9 * len(data))
    return round(data[rank - 1], 2)


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def durations(values: Iterable[float]) -> dict[str, Any]:
    data = list(values)
    return {"count": len(data), "median_hours": median(data), "p90_hours": p90(data)}


def counts(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    """(key, count) rows from a GROUP BY as a dict with stable (sorted) keys; None reads 'unspecified'."""
    out: dict[str, int] = {}
    for key, n in rows:
        name = "unspecified" if key is None else str(key)
        out[name] = out.get(name, 0) + int(n)
    return dict(sorted(out.items()))


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def suppress_count(value: int, min_count: int) -> int | str:
    """0 identifies nobody and stays 0; 1 .. min_count-1 reads "< min_count"."""
    return f"{SUPPRESSED_PREFIX}{min_count}" if 0 < value < min_count else value


def suppress(node: Any, min_count: int) -> Any:
    """The public copy of a figure tree: counts below `min_count` masked, rates and percentiles
    dropped (None) where the count they rest on is below it, private keys removed."""
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in PRIVATE_KEYS:
                continue
            if key in BASIS and (value is None or isinstance(value, float)):
                basis = node.get(BASIS[key])
                out[key] = value if isinstance(basis, int) and basis >= min_count else None
            elif key in PARAMETER_KEYS:
                out[key] = value
            else:
                out[key] = suppress(value, min_count)
        return out
    if isinstance(node, list):
        return [suppress(v, min_count) for v in node]
    if isinstance(node, bool):
        return node
    if isinstance(node, int):
        return suppress_count(node, min_count)
    return node


# -- suppression that cannot be undone -------------------------------------------------------------
#
# Hiding a small count as "< N" is not enough when the figures around it are exact: a total minus
# its other parts gives the hidden one back. The public set therefore also withholds, where that
# would happen, a second count in the same sum ("complementary suppression", as statistical
# offices do for published tables): every additive relation between the figures is declared
# below (`relations`), what a reader can work out from the published figures is propagated
# through all of them at once (interval arithmetic over the integers, to a fixed point), and
# while any hidden count comes out as one possible value, the smallest exact count that shares
# a sum with it is withheld too. A withheld count reads WITHHELD, never "< N", which would be
# false; a rate resting on a hidden count is left out.

WITHHELD = "withheld"
Path = tuple[str, ...]
INF = float("inf")

# Sums the report's sections hold: node keys whose integer equals the sum of a sibling "by_*"
# breakdown's values.
_TOTAL_OF = {
    "total": ("by_kind", "by_source", "by_category", "by_reporter_kind", "by_ground", "by_target"),
    "received": ("by_basis", "by_appellant_kind"),
    "decided": ("by_outcome",),
}
# A rate's numerator, as paths relative to the node that holds the rate (all must be exact).
RATE_NUMERATORS: dict[str, tuple[tuple[str, ...], ...]] = {
    "reversal_rate": (("by_outcome", "reversed"), ("reversed_on_appeal",), ("overturned_at_second_review",)),
    "modification_rate": (("by_outcome", "modified"),),
    "review_reversal_rate": (("rejected_on_review",),),
    "appeal_reversal_rate": (("reversed_on_appeal",),),
    "agreement_rate": (("agreed",),),
    "implementation_rate": (("implemented",),),
}


def _get(tree: Any, path: Path) -> Any:
    node = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def relations(tree: Mapping[str, Any]) -> list[tuple[Path, list[Path]]]:
    """Every (total, parts) with total == sum(parts) among the report's counts. A total that is
    not published (two breakdowns of one unpublished sum) gets a virtual path ending in "*"."""
    out: list[tuple[Path, list[Path]]] = []

    def walk(node: Any, at: Path) -> None:
        if not isinstance(node, Mapping):
            return
        for total_key, breakdowns in _TOTAL_OF.items():
            if _is_count(node.get(total_key)):
                for by in breakdowns:
                    parts = node.get(by)
                    if isinstance(parts, Mapping) and parts and all(_is_count(v) for v in parts.values()):
                        out.append(((*at, total_key), [(*at, by, k) for k in parts]))
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, (*at, key))

    walk(tree, ())
    found = tree.get("actions")
    actions = found if isinstance(found, Mapping) else {}
    grid = actions.get("by_ground_kind") if isinstance(actions, Mapping) else None
    if isinstance(grid, Mapping):
        for ground, kinds in grid.items():
            if isinstance(kinds, Mapping) and _is_count(_get(tree, ("actions", "by_ground", ground))):
                out.append(
                    (("actions", "by_ground", ground), [("actions", "by_ground_kind", ground, k) for k in kinds])
                )
        for kind in actions.get("by_kind", {}) or {}:
            cells: list[Path] = [
                ("actions", "by_ground_kind", g, kind)
                for g, ks in grid.items()
                if isinstance(ks, Mapping) and kind in ks
            ]
            if cells:
                out.append((("actions", "by_kind", kind), cells))
    for name in ("action_detection", "action_decision"):
        if _is_count(_get(tree, ("actions", "total"))) and isinstance(_get(tree, ("automation", name)), Mapping):
            out.append((("actions", "total"), [("automation", name, "automated"), ("automation", name, "human")]))
    tracks = tree.get("legal_tracks")
    if isinstance(tracks, Mapping):
        for kind, t in tracks.items():
            if not isinstance(t, Mapping):
                continue
            base = ("legal_tracks", kind)
            statuses = [
                s for s in ("met_on_time", "met_late", "overdue", "open", "waiting", "not_applicable") if s in t
            ]
            if "opened" in t:
                out.append(((*base, "opened"), [(*base, s) for s in statuses]))
            if "met" in t:
                out.append(((*base, "met"), [(*base, "met_on_time"), (*base, "met_late")]))
            if "missed" in t:
                out.append(((*base, "missed"), [(*base, "met_late"), (*base, "overdue")]))
    accounts = _get(tree, ("suspensions", "accounts"))
    if isinstance(accounts, Mapping) and isinstance(accounts.get("by_policy"), Mapping):
        for kind in ("warn", "suspend", "terminate"):
            if _is_count(accounts.get(kind)):
                out.append(
                    (
                        ("suspensions", "accounts", kind),
                        [("suspensions", "accounts", "by_policy", p, kind) for p in accounts["by_policy"]],
                    )
                )
                if _is_count(_get(tree, ("actions", "by_kind", kind))):
                    out.append((("actions", "by_kind", kind), [("suspensions", "accounts", kind)]))
    if _is_count(_get(tree, ("notices", "not_processed"))) and _is_count(
        _get(tree, ("suspensions", "notifiers", "notices_not_processed"))
    ):
        out.append((("notices", "not_processed"), [("suspensions", "notifiers", "notices_not_processed")]))
    means = tree.get("automated_means")
    if isinstance(means, Mapping):
        for field_ in ("detections", "decided", "confirmed", "rejected_on_review", "reversed_on_appeal"):
            for table in ("by_bank", "by_signal_type"):
                rows = means.get(table)
                if isinstance(rows, Mapping) and rows:
                    out.append(
                        (("automated_means", "*", field_), [("automated_means", table, k, field_) for k in rows])
                    )
            for table in ("by_bank", "by_signal_type"):
                for key, row in (means.get(table) or {}).items():
                    if (
                        isinstance(row, Mapping)
                        and field_ == "decided"
                        and all(_is_count(row.get(f)) for f in ("decided", "confirmed", "rejected_on_review"))
                    ):
                        out.append(
                            (
                                ("automated_means", table, key, "decided"),
                                [
                                    ("automated_means", table, key, "confirmed"),
                                    ("automated_means", table, key, "rejected_on_review"),
                                ],
                            )
                        )
    consistency = tree.get("consistency")
    if isinstance(consistency, Mapping):
        for field_ in ("decided", "violates", "reversed_on_appeal", "overturned_at_second_review"):
            if _is_count(_get(tree, ("consistency", "total", field_))):
                policies = consistency.get("per_policy") or {}
                if policies:
                    out.append(
                        (("consistency", "total", field_), [("consistency", "per_policy", p, field_) for p in policies])
                    )
                if isinstance(consistency.get("high_reach"), Mapping):
                    out.append(
                        (
                            ("consistency", "total", field_),
                            [("consistency", "high_reach", field_), ("consistency", "other_accounts", field_)],
                        )
                    )
    # Keep only relations whose every member is a count (or a virtual sum).
    return [
        (t, ps)
        for t, ps in out
        if (t[-2:-1] == ("*",) or t[-1] == "*" or _is_count(_get(tree, t)))
        and all(_is_count(_get(tree, p)) for p in ps)
    ]


def _bounds(value: Any, min_count: int) -> tuple[float, float]:
    if _is_count(value):
        return float(value), float(value)
    if value == WITHHELD:
        # A withheld count is one that was published exactly and is not zero: min_count or more.
        return float(min_count), INF
    if isinstance(value, str) and value.startswith(SUPPRESSED_PREFIX):
        return 1.0, float(min_count - 1)
    return 0.0, INF  # not published (a virtual sum)


def _gap(bounds: tuple[float, float], gapped: bool, min_count: int) -> tuple[float, float]:
    """A withheld count is never 1 .. min_count-1 (those read "< min_count"): 0, or min_count and up."""
    lo, hi = bounds
    if not gapped:
        return bounds
    if hi < min_count:
        return 0.0, 0.0
    if lo > 0:
        return max(lo, float(min_count)), hi
    return bounds


def disclosed(
    published: Mapping[str, Any], rels: list[tuple[Path, list[Path]]], min_count: int, *, hidden: set[Path]
) -> dict[Path, tuple[float, float]]:
    """What a reader can work out about each hidden count from the published figures and the
    sums between them: its interval after propagating every relation to a fixed point."""
    cells: dict[Path, tuple[float, float]] = {}
    gapped: set[Path] = set()
    for total, parts in rels:
        for path in (total, *parts):
            if path not in cells:
                cells[path] = _bounds(_get(published, path), min_count)
                if _get(published, path) == WITHHELD:
                    gapped.add(path)
    for _ in range(200):
        changed = False
        for total, parts in rels:
            t_lo, t_hi = cells[total]
            new_total = _gap(
                (max(t_lo, sum(cells[p][0] for p in parts)), min(t_hi, sum(cells[p][1] for p in parts))),
                total in gapped,
                min_count,
            )
            if new_total != cells[total]:
                cells[total], changed = new_total, True
            t_lo, t_hi = cells[total]
            for p in parts:
                others_lo = sum(cells[q][0] for q in parts if q != p)
                others_hi = sum(cells[q][1] for q in parts if q != p)
                bounded = _gap(
                    (max(cells[p][0], t_lo - others_hi), min(cells[p][1], t_hi - others_lo)), p in gapped, min_count
                )
                if bounded != cells[p]:
                    cells[p], changed = bounded, True
        if not changed:
            break
    return {p: cells[p] for p in hidden if p in cells}


def _set(tree: dict[str, Any], path: Path, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def protect(exact: Mapping[str, Any], published: dict[str, Any], min_count: int) -> dict[str, Any]:
    """`published` (the primary suppression of `exact`) with complementary counts withheld until
    no hidden count can be worked out exactly, and rates on hidden counts left out."""
    rels = relations(exact)
    primary = {p for t, ps in rels for p in (t, *ps) if isinstance(_get(published, p), str)}
    hidden = set(primary)
    for _ in range(10_000):
        pinned = [p for p, (lo, hi) in disclosed(published, rels, min_count, hidden=hidden).items() if lo >= hi]
        if not pinned:
            break
        target = sorted(pinned)[0]
        # The smallest exact count that shares a sum with it; if every sum it is in is already
        # hidden but for it, the sums joined to those through a hidden count (a withheld total
        # given back by its other breakdown), and so on outwards.
        candidates: list[tuple[int, int, int, Path]] = []
        reached, frontier, seen_rels = {target}, {target}, set()
        while frontier and not candidates:
            next_frontier: set[Path] = set()
            for index, (total, parts) in enumerate(rels):
                members = [total, *parts]
                if index in seen_rels or not frontier & set(members):
                    continue
                seen_rels.add(index)
                for p in members:
                    value = _get(published, p)
                    if _is_count(value) and value > 0 and "*" not in p:
                        # Parts before totals, the smallest first; never a zero, which identifies
                        # nobody and, withheld, could only be read back as zero.
                        candidates.append((1 if p == total else 0, 0, value, p))
                    elif p not in reached:
                        next_frontier.add(p)
            reached |= next_frontier
            frontier = next_frontier
        if not candidates:
            break  # nothing published beside it: no sum can pin it either
        choice = sorted(candidates)[0][3]
        _set(published, choice, WITHHELD)
        hidden.add(choice)
    _withhold_rates(published, published_paths=hidden)
    return published


def _withhold_rates(node: Any, published_paths: set[Path], at: Path = ()) -> None:
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        if key in RATE_NUMERATORS and (value is None or isinstance(value, float)):
            numerators = [_get(node, rel) for rel in RATE_NUMERATORS[key]]
            basis = node.get(BASIS.get(key, ""))
            if any(v is not None and not _is_count(v) for v in numerators) or (
                basis is not None and not _is_count(basis)
            ):
                node[key] = None
        elif isinstance(value, dict):
            _withhold_rates(value, published_paths, (*at, key))
