"""Schemathesis with every check against /openapi.json of a real `vllm serve` (issue 17).

The server gets its own small limits (a context of 96 tokens, 16 sequences at once), which the
document states, so that the largest valid requests schemathesis generates (n = 16, beam search,
95 tokens each) finish in a debug build. The run is deterministic (a fixed seed, one worker) and
bounded (MAX_EXAMPLES per operation in the fuzzing phase, plus the coverage phase's cases).
`schemathesis_hooks.py` drops the positive cases that break a rule JSON Schema cannot state (the
document lists them in `x-vllm-constraints`); `schemathesis.toml` counts 413 as a rejection.
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import API_KEY, ROOT
from test_hostile import _start, _stop

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_EXAMPLES = 150
SEED = 1


@pytest.fixture(scope="module")
def small():
    server = _start(["--api-key", API_KEY, "--served-model-name", "stories", "--max-model-len", "96",
                     "--max-num-seqs", "8", "--max-queued-requests", "8"], ".server-schemathesis.log")
    yield server
    _stop(server)


@pytest.mark.skipif(shutil.which("schemathesis") is None and shutil.which("st") is None, reason="schemathesis not installed")
def test_schemathesis_all_checks(small, tmp_path):
    tool = shutil.which("schemathesis") or shutil.which("st")
    base = f"http://127.0.0.1:{small['port']}"
    stats = tmp_path / "stats.json"
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "VLLM_SCHEMATHESIS_BASE": base, "VLLM_SCHEMATHESIS_KEY": API_KEY,
           "VLLM_SCHEMATHESIS_STATS": str(stats)}
    start = time.monotonic()
    result = subprocess.run(
        [tool, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", base + "/openapi.json",
         "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
         "--generation-database", "none", "--request-timeout", "60", "--max-failures", "50", "--continue-on-failure",
         "--output-sanitize", "false", "-H", f"Authorization: Bearer {API_KEY}"],
        capture_output=True, text=True, timeout=1200, env=env, cwd=str(tmp_path))
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    with open(os.path.join(ROOT, ".schemathesis.log"), "w") as log:
        log.write(output)
    summary = output[output.find("Test cases:"):].strip()
    print(f"schemathesis --checks all, {MAX_EXAMPLES} examples, seed {SEED}: {elapsed:.0f} s\n{summary}")
    if stats.exists():
        print("hooks:", stats.read_text())
    assert result.returncode == 0, "schemathesis found failures; see .schemathesis.log\n" + output[output.find("FAILURES"):][:6000]
    assert "No issues found" in output, output[-3000:]
    # Every operation of the document ran, and the hooks left most positive cases in.
    selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", output).groups())
    assert selected == total and f"Tested: {total}" in output, summary
    kept = json.loads(stats.read_text())["kept positive"]
    assert kept.get("/v1/completions", 0) >= 50 and kept.get("/v1/chat/completions", 0) >= 50, kept
    assert small["process"].poll() is None, "the server died"
