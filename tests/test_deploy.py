"""The deployment recipes in docs/deploy say what the README says they do (they cannot be run
here: no Docker, no cluster, no GitHub)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kb.cli import cli

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy"


def test_the_kubernetes_deployment_runs_two_probed_replicas_on_one_database():
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["KB_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "database-url"  # from a Secret
    assert "value" not in env["KB_API_TOKEN"]


def test_the_ci_job_checks_then_exports_the_index_with_real_commands():
    job = yaml.safe_load((DEPLOY / "github-actions.yml").read_text())["jobs"]["index"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert "kb check" in runs and "kb index --export kb-index.tar.gz" in runs
    assert "--export" in {p.opts[0] for p in cli.commands["index"].params if p.opts}


def test_the_dockerfile_bakes_the_index_and_stays_offline():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "HF_HUB_OFFLINE=1" in text and re.search(r"RUN kb index ", text)
    assert re.search(r'CMD \["kb", "serve", "--host", "0.0.0.0"', text)
    assert "torch==2.13.0" in text  # pinned before anything that depends on it
