"""jinja2 configured exactly as transformers' apply_chat_template configures it.

Shared by the fixture scripts. Mirrors transformers.utils.chat_template_utils._compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
extension and a `{% generation %}` tag, a json.dumps-based tojson filter, and the globals
raise_exception and strftime_now. strftime_now uses a fixed clock (FIXED_NOW) so that fixtures
are reproducible; the Swift tests inject the same instant.
"""
import json
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Friday 26 July 2024, 14:05:09 (interpreted in UTC by the Swift tests).
FIXED_NOW = datetime(2024, 7, 26, 14, 5, 9)


class GenerationTracker(Extension):
    """transformers' AssistantTracker without the index bookkeeping: renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(source, context):
    """Returns {"output": str} or {"error": {"kind": ..., "message": ...}}."""
    env = make_env()
    try:
        template = env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": {"kind": "syntax", "type": type(e).__name__, "message": str(e)}}
    try:
        return {"output": template.render(**context)}
    except jinja2.exceptions.UndefinedError as e:
        return {"error": {"kind": "undefined", "type": type(e).__name__, "message": str(e)}}
    except jinja2.exceptions.SecurityError as e:
        return {"error": {"kind": "security", "type": type(e).__name__, "message": str(e)}}
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": {"kind": "syntax", "type": type(e).__name__, "message": str(e)}}
    except jinja2.exceptions.TemplateError as e:
        kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "runtime"
        return {"error": {"kind": kind, "type": type(e).__name__, "message": str(e)}}
    except Exception as e:  # TypeError, ValueError, ... raised by Python operations
        return {"error": {"kind": "runtime", "type": type(e).__name__, "message": str(e)}}


def continue_final_message(rendered, messages):
    """transformers' continue_final_message post-processing of a render without generation prompt."""
    final_message = messages[-1]["content"]
    if isinstance(final_message, (list, tuple)):
        for content_block in reversed(final_message):
            if "text" in content_block:
                final_message = content_block["text"]
                break
        else:
            raise ValueError("continue_final_message is set but we could not find any text to continue in the final message!")
    if final_message.strip() not in rendered:
        raise ValueError("continue_final_message is set but the final message does not appear in the chat after applying the chat template!")
    final_msg_loc = rendered.rindex(final_message.strip())
    if rendered[final_msg_loc : final_msg_loc + len(final_message.lstrip())] == final_message:
        return rendered[: final_msg_loc + len(final_message.lstrip())]
    return rendered[: final_msg_loc + len(final_message.strip())]
