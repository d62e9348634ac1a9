"""kb: a troubleshooting knowledge base that lives in git.

Library use::

    from kb import KnowledgeBase
    kb = KnowledgeBase.from_env()
    kb.build()
    for r in kb.search("FATAL: remaining connection slots are reserved").results:
        print(r.score, r.title)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.core import KnowledgeBase

__all__ = ["KnowledgeBase"]


def __getattr__(name: str) -> Any:
    """`kb.KnowledgeBase`, imported when first asked for: a module of the package (the triage
    worker, `kb --help`) does not pay for the core's imports."""
    if name == "KnowledgeBase":
        from kb.core import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
