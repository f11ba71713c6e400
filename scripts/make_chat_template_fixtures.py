#!/usr/bin/env python3
"""Reference renders of real chat templates with jinja2, set up as transformers sets it up.

Every template in ../shared/data/chat-templates/*.jinja, the chat_template of every
../shared/data/tokenizers/*/tokenizer_config.json that has one, and the extra templates in
scripts/chat-templates-extra/*.jinja are rendered over a set of conversations (system prompt,
several turns, list-of-parts content, tools and tool calls, unicode, invalid role orders),
each with add_generation_prompt false and true, exactly as
transformers.apply_chat_template(..., tokenize=False) would call jinja2:
    template.render(messages=..., tools=<list or None>, documents=None,
                    add_generation_prompt=..., **special_tokens, **extra)

Output, under Tests/VLLMTokenizersTests/Fixtures/chat-templates/:
    templates/<name>.jinja   the template sources
    cases.json               {"templates": {name: {"file", "special_tokens"}},
                              "conversations": {name: {"messages", "tools", "extra"}},
                              "cases": [{"template", "conversation", "add_generation_prompt",
                                         "output" | "error"}]}
    model-configs/<name>/tokenizer_config.json   trimmed configs for the CLI / config tests
Run from the repository root: python3 scripts/make_chat_template_fixtures.py
"""
import copy
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_jinja_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/data"
OUT = os.path.join(ROOT, "Tests", "VLLMTokenizersTests", "Fixtures", "chat-templates")

# Special tokens of the models the standalone .jinja files come from (their tokenizer_config.json).
STANDALONE_TOKENS = {
    "llama3-8b-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3.2-3b-instruct": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-7b-instruct": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "phi3-mini-3.8b": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>", "pad_token": "<|endoftext|>"},
    "qwen2.5-0.5b-instruct": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "smollm2-135m-instruct": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"},
    "tinyllama-1.1b-chat": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"},
}
DEFAULT_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
                "days": {"type": "integer", "description": "Forecast length", "default": 1},
            },
            "required": ["city"],
        },
        "return": {"type": "string"},
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone (IANA name, e.g. \"Europe/Paris\").",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "  Search documents.  ",
        "parameters": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags to match"},
                "mode": {"type": ["string", "null"], "description": "Match mode"},
                "meta": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "Extra filters"},
                "limit": {"type": "number", "description": "Max results"},
                "exact": {"type": "boolean", "description": "Exact match"},
            },
            "required": ["tags"],
        },
    },
}

CONVERSATIONS = {
    "system_multi_turn": {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."},
            {"role": "user", "content": "Hello! What is 2 + 2?"},
            {"role": "assistant", "content": "2 + 2 = 4."},
            {"role": "user", "content": "  And 3 + 3?  "},
        ],
    },
    "no_system": {
        "messages": [
            {"role": "user", "content": "Tell me a joke."},
            {"role": "assistant", "content": "Why did the chicken cross the road?"},
            {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "To get to the other side."},
            {"role": "user", "content": "Another one."},
        ],
    },
    "single_user": {"messages": [{"role": "user", "content": "Hi"}]},
    "ends_with_assistant": {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
        ],
    },
    "unicode": {
        "messages": [
            {"role": "system", "content": "Réponds en français. 日本語もOK。"},
            {"role": "user", "content": "Emoji 👩‍👩‍👧 and RTL: مرحبا بالعالم — \"quotes\" 'single' \\backslash\\ tab\tend"},
            {"role": "assistant", "content": "Привет! नमस्ते 🙂\n\nSecond paragraph."},
            {"role": "user", "content": "{{ not a template }} {% raw %} <|im_end|>"},
        ],
    },
    "content_parts": {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "System as parts."}]},
            {"role": "user", "content": [{"type": "text", "text": "First part."}, {"type": "text", "text": "Second part."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Reply as parts."}]},
            {"role": "user", "content": [{"type": "text", "text": "Last question?"}]},
        ],
    },
    "tools_call_and_result": {
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
                ],
            },
            {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."},
            {"role": "user", "content": "Thanks! And the time there?"},
        ],
    },
    "tools_no_system": {
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Tokyo?"}],
    },
    "tools_parallel_calls": {
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "messages": [
            {"role": "user", "content": "Weather and time in Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "callAAAAA", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
                    {"id": "callBBBBB", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Rome"}}},
                ],
            },
            {"role": "tool", "tool_call_id": "callAAAAA", "name": "get_weather", "content": "sunny"},
            {"role": "tool", "tool_call_id": "callBBBBB", "name": "get_time", "content": "14:05"},
        ],
    },
    "tools_search_string_arguments": {
        "tools": [SEARCH_TOOL],
        "messages": [
            {"role": "system", "content": "Use search."},
            {"role": "user", "content": "Find docs tagged ai."},
            {
                "role": "assistant",
                "content": "Searching.",
                "tool_calls": [{"id": "call77777", "type": "function", "function": {"name": "search", "arguments": "{\"tags\": [\"ai\"], \"limit\": 5}"}}],
            },
            {"role": "tool", "tool_call_id": "call77777", "name": "search", "content": "[\"doc1\", \"doc2\"]"},
            {"role": "assistant", "content": "Found doc1 and doc2."},
        ],
    },
    "reasoning": {
        "messages": [
            {"role": "user", "content": "Think first: 2+2?"},
            {"role": "assistant", "content": "<think>\nTwo plus two.\n</think>\n\n4"},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "<think>Three plus three.</think>6", "reasoning_content": "Three plus three, explicitly.", "thinking": "Adding."},
        ],
    },
    "tool_call_without_tools": {
        "messages": [
            {"role": "user", "content": "Call it."},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "call00001", "type": "function", "function": {"name": "f", "arguments": {"x": [1, 2.0, None, True]}}}],
            },
            {"role": "tool", "tool_call_id": "call00001", "content": "ok"},
        ],
    },
    "invalid_two_users": {
        "messages": [
            {"role": "user", "content": "One."},
            {"role": "user", "content": "Two."},
        ],
    },
    "invalid_starts_with_assistant": {
        "messages": [
            {"role": "assistant", "content": "I speak first."},
            {"role": "user", "content": "Odd."},
        ],
    },
    "unknown_role": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "narrator", "content": "Meanwhile..."},
        ],
    },
    "empty": {"messages": []},
    "extra_context": {
        "messages": [
            {"role": "system", "content": "Sys"},
            {"role": "user", "content": "Date?"},
        ],
        "extra": {"date_string": "01 Jan 2025", "enable_thinking": False, "tools_in_user_message": False,
                  "builtin_tools": ["browser", "python"], "reasoning_effort": "high", "model_identity": "You are a test model."},
    },
}


