"""Generated requests against a real `kb serve`: schemathesis over the OpenAPI document, with
its coverage, fuzzing and stateful phases. `make test` runs a short, seeded pass; `make fuzz`
a long one (FUZZ_EXAMPLES, a fresh seed each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import FIXTURE_KB, serve_process

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"


def test_generated_requests_find_no_server_error_and_fit_the_schema(built_index, tmp_path):
    examples = os.environ.get("FUZZ_EXAMPLES", "12")
    seed = [] if os.environ.get("FUZZ_EXAMPLES") else ["--seed", "20261202"]
    st = Path(sys.executable).with_name("schemathesis")
    with serve_process(FIXTURE_KB, built_index, tmp_path / "var") as (base, proc):
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
