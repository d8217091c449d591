"""schemathesis fuzzes every route of the live server's OpenAPI document; any 5xx fails.

Every route later added to the API is fuzzed here too, without changing this test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_REDIS_URL, database_url
from tests.helpers import ROOT, free_port, service_env, start_service, wait_for_http

EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "40")


@pytest.mark.slow
async def test_no_route_answers_5xx_to_generated_input(db: None, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=database_url())
    if TEST_REDIS_URL:
        env["REDIS_URL"] = TEST_REDIS_URL
    service = start_service(port, env, tmp_path / "server.log")
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/healthz").status_code == 200
        schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        result = subprocess.run(
            [
                schemathesis,
                "run",
                f"http://127.0.0.1:{port}/docs/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "20261121",
                "--wait-for-schema",
                "20",
                "--report-dir",
                str(tmp_path / "schemathesis"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
        assert counts, result.stdout[-3000:]
        assert int(counts[1]) > 100 and counts[1] == counts[2], "every generated case must pass"
    finally:
        code = service.stop()
    assert code == 0, service.output[-4000:]
