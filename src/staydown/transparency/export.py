"""The transparency report as JSON, CSV (long format) and a standalone HTML page with SVG charts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from staydown.transparency.report import TransparencyReport
from staydown.web.templating import ENV, STATIC_DIR

FORMATS = ("json", "csv", "html")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
CSV_HEADER = ("section", "dimension", "value")


def to_json(report: TransparencyReport | Mapping[str, Any]) -> str:
    body = report.to_dict() if isinstance(report, TransparencyReport) else report
    return json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _flatten(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, Mapping):
        if not node:
            return
        for key, value in node.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _flatten(value, (*path, str(i)))
    else:
        yield path, node


def csv_rows(body: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """One row per figure: the top-level section, the path below it joined by '/', the value
    ('' for no value, e.g. a rate over nothing)."""
    for path, value in _flatten(body, ()):
        section, dimension = path[0], "/".join(path[1:])
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        yield section, dimension, text


def to_csv(report: TransparencyReport | Mapping[str, Any]) -> str:
    body = report.to_dict() if isinstance(report, TransparencyReport) else report
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(body))
    return buffer.getvalue()


def to_html(report: TransparencyReport | Mapping[str, Any], *, standalone: bool = True) -> str:
    """The report page. `standalone` embeds the stylesheet so the file reads anywhere (a file
    opened from disk has no CSP); served over HTTP it links /static/staydown.css instead, as the
    Content-Security-Policy forbids inline styles."""
    body = report.to_dict() if isinstance(report, TransparencyReport) else report
    stylesheet = (STATIC_DIR / "staydown.css").read_text(encoding="utf-8") if standalone else None
    template = ENV.get_template("transparency/report.html")
    return template.render(report=body, stylesheet=stylesheet, public=str(body.get("schema", "")).endswith("+public"))


def render(report: TransparencyReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
