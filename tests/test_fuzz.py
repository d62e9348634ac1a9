"""Generated requests against a real `kb serve`: schemathesis over the OpenAPI document, with
its coverage, fuzzing and stateful phases. `make test` runs a short, seeded pass; `make fuzz`
a long one (FUZZ_EXAMPLES, a fresh seed each time). The chat hooks' secrets are set (every
generated chat request is unsigned: a 401, never a 500) and the forward points at a port where
nothing listens (the alert hook still answers every notification)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import FIXTURE_KB, serve_process

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"
HOOK_ENV = {
    "KB_SLACK_SIGNING_SECRET": "fuzz-signing-secret",
    "KB_MATTERMOST_TOKEN": "fuzz-mattermost-token",
    "KB_FORWARD_URL": "http://127.0.0.1:9/services/T/B/x",  # nothing listens: every forward fails
}


def test_generated_requests_find_no_server_error_and_fit_the_schema(built_index, tmp_path):
    examples = os.environ.get("FUZZ_EXAMPLES", "12")
    seed = [] if os.environ.get("FUZZ_EXAMPLES") else ["--seed", "20261202"]
    st = Path(sys.executable).with_name("schemathesis")
    with serve_process(FIXTURE_KB, built_index, tmp_path / "var", **HOOK_ENV) as (base, proc):
        out = subprocess.run(
            [
                str(st),
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                CHECKS,
                "--phases",
                "coverage,fuzzing,stateful",
                "-n",
                examples,
                *seed,
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        assert proc.poll() is None, "the server died"
    report = out.stdout[-6000:]
    assert out.returncode == 0, report
    assert "passed" in report, report
    log = (tmp_path / "var" / "serve.log").read_text()
    assert "could not post a forward" in log  # generated notifications were answered, the forward failed
