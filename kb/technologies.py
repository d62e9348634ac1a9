"""The technology channel: evidence *against* an article about another member of the same family
of technologies than the paste names: a MySQL error (`ERROR 1040 (HY000): Too many connections`)
against a Postgres runbook, a RabbitMQ log against a Kafka known issue.

A paste names a technology by a word (`mysql`, `pgbouncer`) or by an error format only it
writes (`ERROR 1040 (HY000)`, `ORA-00942`); an article by its services, tags and title. A
conflict is a family in which both name something and nothing in common. Its fusion weight is
negative: the article stays in the results, lower, and no longer `strong` on wording alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.channels import Channel, Hits, OpenContext, Query
from kb.linear_regex import compile_linear
from kb.normalize import lexical_terms

# family -> technology -> (words, error formats only it writes)
FAMILIES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "relational database": {
        "postgres": (
            ("postgres", "postgresql", "psql", "pgbouncer", "libpq", "psycopg", "psycopg2", "patroni", "psqlexception"),
            (),
        ),
        "mysql": (("mysql", "mariadb", "mysqld", "innodb"), (r"\bERROR \d{4} \([0-9A-Z]{5}\)",)),
        "oracle": (("oracle",), (r"\bORA-\d{5}\b",)),
        "sql server": (("mssql", "sqlserver"), (r"\bMsg \d+, Level \d+, State \d+",)),
        "mongodb": (("mongodb", "mongod", "mongos"), ()),
    },
    "cache": {"redis": (("redis",), ()), "memcached": (("memcached", "memcache"), ())},
    "message broker": {
        "kafka": (("kafka",), ()),
        "rabbitmq": (("rabbitmq", "amqp"), ()),
        "activemq": (("activemq",), ()),
    },
    "proxy": {"nginx": (("nginx",), ()), "haproxy": (("haproxy",), ()), "envoy": (("envoy",), ())},
    "cloud": {"aws": (("aws", "boto3", "botocore"), ()), "gcp": (("gcp", "gcloud"), ()), "azure": (("azure",), ())},
}
_TECHS = [(family, tech) for family, techs in FAMILIES.items() for tech in techs]
_BIT = {pair: 1 << i for i, pair in enumerate(_TECHS)}
_FAMILY_MASK = {f: sum(_BIT[(f, t)] for t in techs) for f, techs in FAMILIES.items()}
_WORDS = {w: _BIT[(f, t)] for f, techs in FAMILIES.items() for t, (words, _) in techs.items() for w in words}
_FORMATS = [
    (compile_linear(rx), _BIT[(f, t)]) for f, techs in FAMILIES.items() for t, (_, rxs) in techs.items() for rx in rxs
]
_NAMES = {bit: tech for (_, tech), bit in _BIT.items()}


def mask_of(terms: set[str], text: str = "") -> int:
    """The technologies named by these lexical terms, or written in these error formats."""
    mask = 0
    for t in terms:
        mask |= _WORDS.get(t, 0)
    for rx, bit in _FORMATS:
        if rx.search(text):
            mask |= bit
    return mask


def _names(mask: int) -> str:
    return ", ".join(name for bit, name in _NAMES.items() if mask & bit)


class TechnologyChannel(Channel):
    name = "technologies"

    def __init__(self, masks: np.ndarray) -> None:
        self.masks = masks  # per article: the technologies its services, tags and title name

    @classmethod
    def open(cls, ctx: OpenContext) -> TechnologyChannel:
        cat = ctx.catalog
        masks = np.zeros(cat.count, dtype=np.int64)
        for key in ("services", "tags"):
            for value, arts in cat.by_value[key].items():
                bits = mask_of(set(lexical_terms(value)))
                if bits:
                    masks[arts] |= bits
        for i, title in enumerate(ctx.generation.metadata().titles()):
            masks[i] |= mask_of(set(lexical_terms(title)))
        return cls(masks)

    def candidates(self, query: Query, allowed: np.ndarray) -> TechnologyHits:
        text = (query.norm.source or query.raw)[:65536]
        return TechnologyHits(self.masks, mask_of(set(query.norm.terms), text))


class TechnologyHits(Hits):
    def __init__(self, masks: np.ndarray, query: int) -> None:
        self._masks = masks
        self.query = query

    def conflicts(self, articles: np.ndarray) -> np.ndarray:
        """The bits of the article's technologies in families where the paste names another."""
        out = np.zeros(len(articles), dtype=np.int64)
        if not self.query:
            return out
        own = self._masks[articles]
        for family_mask in _FAMILY_MASK.values():
            named = self.query & family_mask
            if named:
                theirs = own & family_mask
                out |= np.where((theirs != 0) & ((theirs & named) == 0), theirs, 0)
        return out

    def scores(self, articles: np.ndarray) -> np.ndarray:
        return (self.conflicts(articles) != 0).astype(np.float32)

    def explain(self, article: int) -> dict[str, Any]:
        theirs = int(self.conflicts(np.array([article]))[0])
        if not theirs:
            return {}
        named = self.query & sum(m for m in _FAMILY_MASK.values() if m & theirs)
        return {"technology_conflict": f"the paste names {_names(named)}, the article is about {_names(theirs)}"}
