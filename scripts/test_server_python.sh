#!/usr/bin/env bash
# The server tests with the official openai client, curl and schemathesis against a real `vllm serve`.
# Usage: scripts/test_server_python.sh [path/to/vllm]   (default: builds .build/debug/vllm)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
  export VLLM_BIN="$1"
else
  swift build --product vllm
  export VLLM_BIN="$PWD/.build/debug/vllm"
fi
python3 -m pip install -q openai httpx pytest schemathesis huggingface_hub pyzmq msgpack cbor2 vllm-router numpy gguf
python3 -m pytest -q Tests/python
