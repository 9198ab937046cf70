"""Operational figures and logs: Prometheus metrics (`metrics`) and JSON log lines (`logs`).

This module itself imports neither prometheus-client nor anything that does: `staydown serve`
calls `enable_multiprocess` before the first import of prometheus-client, which reads the
variable once, at import.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess(data_dir: Path) -> Path:
    """Before the server's processes start: one fresh directory they all write their figures to.
    Must run before prometheus_client is imported anywhere in this process (it reads the variable
    at import); `staydown serve` calls it first thing."""
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        return Path(existing)
    path = Path(data_dir) / "metrics"
    if path.exists():
        shutil.rmtree(path)  # figures of a previous run would otherwise be added to this one's
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path
