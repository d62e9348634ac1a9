"""kb: a troubleshooting knowledge base that lives in git.

Library use::

    from kb import KnowledgeBase
    kb = KnowledgeBase.from_env()
    kb.build()
    for r in kb.search("FATAL: remaining connection slots are reserved").results:
        print(r.score, r.title)
"""

from kb.core import KnowledgeBase

__all__ = ["KnowledgeBase"]
