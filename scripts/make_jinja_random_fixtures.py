#!/usr/bin/env python3
"""Randomly generated Jinja expressions and small statements, rendered by jinja2 (transformers setup).

A differential test: the Swift interpreter must give the same output, or an error of the same
kind, for every case. The seed is fixed so the fixture file is reproducible:
    python3 scripts/make_jinja_random_fixtures.py [count]
writes Tests/VLLMTokenizersTests/Fixtures/jinja/random-cases.json.
"""
import copy
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_jinja_env  # noqa: E402

CONTEXT = {
    "s": "Hello World", "e": "", "w": "  padded\ttext \n", "u8": "héllo wörld ß", "n": 7, "z": 0, "neg": -3,
    "f": 2.5, "big": 1e20, "l": [3, 1, 2], "sl": ["b", "A", "c", "a"], "el": [], "d": {"b": 2, "a": 1, "c": [1, 2]},
    "m": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "tool_calls": []}],
    "t": True, "no": None, "nested": {"x": {"y": [1, {"z": "deep"}]}},
}

ATOMS = [
    "1", "0", "-2", "3", "10", "0.5", "2.0", "-1.5", "1e3", "'a'", "'Hello World'", "' x '", "'é'", "''", "'a,b,,c'",
    "none", "true", "false", "[1, 2, 3]", "['b', 'a']", "[]", "{'a': 1, 'b': 'x'}", "{}", "(1, 'a')",
    "s", "e", "w", "u8", "n", "z", "neg", "f", "big", "l", "sl", "el", "d", "m", "t", "no", "nested", "s", "l", "d",
    "m[0]", "m[1].tool_calls", "d.c", "nested.x.y[1].z", "m|length", "d['a']", "undefined_name", "d.missing",
]
# `safe` and `e` are left out: they return markupsafe.Markup, which the Swift side does not model
# (see JinjaKnownGaps in the tests).
FILTERS = [
    "length", "count", "trim", "upper", "lower", "title", "capitalize", "first", "last", "list", "join(', ')", "join",
    "default('D')", "default('D', true)", "string", "int", "float", "abs", "round", "round(1)", "reverse|list", "sort",
    "sort(reverse=true)", "unique|list", "tojson", "tojson(indent=2)", "tojson(sort_keys=true)", "replace('a', 'X')",
    "indent(2)", "indent(2, true)", "sum", "min", "max", "map('string')|list", "select|list", "reject|list",
    "select('odd')|list", "dictsort", "items|list", "batch(2)|list", "wordcount", "center(9)", "truncate(8)",
    "map(attribute='role')|list", "selectattr('role', 'eq', 'user')|list", "list|length", "first|string",
]
TESTS = [
    "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
    "odd", "even", "divisibleby(3)", "divisibleby 2", "lower", "upper", "in [1, 'a', none]", "eq 1", "boolean",
    "true", "false", "callable", "sameas none", "gt 2", "le 'b'",
]
METHODS = [
    "upper()", "lower()", "split()", "split(',')", "strip()", "strip('H')", "startswith('H')", "endswith('d')",
    "replace('l', 'L')", "title()", "count('l')", "items()|list", "keys()|list", "values()|list", "get('a')",
    "get('zz', 0)", "find('o')", "capitalize()", "splitlines()", "rstrip()", "lstrip()", "index(1)", "format(1, 2)",
]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not in"]


def expr(rng, depth):
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(ATOMS)
    k = rng.random()
    sub = expr(rng, depth - 1)
    if k < 0.25:
        return f"{sub}|{rng.choice(FILTERS)}"
    if k < 0.4:
        neg = "not " if rng.random() < 0.3 else ""
        return f"{sub} is {neg}{rng.choice(TESTS)}"
    if k < 0.55:
        return f"({sub}).{rng.choice(METHODS)}"
    if k < 0.8:
        op = rng.choice(BINOPS)
        return f"({sub} {op} {expr(rng, depth - 1)})"
    if k < 0.87:
        return f"({sub} if {expr(rng, depth - 1)} else {expr(rng, depth - 1)})"
    if k < 0.93:
        return f"(not {sub})" if rng.random() < 0.5 else f"(-{sub})"
    return f"({sub})" + rng.choice(["[0]", "[-1]", "[1:]", "[::-1]", "['a']", ".a", "[:2]", "[1]"])


def statement(rng):
    k = rng.random()
    e1, e2 = expr(rng, 2), expr(rng, 2)
    if k < 0.35:
        return f"{{% for x in {e1} %}}[{{{{ loop.index }}}}:{{{{ x }}}}]{{% else %}}empty{{% endfor %}}"
    if k < 0.5:
        return f"{{% for x in {e1} if x %}}{{{{ x }}}}{{{{ ',' if not loop.last }}}}{{% endfor %}}"
    if k < 0.7:
        return f"{{% if {e1} %}}yes{{% elif {e2} %}}elif{{% else %}}no{{% endif %}}"
    if k < 0.85:
        return f"{{% set v = {e1} %}}{{{{ v }}}}|{{{{ v is defined }}}}"
    return f"{{% set ns = namespace(acc=[]) %}}{{% for x in {e1} %}}{{% set ns.acc = ns.acc + [x] %}}{{% endfor %}}{{{{ ns.acc }}}}"


