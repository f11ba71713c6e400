"""Schemathesis hooks for `vllm serve`: the rules JSON Schema cannot state (SCHEMATHESIS_HOOKS=schemathesis_hooks).

The OpenAPI document states every rule on a single field and every rule between fields that JSON
Schema can express; the rest it lists in each request body's `x-vllm-constraints`, with the numbers
in `info.x-vllm-limits`. Those rules compare token counts with the context length (embedding
inputs with their limit), `min_tokens` with the effective `max_tokens`, `best_of` with `n`, prompts
times `n` with the server's capacity and the stop strings' total size with its limit, they need
regular expressions, grammars and JSON schemas to compile, and a `tool_choice` that constrains the
output (`required`, or a named function that must be one of `tools`) to stand alone (no other
output constraint) with tools whose parameters compile. A positive case (one the document calls valid) that breaks one of them is
not a valid request, so it is dropped here before it is sent; negative cases are never touched.

Token counts come from the server's own `/tokenize` (the tokenizer and the chat template are the
server's); whether a structured-output constraint compiles is asked of the server once per value,
with a one-token request that carries nothing else. Both are cached.

Environment: VLLM_SCHEMATHESIS_BASE (the server's base URL) and VLLM_SCHEMATHESIS_KEY (its API key).
"""
import atexit
import json
import os
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ.get("VLLM_SCHEMATHESIS_BASE", "")
KEY = os.environ.get("VLLM_SCHEMATHESIS_KEY", "")
# Positive cases kept and dropped per rule, written as JSON to VLLM_SCHEMATHESIS_STATS at exit.
DROPPED = {}
KEPT = {}
_cache = {}
_limits = {}


def _post(path, body):
    """(status, JSON body) of a POST to the server."""
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _limit(case, name):
    if not _limits:
        _limits.update(case.operation.schema.raw_schema["info"]["x-vllm-limits"])
    return _limits[name]


def _cached(key, compute):
    if key not in _cache:
        _cache[key] = compute()
    return _cache[key]


def _token_count(request):
    """Tokens of a /tokenize request, or None when the server refuses it."""
    def compute():
        status, body = _post("/tokenize", request)
        return body["count"] if status == 200 else None
    return _cached(("tokenize", json.dumps(request, sort_keys=True)), compute)


def _compiles(field, value):
    """Whether the server accepts this response_format / structured_outputs value alone."""
    def compute():
        status, _ = _post("/v1/completions", {"prompt": [1], "max_tokens": 1, field: value})
        return status == 200
    return _cached(("compiles", field, json.dumps(value, sort_keys=True)), compute)


def _drop(rule):
    DROPPED[rule] = DROPPED.get(rule, 0) + 1
    return False


def _number(body, key, default):
    value = body.get(key, default)
    return default if value is None else value


def _common(case, body):
    """The rules of both generation endpoints that need no token counts."""
    stops = body.get("stop")
    stops = [stops] if isinstance(stops, str) else (stops or [])
    if sum(len(s) for s in stops) > _limit(case, "max_stop_characters"):
        return "stop strings' total size"
    for field in ("response_format", "structured_outputs"):
        if body.get(field) is not None and not _compiles(field, body[field]):
            return f"{field} does not compile"
    return None


def _fits(case, tokens, max_tokens, min_tokens):
    """Whether a prompt of `tokens` leaves room for max_tokens (None: up to the context) and min_tokens."""
    room = _limit(case, "max_model_len") - tokens
    if room < 1:
        return False
    effective = room if max_tokens is None else max_tokens
    return effective <= room and min_tokens <= effective


def _completion_rule(case, body):
    n = _number(body, "n", 1)
    if body.get("best_of") is not None and body["best_of"] != n:
        return "best_of differs from n"
    prompt = body["prompt"]
    prompts = [prompt] if isinstance(prompt, str) or (prompt and isinstance(prompt[0], (int, float))) else prompt
    if len(prompts) * n > _limit(case, "max_sequences"):
        return "prompts times n over capacity"
    rule = _common(case, body)
    if rule:
        return rule
    # Present and null: up to the context; absent: 16.
    max_tokens = body.get("max_tokens") if "max_tokens" in body else 16
    min_tokens = _number(body, "min_tokens", 0)
    add_special = _number(body, "add_special_tokens", True)
    for p in prompts:
        tokens = len(p) if isinstance(p, list) else _token_count({"prompt": p, "add_special_tokens": add_special})
        if tokens is None or not _fits(case, tokens, max_tokens, min_tokens):
            return "context length or min_tokens"
    return None


