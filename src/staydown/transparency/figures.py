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