LOOP_BODIES = [
    "{{ x }}", "{{ loop.index }}{{ x }}", "{% if loop.first %}<{% endif %}{{ x }}{% if loop.last %}>{% endif %}",
    "{% if x is odd %}{% continue %}{% endif %}{{ x }}", "{% if loop.index > 2 %}{% break %}{% endif %}{{ x }}",
    "{{ loop.revindex }}:{{ loop.length }}", "[{{ loop.previtem }}|{{ loop.nextitem }}]", "{{ loop.cycle('a', 'b') }}",
    "{% set ns.total = ns.total ~ x %}", "{% set y = x %}{{ y }}", "{% for z in [1, 2] %}{{ loop.index }}{{ x }}{% endfor %}",
    "{{ m(x) }}", "{% call m(x) %}!{% endcall %}",
]
ITERABLES = ["l", "sl", "el", "'abc'", "d", "m", "range(4)", "[1, 2, 3, 4, 5]", "l|sort", "d.items()|list", "none", "n",
             "m|selectattr('role', 'eq', 'user')", "[[1, 2], [3, 4]]"]


def loop_template(rng):
    """Loops, loop variables, break/continue, namespaces and macros around random bodies."""
    target = "x" if rng.random() < 0.85 else "x, w"
    cond = rng.choice(["", "", " if x", " if x is not none", " if loop is undefined"])
    body = "".join(rng.choice(LOOP_BODIES) for _ in range(rng.randint(1, 3)))
    els = rng.choice(["", "{% else %}E"])
    macro = rng.choice([
        "{% macro m(a, b='B') %}({{ a }}{{ b }}{{ caller() if caller is defined else '' }}){% endmacro %}",
        "{% macro m(a) %}{{ a|string|upper }}{{ varargs|length }}{% endmacro %}",
    ])
    prefix = macro + "{% set ns = namespace(total='') %}" + rng.choice(["", "{% set x = 'outer' %}"])
    suffix = rng.choice(["", "|{{ ns.total }}", "|{{ x }}", "|{{ y }}"])
    return f"{prefix}{{% for {target} in {rng.choice(ITERABLES)}{cond} %}}{body}{els}{{% endfor %}}{suffix}"


TEXTS = ["", " ", "  ", "\t", "\n", "\n\n", " \n ", "a", "a ", " b\n", "\n  c", "x\n\t", "\r\n", "\u3000", "\n \n"]


def ws_template(rng):
    """Text and tags with random whitespace control, to pin down trim_blocks/lstrip_blocks."""
    parts = []
    depth = 0
    for _ in range(rng.randint(2, 7)):
        parts.append(rng.choice(TEXTS))
        l, r = rng.choice(["", "", "-", "+"]), rng.choice(["", "", "-", "+"])
        k = rng.random()
        if k < 0.3:
            parts.append("{{" + rng.choice(["", "-"]) + " 'v' " + rng.choice(["", "-"]) + "}}")
        elif k < 0.45:
            parts.append("{#" + l + " c " + r + "#}")
        elif k < 0.7 or depth == 0:
            parts.append("{%" + l + " if true " + r + "%}")
            depth += 1
        else:
            parts.append("{%" + l + " endif " + r + "%}")
            depth -= 1
    while depth > 0:
        parts.append(rng.choice(TEXTS))
        parts.append("{%" + rng.choice(["", "-"]) + " endif " + rng.choice(["", "-", "+"]) + "%}")
        depth -= 1
    parts.append(rng.choice(TEXTS))
    if rng.random() < 0.2:
        parts.insert(rng.randrange(len(parts)), "{% raw %}" + rng.choice(TEXTS) + "{{ r }}" + rng.choice(TEXTS) + "{%" + rng.choice(["", "-", "+"]) + " endraw " + rng.choice(["", "-", "+"]) + "%}")
    return "".join(parts)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rng = random.Random(20260125)
    cases = []
    seen = set()
    errors = 0
    while len(cases) < count:
        k = rng.random()
        if k < 0.5:
            template = "{{ " + expr(rng, 3) + " }}"
        elif k < 0.65:
            template = statement(rng)
        elif k < 0.85:
            template = ws_template(rng)
        else:
            template = loop_template(rng)
        if template in seen:
            continue

        seen.add(template)
        case = {"name": f"random_{len(cases):04d}", "template": template}
        # A fresh copy each time: jinja2's indent filter extends a list argument in place.
        case.update(hf_jinja_env.render(template, copy.deepcopy(CONTEXT)))
        # Keep errors to about a third so that most cases compare real output.
        if "error" in case:
            if errors * 2 >= len(cases) - errors:
                continue
            errors += 1
        cases.append(case)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "Tests", "VLLMTokenizersTests", "Fixtures", "jinja", "random-cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"context": CONTEXT, "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    kinds = {}
    for c in cases:
        k = c["error"]["type"] if "error" in c else "output"
        kinds[k] = kinds.get(k, 0) + 1
    print(f"wrote {len(cases)} cases to {out}: {kinds}")


if __name__ == "__main__":
    main()
