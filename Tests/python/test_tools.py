"""Tool calls, structured outputs with Pydantic and reasoning through the official openai client.

The built-in model has random-ish weights (a tiny story model), so it never decides to call a tool
by itself: these tests check what the server guarantees whatever the model prefers. tool_choice
"required" and named functions are constrained by the grammar engine, so every answer must parse
and match the schema; "auto" with the hermes parser is fed a hermes call through a regex
constraint, so the parser has a real generated call to find.
"""
import json
from typing import Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from conftest import MODEL

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
TIME = {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": False}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather forecast", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME}},
]
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


def check_call(call):
    assert call.type == "function"
    assert call.id.startswith("chatcmpl-tool-")
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_named_tool_choice_always_parses(tool_client):
    r = tool_client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, n=8, temperature=1, max_tokens=120,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert len(r.choices) == 8
    for choice in r.choices:
        assert choice.message.content is None
        assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
        check_call(choice.message.tool_calls[0])
        assert choice.finish_reason == "stop"


def test_required_tool_choice_always_parses(tool_client):
    r = tool_client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, n=8, temperature=1, max_tokens=120, tool_choice="required",
        parallel_tool_calls=False)
    for choice in r.choices:
        assert choice.finish_reason == "tool_calls"
        assert len(choice.message.tool_calls) == 1
        check_call(choice.message.tool_calls[0])


def _reassemble(chunks, fragments=None):
    """Adds streamed chunks up as a client does: (calls as (name, arguments), content, finish);
    `fragments`, when given, receives the number of non-empty argument pieces per call index."""
    calls, content, finish = {}, "", None
    for chunk in chunks:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            content += choice.delta.content or ""
            for piece in choice.delta.tool_calls or []:
                if piece.function and piece.function.name:
                    assert piece.index not in calls and piece.id.startswith("chatcmpl-tool-")
                    calls[piece.index] = [piece.function.name, ""]
                text = (piece.function.arguments if piece.function else "") or ""
                calls[piece.index][1] += text
                if fragments is not None and text:
                    fragments[piece.index] = fragments.get(piece.index, 0) + 1
    return [tuple(calls[i]) for i in sorted(calls)], content, finish


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_time"}}])
def test_streamed_tool_calls_reassemble(tool_client, tool_choice):
    args = dict(model=MODEL, messages=MESSAGES, tools=TOOLS, temperature=0, max_tokens=120, tool_choice=tool_choice,
                parallel_tool_calls=False)
    whole = tool_client.chat.completions.create(**args).choices[0]
    streamed, content, finish = _reassemble(tool_client.chat.completions.create(stream=True, **args))
    assert streamed == [(c.function.name, c.function.arguments) for c in whole.message.tool_calls]
    assert content == "" and finish == whole.finish_reason


def test_auto_tool_choice_with_hermes(tool_client):
    regex = r'Let me look\. <tool_call>\{"name": "get_weather", "arguments": \{"city": "(Paris|Lima)", "days": [1-7]\}\}</tool_call>'
    args = dict(model=MODEL, messages=MESSAGES, tools=TOOLS, temperature=0, max_tokens=120,
                extra_body={"structured_outputs": {"regex": regex}})
    r = tool_client.chat.completions.create(**args)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look. "
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
    check_call(choice.message.tool_calls[0])
    fragments = {}
    streamed, content, finish = _reassemble(tool_client.chat.completions.create(stream=True, **args), fragments)
    assert streamed == [(c.function.name, c.function.arguments) for c in choice.message.tool_calls]
    assert content == "Let me look. " and finish == "tool_calls"
    # The arguments arrive as the model writes them, in fragments, not whole at the end.
    assert fragments[0] >= 3, fragments
    # Plain text is content, with no calls.
    plain = tool_client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, temperature=0, max_tokens=6)
    assert plain.choices[0].message.content and not plain.choices[0].message.tool_calls


def test_a_conversation_with_tool_results(tool_client):
    first = tool_client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, temperature=0, max_tokens=120,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = first.choices[0].message.tool_calls[0]
    follow_up = MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    r = tool_client.chat.completions.create(model=MODEL, messages=follow_up, tools=TOOLS, tool_choice="none", max_tokens=5)
    assert r.choices[0].message.content and not r.choices[0].message.tool_calls


def test_tool_choice_errors(tool_client, client):
    with pytest.raises(openai.BadRequestError, match="does not match any of the specified `tools`"):
        tool_client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS,
                                            tool_choice={"type": "function", "function": {"name": "nope"}})
    with pytest.raises(openai.BadRequestError, match="`tools` must be set"):
        tool_client.chat.completions.create(model=MODEL, messages=MESSAGES, tool_choice="required")
    # The plain server has no --enable-auto-tool-choice: tools without a choice default to auto.
    with pytest.raises(openai.BadRequestError, match="--enable-auto-tool-choice"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS)


class Reply(BaseModel):
    answer: Literal["yes", "no"]
    confidence: int = Field(ge=0, le=9)


def test_parse_with_a_pydantic_model(client):
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    for seed in range(4):
        r = parse(model=MODEL, messages=[{"role": "user", "content": "Is it raining?"}], response_format=Reply, max_tokens=60,
                  seed=seed, temperature=1, extra_body={"structured_outputs": {"disable_any_whitespace": True}})
        parsed = r.choices[0].message.parsed
        assert isinstance(parsed, Reply)
        assert parsed.answer in ("yes", "no") and 0 <= parsed.confidence <= 9


def reasoning_of(part):
    """`reasoning_content` of a message or delta (an extra field for the openai client)."""
    return getattr(part, "reasoning_content", None) or (part.model_extra or {}).get("reasoning_content")


def test_reasoning_is_split_off(reasoning_client):
    # deepseek_r1 reads output that never closes </think> as all reasoning; a grammar waits for the
    # end of thinking, so it leaves the reasoning as the model would write it.
    args = dict(model=MODEL, messages=[{"role": "user", "content": "Hello"}], temperature=0, max_tokens=12)
    plain = reasoning_client.chat.completions.create(**args).choices[0].message
    reasoning = reasoning_of(plain)
    assert reasoning and plain.content is None
    constrained = reasoning_client.chat.completions.create(extra_body={"structured_outputs": {"regex": "[0-9]{3}"}}, **args)
    assert reasoning_of(constrained.choices[0].message) == reasoning
    streamed = "".join(reasoning_of(c.choices[0].delta) or ""
                       for c in reasoning_client.chat.completions.create(stream=True, **args) if c.choices)
    assert streamed == reasoning
    # A prompt that closed the think block (thinking off) is constrained from the first token.
    off = reasoning_client.chat.completions.create(
        extra_body={"structured_outputs": {"regex": "[0-9]{3}"}, "chat_template_kwargs": {"enable_thinking": False}}, **args)
    assert len(off.choices[0].message.content) == 3 and off.choices[0].message.content.isdigit()
