"""Confidence that can be trusted in both directions, on a small KB written for these cases:
generic tokens do not make a match strong, a paste about another technology lowers an article,
an alert's own name ranks its runbook first, and equal signature matches are ordered by how
much of the paste they cover and how actionable the article is."""

from __future__ import annotations

import pytest

from kb.config import Settings
from kb.core import KnowledgeBase
from kb.indexer import build

ARTICLES = {
    "runbooks/redis-memory.md": """---
title: Redis memory pressure and evictions
type: runbook
services: [redis, cart]
---
## Symptom

Clients log `redis.exceptions.ConnectionError: Error 111 connecting to redis-cart:6379. Connection refused`
while the Redis primary is restarting after it ran out of memory, and evictions spike.

## Fix

Raise `maxmemory`, set an eviction policy, and find the key family that grew.
""",
    "known-issues/redis-oom.md": """---
title: Redis OOM command not allowed when used memory is over maxmemory
type: known-issue
services: [redis]
signatures: ["OOM command not allowed when used memory > 'maxmemory'"]
---
## Error

`redis.exceptions.ConnectionError` and `OOM command not allowed when used memory > 'maxmemory'` from redis-cart.

## Workaround

Switch the eviction policy to allkeys-lru and raise maxmemory.
""",
    "runbooks/dns.md": """---
title: DNS resolution failures in pods
type: runbook
services: [coredns, kubernetes]
---
## Symptom

`Temporary failure in name resolution`, `no such host`, CoreDNS `plugin/errors ... i/o timeout`.

## Fix

Check the CoreDNS pods and conntrack on the nodes; restart CoreDNS if it is wedged.
""",
    "runbooks/postgres-connections.md": """---
title: Postgres too many connections
type: runbook
services: [postgres]
---
## Symptom

`FATAL: sorry, too many clients already` and `Too many connections` when clients bypass pgbouncer.

## Fix

Terminate idle sessions and send traffic through pgbouncer.
""",
    "runbooks/KubeAPIDown.md": "---\ntitle: KubeAPIDown\ntype: runbook\n---\n## Meaning\n\nThe Kubernetes API "
    "server is down: kube API unreachable.\n\n## Fix\n\nCheck the apiserver pods.\n",
    "runbooks/KubeSchedulerDown.md": "---\ntitle: KubeSchedulerDown\ntype: runbook\n---\n## Meaning\n\nThe kube "
    "scheduler is down: no API for scheduling, pods stay Pending.\n\n## Fix\n\nCheck the scheduler pods.\n",
    "runbooks/KubeControllerManagerDown.md": "---\ntitle: KubeControllerManagerDown\ntype: runbook\n---\n"
    "## Meaning\n\nThe kube controller manager is down: the API is up but nothing reconciles.\n\n## Fix\n\n"
    "Check the controller manager pods.\n",
    "runbooks/tls-expiry.md": """---
title: TLS certificate expiry
type: runbook
signatures: ["x509: certificate has expired or is not yet valid"]
---
## Symptom

Clients fail with x509: certificate has expired or is not yet valid.

## Fix

Renew the certificate and reload the listener.
""",
    "postmortems/2026-01-02-checkout-cert.md": """---
title: Checkout outage after the edge certificate expired
type: postmortem
severity: SEV2
signatures: ["x509: certificate has expired or is not yet valid"]
---
## Summary

Checkout calls failed with x509: certificate has expired or is not yet valid for two hours; the
certificate had been issued by hand and nobody renewed it.

## Resolution

Renewed the certificate; cert-manager now issues it.
""",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("confidence")
    for rel, text in ARTICLES.items():
        path = root / "articles" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    settings = Settings(articles=root / "articles", index=root / "index")
    build(settings, log=lambda m: None, progress=False)
    return KnowledgeBase(settings)


def test_a_generic_exception_name_and_a_host_name_do_not_make_a_dns_failure_a_strong_redis_match(kb):
    paste = (
        "redis.exceptions.ConnectionError: Error -3 connecting to redis-cart:6379. Temporary failure in name "
        "resolution."
    )
    r = kb.search(paste, k=3, explain=True)
    redis = [x for x in r.results if x.id.startswith(("runbooks/redis", "known-issues/redis"))]
    assert redis and all(x.confidence != "strong" for x in redis), [(x.id, x.score) for x in r.results]
    assert r.match != "strong"


def test_a_paste_from_another_database_lowers_the_article_about_postgres(kb):
    r = kb.search("ERROR 1040 (HY000): Too many connections", k=3, explain=True)
    pg = next(x for x in r.results if x.id == "runbooks/postgres-connections")
    assert pg.confidence != "strong" and r.match != "strong"
    assert "mysql" in pg.explain["technology_conflict"] and "postgres" in pg.explain["technology_conflict"]
    same = kb.search("Too many connections", k=1, explain=True).results[0]
    assert same.id == "runbooks/postgres-connections" and same.score > pg.score  # the conflict is what lowered it


@pytest.mark.parametrize("name", ["KubeAPIDown", "KubeSchedulerDown", "KubeControllerManagerDown"])
def test_an_alert_name_given_verbatim_ranks_its_own_runbook_first(kb, name):
    r = kb.search(name, k=3, explain=True)
    assert r.results[0].id == f"runbooks/{name}" and r.results[0].confidence == "strong"
    assert r.results[0].signature == name
    fired = kb.search(f"[FIRING:1] {name} (prod critical) kube API component unreachable", k=1)
    assert fired.results[0].id == f"runbooks/{name}"


def test_equal_signature_matches_put_the_runbook_before_the_post_mortem_and_say_why(kb):
    paste = "Get https://checkout.internal/pay: x509: certificate has expired or is not yet valid"
    r = kb.search(paste, k=2, explain=True)
    assert [x.id for x in r.results] == ["runbooks/tls-expiry", "postmortems/2026-01-02-checkout-cert"]
    first, second = (x.explain for x in r.results)
    assert first["actionability"] > second["actionability"]
    assert first["signature_coverage"] == second["signature_coverage"] > 0.5