def collect_templates():
    templates = {}
    for path in sorted(glob.glob(os.path.join(SHARED, "chat-templates", "*.jinja"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            templates[name] = (f.read(), STANDALONE_TOKENS.get(name, DEFAULT_TOKENS))
    for path in sorted(glob.glob(os.path.join(SHARED, "tokenizers", "*", "tokenizer_config.json"))):
        model = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        tmpl = config.get("chat_template")
        if tmpl is None:
            continue
        tokens = special_tokens(config)
        entries = [("default", tmpl)] if isinstance(tmpl, str) else [(t["name"], t["template"]) for t in tmpl]
        for tname, source in entries:
            name = f"config-{model}" + ("" if tname == "default" else f"-{tname}")
            templates[name] = (source, tokens)
        write_model_config(model, config)
    extra_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat-templates-extra")
    for path in sorted(glob.glob(os.path.join(extra_dir, "*.jinja"))):
        name = "extra-" + os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            templates[name] = (f.read(), DEFAULT_TOKENS)
    return templates


def special_tokens(config):
    """transformers' special_tokens_map: the set token strings (AddedToken dicts give content)."""
    out = {}
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if v:
            out[key] = v
    return out


def write_model_config(model, config):
    keep = {k: v for k, v in config.items() if k in (
        "chat_template", "bos_token", "eos_token", "unk_token", "pad_token", "add_bos_token", "add_eos_token")}
    d = os.path.join(OUT, "model-configs", model)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(keep, f, ensure_ascii=False, indent=2)
        f.write("\n")


def main():
    os.makedirs(os.path.join(OUT, "templates"), exist_ok=True)
    templates = collect_templates()
    index = {}
    cases = []
    for name, (source, tokens) in templates.items():
        fname = f"{name}.jinja"
        with open(os.path.join(OUT, "templates", fname), "w", encoding="utf-8", newline="") as f:
            f.write(source)
        index[name] = {"file": fname, "special_tokens": tokens}
        for cname, conv in CONVERSATIONS.items():
            for agp in (False, True):
                context = dict(tokens)
                context.update(conv.get("extra", {}))
                context.update(messages=conv["messages"], tools=conv.get("tools"), documents=None, add_generation_prompt=agp)
                case = {"template": name, "conversation": cname, "add_generation_prompt": agp}
                case.update(hf_jinja_env.render(source, copy.deepcopy(context)))
                cases.append(case)
    # continue_final_message: the render without generation prompt, cut after the final message.
    for name, (source, tokens) in templates.items():
        for cname in ("ends_with_assistant", "no_system", "content_parts", "unicode"):
            conv = CONVERSATIONS[cname]
            context = dict(tokens)
            context.update(conv.get("extra", {}))
            context.update(messages=conv["messages"], tools=conv.get("tools"), documents=None, add_generation_prompt=False)
            result = hf_jinja_env.render(source, copy.deepcopy(context))
            case = {"template": name, "conversation": cname, "add_generation_prompt": False, "continue_final_message": True}
            if "output" in result:
                try:
                    case["output"] = hf_jinja_env.continue_final_message(result["output"], conv["messages"])
                except ValueError as e:
                    case["error"] = {"kind": "runtime", "type": "ValueError", "message": str(e)}
            else:
                case.update(result)
            cases.append(case)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"templates": index, "conversations": CONVERSATIONS, "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"{len(templates)} templates, {len(CONVERSATIONS)} conversations: {len(cases)} cases ({errors} expect errors) in {OUT}")
    for name in templates:
        ok = sum(1 for c in cases if c["template"] == name and "output" in c)
        print(f"  {name}: {ok} rendered, {sum(1 for c in cases if c['template'] == name) - ok} errors")


if __name__ == "__main__":
    main()