def _is_json(text):
    def refuse(constant):
        raise ValueError(constant)
    try:
        json.loads(text, parse_constant=refuse)
        return True
    except ValueError:
        return False


def _arguments_rule(messages):
    """Assistant messages' tool calls carry their arguments as JSON text."""
    for message in messages:
        for call in message.get("tool_calls") or []:
            if not _is_json(call["function"]["arguments"]):
                return "tool call arguments are not JSON text"
    return None


def _tools_compile(body):
    """Whether the server accepts these tools and tool_choice alone (their parameters compile)."""
    request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    for field in ("tools", "tool_choice", "parallel_tool_calls"):
        if body.get(field) is not None:
            request[field] = body[field]
    def compute():
        status, _ = _post("/v1/chat/completions", request)
        return status == 200
    return _cached(("tools", json.dumps(request, sort_keys=True)), compute)


def _tool_rule(case, body):
    """The tool_choice rules: a named function is one of tools; "required" (with tools) and named
    functions constrain the output themselves (no other constraint, parameters that compile)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if choice not in (None, "none") and tools is None:
        return "tool_choice without tools"
    tools = tools or []
    if tools and choice is None and not _limit(case, "auto_tool_choice"):
        return "tools without tool_choice (auto) on a server without auto tool choice"
    if isinstance(choice, dict):
        if choice["function"]["name"] not in [tool["function"]["name"] for tool in tools]:
            return "tool_choice names no function of tools"
    elif choice != "required" or not tools:
        return None
    response_format = body.get("response_format")
    structured = body.get("structured_outputs") or {}
    if (response_format is not None and response_format.get("type") != "text") or structured.get("json_object") is True or any(
            structured.get(key) is not None for key in ("json", "regex", "choice", "grammar")):
        return "tool_choice with another output constraint"
    if not _tools_compile(body):
        return "tools' parameters do not compile"
    return None


def _chat_rule(case, body):
    messages = body["messages"]
    continues = _number(body, "continue_final_message", False)
    if continues and not (isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant"):
        return "continue_final_message without a final assistant message"
    rule = _arguments_rule(messages) or _common(case, body) or _tool_rule(case, body)
    if rule:
        return rule
    request = {"messages": messages, "add_generation_prompt": _number(body, "add_generation_prompt", True) and not continues,
               "add_special_tokens": _number(body, "add_special_tokens", False)}
    for field in ("chat_template_kwargs", "tools"):
        if field in body:
            request[field] = body[field]
    tokens = _token_count(request)
    if tokens is None:
        return "the template does not render"
    # Continuing the final message cuts the rendered text after it: a prefix may tokenize into a
    # token or two more than the whole.
    tokens += 2 if continues else 0
    min_tokens = _number(body, "min_tokens", 0)
    max_tokens, completion = body.get("max_tokens"), body.get("max_completion_tokens")
    if completion is not None and max_tokens is not None and not _fits(case, tokens, max_tokens, 0):
        return "context length or min_tokens"
    if not _fits(case, tokens, completion if completion is not None else max_tokens, min_tokens):
        return "context length or min_tokens"
    return None


def _embedding_rule(case, body):
    inputs = body["input"]
    inputs = [inputs] if isinstance(inputs, str) or (inputs and isinstance(inputs[0], (int, float))) else inputs
    add_special = _number(body, "add_special_tokens", True)
    for text in inputs:
        if isinstance(text, str):
            tokens = _token_count({"prompt": text, "add_special_tokens": add_special})
            if tokens is None or not 1 <= tokens <= _limit(case, "max_embedding_tokens"):
                return "embedding input length"
    return None


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return True
    path = case.operation.path
    if path == "/v1/completions" and "prompt" in case.body:
        rule = _completion_rule(case, case.body)
    elif path == "/v1/chat/completions" and case.body.get("messages"):
        rule = _chat_rule(case, case.body)
    elif path == "/tokenize" and case.body.get("messages"):
        rule = _arguments_rule(case.body["messages"])
    elif path == "/v1/embeddings" and "input" in case.body:
        rule = _embedding_rule(case, case.body)
    else:
        return True
    if rule:
        return _drop(rule)
    KEPT[path] = KEPT.get(path, 0) + 1
    return True


@atexit.register
def _write_stats():
    if os.environ.get("VLLM_SCHEMATHESIS_STATS"):
        with open(os.environ["VLLM_SCHEMATHESIS_STATS"], "w") as f:
            json.dump({"kept positive": KEPT, "dropped positive": DROPPED}, f, indent=1, sort_keys=True)
