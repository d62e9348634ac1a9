"""The `kb` command: one module per command group, each command a thin adapter over the
KnowledgeBase (kb/core.py); kb/cli/base.py holds the group and the shared options."""

from __future__ import annotations

from kb.cli import authoring, evaluate, index, journal, search, serve, triage
from kb.cli.base import cli

__all__ = ["authoring", "cli", "evaluate", "index", "journal", "main", "search", "serve", "triage"]


def main() -> None:
    cli(prog_name="kb")
