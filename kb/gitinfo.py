"""What git knows about the articles: the commit they are at, and when each file last changed."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(folder: Path, *args: str, timeout: float) -> str | None:
    """stdout of `git -C folder args...`; None outside git, when git is missing or fails."""
    try:
        out = subprocess.run(
            ["git", "-c", "core.quotepath=off", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def head_commit(folder: Path) -> str | None:
    """The commit of the git repository holding `folder`, if any."""
    return (_git(folder, "rev-parse", "HEAD", timeout=5) or "").strip() or None


def last_commit_dates(root: Path) -> dict[str, str]:
    """Relative POSIX path under `root` -> date (YYYY-MM-DD) of the last commit that touched it.

    One `git log` for the whole folder; an empty dict outside git or when git is missing.
    """
    stdout = _git(root, "log", "--relative", "--name-only", "--no-renames", "--format=%x00%cs", "--", ".", timeout=60)
    if stdout is None:
        return {}
    dates: dict[str, str] = {}
    date = ""
    for line in stdout.splitlines():
        if line.startswith("\0"):
            date = line[1:].strip()
        elif line.strip() and date:
            dates.setdefault(line.strip(), date)  # newest first: keep the first date seen
    return dates
