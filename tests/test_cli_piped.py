"""CLI tables piped into a file or another program keep every cell whole (rich fits a table to
80 columns when there is no terminal, cutting cells with an ellipsis)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from staydown.policies import default_catalogue

BIN = Path(sys.executable).parent


def test_a_piped_table_is_as_wide_as_its_rows(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_") and k != "COLUMNS"}
    env["STAYDOWN_DATA_DIR"] = str(tmp_path / "var")
    run = [str(BIN / "staydown")]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*run, "policies", "sync"], env=env, check=True, capture_output=True)
    listed = subprocess.run([*run, "policies", "list"], env=env, check=True, capture_output=True, text=True).stdout
    assert "…" not in listed
    for policy in default_catalogue():
        assert policy.title in listed and f"{policy.id}@{policy.version}" in listed
    assert max(len(line) for line in listed.splitlines()) > 80  # it was cut to 80 before
    # A terminal's own width (COLUMNS, as a shell sets it) is still honoured.
    narrow = subprocess.run(
        [*run, "policies", "list"], env={**env, "COLUMNS": "60"}, check=True, capture_output=True, text=True
    ).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 60
