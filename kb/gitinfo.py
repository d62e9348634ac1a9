"""Dates from git: when each article file was last committed."""

from __future__ import annotations

import subprocess
from pathlib import Path


def last_commit_dates(root: Path) -> dict[str, str]:
    """Relative POSIX path under `root` -> date (YYYY-MM-DD) of the last commit that touched it.

    One `git log` for the whole folder; an empty dict outside git or when git is missing.
    """
    cmd = ["git", "-c", "core.quotepath=off", "-C", str(root), "log", "--relative", "--name-only",
           "--no-renames", "--format=%x00%cs", "--", "."]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace",
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    dates: dict[str, str] = {}
    date = ""
    for line in out.stdout.splitlines():
        if line.startswith("\0"):
            date = line[1:].strip()
        elif line.strip() and date:
            dates.setdefault(line.strip(), date)  # newest first: keep the first date seen
    return dates
