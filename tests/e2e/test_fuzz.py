"""A property-based fuzz of the whole API from its OpenAPI document: Schemathesis sends
what the document allows and what it does not, to a real server on loopback; no
answer may be a 5xx, and every answer must be one the document describes (its status,
content type, headers and body schema).

Bounded: ``MRSJOBS_FUZZ_EXAMPLES`` cases per operation and phase (default 10, about a
minute here). A failure prints the seed; ``MRSJOBS_FUZZ_SEED`` replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import Server

EXAMPLES = int(os.environ.get("MRSJOBS_FUZZ_EXAMPLES", "10"))
CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_headers_conformance", "response_schema_conformance",
                   "unsupported_method", "allow_header_conformance"])


def test_no_input_makes_a_server_error(fast_server: Server, tmp_path: Path) -> None:
    s = fast_server
    document = httpx.get(s.endpoint + "/openapi.json", timeout=30)
    assert document.status_code == 200
    assert "/v3/auth/tokens" in document.json()["paths"]
    # Jobs to list and show, so that their bodies are checked against the document too.
    with s.client() as c:
        jobs = [s.submit(c, {"job_type": "SparkSubmit", "job_name": f"fuzz{i}",
                             "arguments": ["hdfs:///app.py", "a b"],
                             "properties": {"k": "v"}}) for i in range(3)]
        s.wait_state(c, jobs[0], "FINISHED")
    # The server's own project, cluster and jobs, so that requests get past the access
    # checks to the code behind them (other ids are fuzzed by the path patterns alone).
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.project_id" = "{s.project_id}"\n'
                      f'"path.cluster_id" = "{s.cluster_id}"\n'
                      f'"query.cluster_id" = "{s.cluster_id}"\n'
                      f'"body.cluster_id" = "{s.cluster_id}"\n'
                      f'"path.job_execution_id" = "{jobs[1]}"\n'
                      f'"path.job_exe_id" = "{jobs[0]}"\n')
    seed = os.environ.get("MRSJOBS_FUZZ_SEED")
    # One worker: Python 3.11.7's ast module is not safe with Schemathesis's threads
    # ("AST constructor recursion depth mismatch", CPython gh-106905).
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               s.endpoint + "/openapi.json", "--url", s.endpoint,
               "--checks", CHECKS, "--header", f"X-Auth-Token: {s.token}",
               "--max-examples", str(EXAMPLES), "--workers", "1", "--request-timeout", "30",
               "--warnings", "off", "--no-color", *(["--seed", seed] if seed else [])]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    report = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, report
    assert "generated" in report and "passed" in report, report
    assert "unhandled error" not in s.log.read_text(), s.log.read_text()[-5000:]
    with s.client() as c:
        assert c.get(s.jobs_path).status_code == 202
