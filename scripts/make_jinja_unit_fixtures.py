#!/usr/bin/env python3
"""Expected outputs for the Jinja unit tests, produced by jinja2 set up as transformers sets it up.

Writes Tests/VLLMTokenizersTests/Fixtures/jinja/unit-cases.json: a list of
{"name", "template", "context", "output" | "error"}. Run from the repository root:
    python3 scripts/make_jinja_unit_fixtures.py
"""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_jinja_env  # noqa: E402

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
    {"role": "user", "content": "Bye"},
]

# (name, template, context)
CASES = [
    # --- output of values (Python str / repr)
    ("print_literals", "{{ 1 }}|{{ 1.0 }}|{{ -0.0 }}|{{ 'a' }}|{{ true }}|{{ False }}|{{ none }}|{{ None }}", {}),
    ("print_floats", "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 2.5e-7 }} {{ 123456789.125 }} {{ 1/3 }} {{ 3.0 * 2 }} {{ 1e300*1e10 }}", {}),
    ("print_list_dict", "{{ [1, 'a', none, true, 2.5, [], {}] }} {{ {'a': 1, 'b': [1, 2], 'c': {'d': 'e'}} }}", {}),
    ("print_tuples", "{{ (1,) }} {{ () }} {{ (1, 'b') }} {{ 1, 2 }}", {}),
    ("print_string_repr", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\tnl\\n', 'é€😀', '\\x00\\x7f'] }}", {}),
    ("print_context_values", "{{ msgs }}|{{ msgs[2].tool_calls }}", {"msgs": MSGS}),
    ("print_undefined", "[{{ nope }}][{{ nope is defined }}]", {}),
    ("print_undefined_attr", "[{{ d.missing }}][{{ d['missing'] }}][{{ l[10] }}]", {"d": {"a": 1}, "l": [1]}),
    # --- string literals and escapes
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600\\101\\q' }}", {}),
    ("string_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("string_multiline_literal", "{{ 'line1\nline2' }}", {}),
    ("numbers_literals", "{{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 1E2 }}", {}),
    # --- arithmetic
    ("arith_basic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 0.5 }}", {}),
    ("arith_floats", "{{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ 7.5 % 2 }} {{ -7.5 % 2 }} {{ 1 + 1.0 }} {{ true + 1 }} {{ true * 2.5 }}", {}),
    ("arith_strings_lists", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [1] + [2] }} {{ [0] * 3 }} {{ 'a' ~ 1 ~ none ~ true ~ nope }}", {}),
    ("arith_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 1 ~ (2 + 3) }} {{ 10 - 2 - 3 }} {{ 2 * 3 % 4 }}", {}),
    ("arith_unary_filter", "{{ -3|abs }} {{ -(3)|abs }} {{ - 1.5|abs }}", {}),
    ("arith_concat_precedence_error", "{{ 1 ~ 2 + 3 }}", {}),
    ("syntax_leading_zero", "{{ 007 }}", {}),
    ("arith_type_error", "{{ 'a' + 1 }}", {}),
    ("arith_undefined_error", "{{ nope + 1 }}", {}),
    ("arith_div_zero", "{{ 1 / 0 }}", {}),
    ("percent_format", "{{ '%s and %s' % ('a', 1) }} {{ '%d%%' % 50 }} {{ '%05.2f' % 3.14159 }} {{ '%(x)s!' % {'x': 'y'} }} {{ '%-5s|' % 'ab' }} {{ '%r' % 'q' }}", {}),
    # --- comparisons and logic
    ("compare", "{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 2 >= 2 }} {{ 'B' < 'a' }} {{ true == 1 }} {{ none == none }} {{ nope == nope }} {{ nope == none }}", {}),
    ("compare_dicts", "{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ [1, [2]] == [1, [2]] }} {{ (1, 2) == [1, 2] }}", {}),
    ("compare_type_error", "{{ 1 < 'a' }}", {}),
    ("logic", "{{ true and 'x' }} {{ 0 and 'x' }} {{ '' or 'y' }} {{ none or 0 }} {{ not 0 }} {{ not not 'a' }} {{ 1 if 0 else 2 }} [{{ 1 if 0 }}] {{ 'a' if true else 'b' if true else 'c' }}", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 'x' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 1 in nope }} {{ 'tool_calls' in m }} {{ 'role' in m }}", {"m": {"role": "user"}}),
    ("in_type_error", "{{ 1 in 'abc' }}", {}),
    ("not_in_precedence", "{{ not 'a' in 'abc' }} {{ not 1 == 2 }}", {}),
    # --- tests
    ("tests_types", "{% for v in [1, 1.5, 'a', none, true, [1], {'a': 1}, nope] %}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is string }}{{ v is none }}{{ v is boolean }}{{ v is sequence }}{{ v is iterable }}{{ v is mapping }}{{ v is defined }};{% endfor %}", {}),
    ("tests_values", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 'a' is in 'abc' }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ none is sameas none }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 2 is gt 1 }} {{ 2 is ge 2 }} {{ 1 is lt 2 }} {{ 1 is le 0 }} {{ 1 is ne 1 }} {{ 2 is greaterthan 1 }} {{ 2 is lessthan 1 }}", {}),
    ("tests_negated", "{{ x is not defined }} {{ y is not none }} {{ y is not string }} {{ not y is string }}", {"y": "s"}),
    ("tests_callable_filter", "{{ range is callable }} {{ 'x' is callable }} {{ 'trim' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ ns is callable }}", {}),
    ("test_on_undefined_attr", "{{ nope.bar is defined }}", {}),
    ("test_unknown", "{{ 1 is nosuchtest }}", {}),
    ("test_unknown_soft", "{% if false %}{{ 1 is nosuchtest }}{% endif %}ok", {}),
    # --- attribute / subscript / slicing
    ("getattr_dict", "{{ m.role }} {{ m['role'] }} {{ m.content }} {{ m.get('role') }} {{ m.get('x', 'dflt') }} {{ m.get('x') }}", {"m": {"role": "user", "content": "hi"}}),
    ("getattr_methods_win", "{{ d.items()|list }} {{ d['items'] }} {{ d.keys()|list }} {{ d.values()|list }}", {"d": {"items": 5, "a": 1}}),
    ("getattr_int", "{{ l.0 }} {{ l.1.x }} {{ l[-1].x }}", {"l": ["a", {"x": 9}]}),
    ("slicing", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1:3] }} {{ l[-2:] }} {{ l[5:] }} {{ l[:0] }} {{ l[3:0:-1] }} {{ 'hello'[::-1] }} {{ 'hello'[1:3] }} {{ 'héllo'[1] }} {{ l[-100:100] }}", {"l": [0, 1, 2, 3, 4]}),
    ("getattr_none", "[{{ n.x }}][{{ n['x'] }}]", {"n": None}),
    ("getattr_none_use", "{{ n.x + 1 }}", {"n": None}),
    ("getattr_undefined_error", "{{ nope.x }}", {}),
    ("getattr_missing_chain_error", "{{ d.a.b }}", {"d": {}}),
    ("dict_literal_nested", "{{ {'a': {'b': [1, {'c': 2}]}}['a']['b'][1]['c'] }} {{ {'x': 1}.x }}", {}),
    # --- string methods
    ("str_methods_strip", "[{{ '  a b  '.strip() }}][{{ '  a '.lstrip() }}][{{ ' a  '.rstrip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\\n\\t a\\u3000'.strip() }}][{{ 'abc'.rstrip('c') }}]", {}),
    ("str_methods_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }} {{ ''.split() }} {{ ''.split(',') }}", {}),
    ("str_methods_case", "{{ 'hello world'.title() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'abc'.upper() }} {{ 'ÀÉ'.lower() }} {{ 'straße'.upper() }} {{ 'Ab'.swapcase() }}", {}),
    ("str_methods_affix", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }} {{ 'hello'.startswith('l', 2) }}", {}),
    ("str_methods_misc", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'aaa'.count('a') }} {{ ', '.join(['x', 'y']) }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ '7'.zfill(3) }} {{ 'ab'.center(6, '*') }} {{ 'a=b=c'.partition('=') }}", {}),
    ("str_format_method", "{{ '{} and {}'.format('a', 'b') }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='n') }} {{ '{:>5}|{:<4}|{:^5}'.format('a', 'b', 'c') }} {{ '{:.2f} {:03d} {:,}'.format(3.14159, 7, 1234567) }} {{ '{{x}}'.format() }}", {}),
    ("str_join_type_error", "{{ ', '.join([1, 2]) }}", {}),
    ("list_methods", "{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }}", {}),
    ("list_append_unsafe", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("dict_update_unsafe", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    ("private_attr", "[{{ ''.__class__ }}]", {}),
    # --- filters
    ("filter_length", "{{ [1, 2]|length }} {{ 'héllo'|length }} {{ {'a': 1}|count }} {{ nope|length }} {{ ''|length }}", {}),
    ("filter_trim", "[{{ '  x  '|trim }}][{{ 'xxyxx'|trim('x') }}][{{ nope|trim }}][{{ 5|trim }}]", {}),
    ("filter_join", "{{ [1, 2, 3]|join }} {{ ['a', 'b']|join(', ') }} {{ users|join(', ', attribute='name') }} {{ [none, true]|join('-') }}", {"users": [{"name": "ann"}, {"name": "bob"}]}),
    ("filter_first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ []|first }}] {{ {'k': 1, 'j': 2}|first }}", {}),
    ("filter_default", "{{ nope|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|default('d') }} {{ none|d('d', boolean=true) }} {{ 0|d(5, true) }} [{{ nope|default }}]", {}),
    ("filter_list", "{{ 'abc'|list }} {{ {'a': 1, 'b': 2}|list }} {{ (1, 2)|list }} {{ nope|list }}", {}),
    ("filter_map", "{{ users|map(attribute='name')|list }} {{ ['a', 'B']|map('upper')|list }} {{ users|map(attribute='age', default=0)|list }} {{ [' a ', 'b ']|map('trim')|join('|') }} {{ ['1', '2']|map('int')|sum }}", {"users": [{"name": "ann", "age": 3}, {"name": "bob"}]}),
    ("filter_select", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 5, 9]|select('gt', 3)|list }}", {}),
    ("filter_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }} {{ msgs|selectattr('tool_calls', 'defined')|list|length }} {{ msgs|selectattr('tool_calls')|list|length }}", {"msgs": MSGS}),
    ("filter_generator_truthy", "{{ 'yes' if ([]|select('odd')) else 'no' }} {{ 'yes' if ([]|select('odd')|list) else 'no' }}", {}),
    ("filter_generator_len_error", "{{ [1]|select('odd')|length }}", {}),
    ("filter_unique", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A', 'b']|unique(case_sensitive=true)|list }} {{ users|unique(attribute='g')|map(attribute='n')|list }}", {"users": [{"n": 1, "g": "x"}, {"n": 2, "g": "X"}, {"n": 3, "g": "y"}]}),
    ("filter_case", "{{ 'hello world-foo(bar)'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'abc'|upper }} {{ 'ABC'|lower }} {{ none|upper }} {{ \"it's o'neil\"|title }}", {}),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb'|indent(2, blank=true) }}][{{ 'a\\nb'|indent('> ') }}][{{ 'x\\n'|indent(3) }}]", {}),
    ("filter_safe_string", "{{ 5|safe }} {{ none|string }} {{ [1]|string }} {{ {'a': 1}|safe|tojson }} {{ nope|string }}|", {}),
    ("filter_numbers", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ '3.5'|float }} {{ 'q'|float }} {{ 4|float }} {{ -5|abs }} {{ -2.5|abs }} {{ true|int }}", {}),
    ("filter_round", "{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 7|round }} {{ 1234.5678|round(-2) }} {{ 0.125|round(2) }}", {}),
    ("filter_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|replace('2', 'x') }}", {}),
    ("filter_sort", "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }} {{ users|sort(attribute='age')|map(attribute='n')|list }} {{ users|sort(attribute='age', reverse=true)|map(attribute='n')|list }}", {"users": [{"n": "a", "age": 3}, {"n": "b", "age": 1}, {"n": "c", "age": 3}]}),
    ("filter_reverse", "{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ (1, 2)|reverse|list }}", {}),
    ("filter_dictsort_items", "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }} {{ {'x': 1, 'y': [2]}|items|list }} {{ nope|items|list }}", {}),
    ("filter_tojson", "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ d|tojson(indent=4, sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'é\"\\\\\\n\\u0001'|tojson }}|{{ [1.0, 1e20, -0.5, 1e-7]|tojson }}|{{ []|tojson(indent=2) }}|{{ {}|tojson(indent=2) }}|{{ 'é'|tojson(ensure_ascii=true) }}|{{ d|tojson(indent='\\t') }}", {"d": {"z": [1, 2.5, None, True, "x"], "a": {"n": {}, "m": []}, "k": "v"}}),
    ("filter_tojson_keys", "{{ {1: 'a', 2.5: 'b', none: 'c', true: 'd'}|tojson }}", {}),
    ("filter_tojson_undefined", "{{ nope|tojson }}", {}),
    ("filter_misc", "{{ [1, 2, 3]|sum }} {{ [1, 5, 3]|max }} {{ ['b', 'A']|min }} {{ users|sum(attribute='age') }} {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ 'a b  c'|wordcount }} {{ 'x'|center(5) }}|{{ [1,2,3,4,5]|slice(2)|list }}", {"users": [{"age": 3}, {"age": 4}]}),
    ("filter_format", "{{ '%s-%s'|format('a', 'b') }} {{ '%(a)s'|format(a=1) }} {{ '%.3f'|format(2) }}", {}),
    ("filter_truncate", "{{ 'hello world foo bar'|truncate(9) }} {{ 'hello world foo bar'|truncate(9, true) }} {{ 'short'|truncate(9) }} {{ 'hello world foo bar'|truncate(11, end='!') }}", {}),
    ("filter_escape_attr", "{{ '<a href=\"x\">&\\'</a>'|e }} {{ 'abc'|attr('upper')() }} [{{ {'a': 1}|attr('a') }}]", {}),
    ("filter_unknown", "{{ 1|nosuchfilter }}", {}),
    ("filter_unknown_soft", "{% if false %}{{ 1|nosuchfilter }}{% endif %}ok", {}),
    ("filter_unknown_soft_run", "{% if true %}{{ 1|nosuchfilter }}{% endif %}ok", {}),
    ("filter_chain_precedence", "{{ 'a' ~ 'b'|upper }} {{ ('a' ~ 'b')|upper }} {{ 'x' + ' y '|trim }} {{ [1,2]|length * 2 }} {{ 1 + [1, 2]|length }}", {}),
    # --- statements: if / for / set / namespace / macro / call / filter / with
    ("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x is odd %}odd{% else %}else{% endif %} {% endfor %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.cycle('o', 'e') }}{{ loop.depth }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}{{ x }}{% else %}empty{% endfor %}|{% for x in nope %}x{% else %}undef{% endfor %}", {}),
    ("for_filtered", "{% for x in range(10) if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}|{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}none{% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a }}{{ b }}{% endfor %}{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_dict_and_string", "{% for k in d %}{{ k }}{% endfor %}|{% for c in 'hé' %}[{{ c }}]{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_unpack_error", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("for_nested_loop", "{% for x in [1, 2] %}{% set outer = loop %}{% for y in 'ab' %}{{ outer.index }}{{ loop.index }}{{ y }} {% endfor %}{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_recursive", "{% for item in tree recursive %}<{{ item.name }}{% if item.children %}:{{ loop(item.children) }}{% endif %}|{{ loop.depth }}>{% endfor %}", {"tree": [{"name": "a", "children": [{"name": "b", "children": []}, {"name": "c"}]}, {"name": "d"}]}),
    ("for_changed", "{% for x in [1, 1, 2, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", {}),
    ("for_over_none_error", "{% for x in n %}{% endfor %}", {"n": None}),
    ("scope_for_does_not_leak", "{% set x = 0 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }} {% endfor %}{{ x }}|{% for i in [1] %}{% set y = 1 %}{% endfor %}[{{ y }}]|{% for i in [1, 2] %}{% if i == 2 %}[{{ z }}]{% endif %}{% set z = i %}{% endfor %}", {}),
    ("scope_if_leaks", "{% if true %}{% set x = 5 %}{% endif %}{{ x }}", {}),
    ("scope_loop_var_restored", "{% set item = 'outer' %}{% for item in [1] %}{{ item }}{% endfor %}{{ item }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.count = ns.count + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} [{{ ns.missing }}]", {}),
    ("namespace_empty_then_set", "{% set ns = namespace() %}{% set ns.index = 0 %}{% for m in [1, 2] %}{% set ns.index = ns.index + 1 %}{% endfor %}{{ ns.index }}", {}),
    ("namespace_set_error", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("set_tuple_unpack", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = [3, 4] %}{{ c }}{{ d }}{% set t = 5, 6 %}{{ t }}", {}),
    ("set_block", "{% set body %}Hello {{ name }}!\n{% endset %}[{{ body }}]{% set up | upper %}shout{% endset %}{{ up }}{% set tr | trim | upper %}  x  {% endset %}[{{ tr }}]", {"name": "N"}),
    ("set_messages_slice", "{% set messages = messages[1:] %}{{ messages|length }}{% for m in messages %}{{ m.role }}{% endfor %}", {"messages": MSGS}),
    ("macro_basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(punct='.', name='c') }} [{{ greet() }}]", {}),
    ("macro_closure", "{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}{% macro n() %}{{ y }}{% endmacro %}{% set y = 7 %}{{ n() }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_render_tools", "{% macro render_props(props, indent) %}{% for k, v in props.items() %}{{ indent }}{{ k }}: {{ v.type }}{% if v.description is defined %} ({{ v.description }}){% endif %}\n{% endfor %}{% endmacro %}{{ render_props(t.parameters.properties, '  ') }}", {"t": {"parameters": {"properties": {"city": {"type": "string", "description": "City"}, "days": {"type": "integer"}}}}}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}{% filter trim|replace('a', 'b') %}  aaa  {% endfilter %}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}", {}),
    ("print_statement", "{% print 'x' ~ 1 %}", {}),
    ("comments", "a{# comment #}b{#- trimmed -#} c {# multi\nline #}d", {}),
    ("generation_tag", "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {"msgs": MSGS}),
    ("globals_range_dict", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }} {{ dict([('k', 1)]) }} {{ range(0)|list }}", {}),
    ("globals_cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    ("globals_range_too_big", "{{ range(200000)|length }}", {}),
    ("raise_exception", "before{{ raise_exception('Roles must alternate: ' ~ 1) }}after", {}),
    ("raise_exception_line", "line1\n{% if true %}\n{{ raise_exception('at line 3') }}\n{% endif %}", {}),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d %j %I%p %y %a') }}", {}),
    ("extra_variables", "{{ bos_token }}{{ custom }}{% if flag %}F{% endif %}", {"bos_token": "<s>", "custom": "C", "flag": True}),
    # --- whitespace control
    ("ws_trim_blocks", "{% if true %}\nA\n{% endif %}\nB\n", {}),
    ("ws_lstrip_blocks", "  {% if true %}\n    x\n  {% endif %}\n  y", {}),
    ("ws_lstrip_not_for_output", "  {{ 'v' }}\n  {% if true %}t{% endif %}", {}),
    ("ws_minus", "a  {%- if true -%}  b  {%- endif -%}  c\n\n{{- ' d ' -}}\n e", {}),
    ("ws_plus", "  {%+ if true %}x{% endif +%}\ny", {}),
    ("ws_lstrip_midline", "a {% if true %}b{% endif %} c", {}),
    ("ws_comment_lines", "a\n  {# c #}\nb\n{#- c2 #}\nc", {}),
    ("ws_crlf", "{% if true %}\r\nA\r\n{% endif %}\r\nB\r\n", {}),
    ("ws_trailing_newline", "x\n", {}),
    ("ws_two_trailing_newlines", "x\n\n", {}),
    ("ws_tabs_unicode_space", "\t{% if true %}a{% endif %}\n\u3000{% if true %}b{% endif %}", {}),
    ("ws_variable_minus_newlines", "x\n\n  {{- 'y' }}\n  {{ 'z' -}}\n\n w", {}),
    ("ws_balanced_braces", "{{ {'a': {'b': 1}} }}|{{ {'a': 1}['a'] }}", {}),
    ("ws_block_in_line_then_newline", "{% for i in [1,2] %}{{ i }}\n{% endfor %}end", {}),

    # --- more edges
    ("repr_unicode_categories", "{{ ['\u200b', '\u00a0', '\u2028', '\U0001F600', '\u0301', '\ud7ff', '\ue000'] }}", {}),
    ("context_floats", "{{ f }} {{ f|tojson }}", {"f": [1e100, 1.5e-10, 2.0, -0.0, 123456789012.5]}),
    ("lexer_strings_with_delimiters", "{{ a|default(\"}}\") }}{% set s = '{%' %}{{ s }}{# {% if %} #}{{ '#}' }}", {}),
    ("lexer_lone_braces", "a { b } {x} %} #} c", {}),
    ("lexer_minus_at_edges", "{{- 'x' -}}  \n  {%- if true -%}  y  {%- endif -%}", {}),
    ("lexer_raw_minus", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b", {}),
    ("lexer_multiline_tag", "{{\n  'a'\n  ~\n  'b'\n}}{%\n  if true\n%}\nc{% endif %}", {}),
    ("lexer_dotted_numbers", "{{ l.0.1 }} {{ 1.5 }} {{ l.1 }}", {"l": [[5, 6], 7]}),
    ("macro_default_uses_param", "{% macro m(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ m('x') }}", {}),
    ("macro_caller_args", "{% macro m() %}{{ caller('z') }}{% endmacro %}{% call(v) m() %}[{{ v }}]{% endcall %}", {}),
    ("cond_expr_no_else_filter", "[{{ 'a' if x is defined }}][{{ x.y if x is defined else 'n' }}]", {}),
    ("dict_get_defaults", "{{ {'a': 1}.get('b', []) }} {{ {'a': 1}.get('a', 2) }} {{ 'x'.join(['a', 'b']) }}", {}),
    ("tojson_sort_keys_mixed_error", "{{ {1: 'a', 'b': 2}|tojson(sort_keys=true) }}", {}),
    ("tojson_float_keys", "{{ {1.0: 'a', 2.5: 'b'}|tojson }}", {}),
    ("percent_none", "{{ '%s|%r|%5.1f' % (none, 'x', 2.25) }}", {}),
    ("loop_in_macro_and_nested_for_else", "{% macro m(xs) %}{% for x in xs %}{{ x }}{% else %}-{% endfor %}{% endmacro %}{{ m([]) }}{{ m([1, 2]) }}", {}),
    ("set_in_if_in_for_scoped", "{% set ns = namespace(v='') %}{% for m in ['a', 'b'] %}{% if m == 'a' %}{% set t = 'A' %}{% else %}{% set t = 'B' %}{% endif %}{% set ns.v = ns.v ~ t %}{% endfor %}{{ ns.v }}[{{ t }}]", {}),
    ("messages_pop_style", "{% set system = messages[0] if messages[0].role == 'system' else none %}{% set rest = messages[1:] if system else messages %}{{ system.content if system }}|{{ rest|map(attribute='role')|join(',') }}", {"messages": MSGS}),
    ("content_parts_join", "{% for m in msgs %}{% if m.content is string %}{{ m.content }}{% else %}{{ m.content|selectattr('type', 'equalto', 'text')|map(attribute='text')|join('\\n') }}{% endif %};{% endfor %}", {"msgs": [{"content": "a"}, {"content": [{"type": "text", "text": "b"}, {"type": "image"}, {"type": "text", "text": "c"}]}]}),
    ("bool_arith_and_compare", "{{ true + true }} {{ true < 2 }} {{ [true, 1]|unique|list }} {{ {true: 'a', 1: 'b'} }}", {}),
    ("string_compare_unicode", "{{ 'é' > 'z' }} {{ 'a' < 'aa' }} {{ ['b', 'é', 'a', 'Z']|sort }}", {}),
    ("int_float_division_results", "{{ 10 / 4 }} {{ 10 // 4 }} {{ 10 % 4 }} {{ 10.0 // 4 }} {{ -10 // 4 }} {{ 3 * 1.1 }}", {}),
    ("join_nested_and_none", "{{ [[1, 2], none, {'a': 'b'}]|join(' ; ') }}", {}),
    ("trim_unicode_spaces", "[{{ '\u3000\u00a0 x \u2003\n'|trim }}]", {}),
    ("first_last_dict_string", "{{ {'a': 1, 'b': 2}|last }} {{ 'xyz'|first }}", {}),
    # --- scoping corner cases
    ("scope_read_then_set_in_loop", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }};{% endfor %}{{ x }}", {}),
    ("scope_macro_before_definition", "{{ m() }}{% macro m() %}x{% endmacro %}", {}),
    ("scope_macro_sees_loop_var", "{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}", {}),
    ("scope_nested_loops_set", "{% for a in [1, 2] %}{% set s = a %}{% for b in [10] %}{% set s = s + b %}{{ s }} {% endfor %}{{ s }}|{% endfor %}", {}),
    ("scope_with_shadow", "{% set v = 'outer' %}{% with v = 'inner' %}{{ v }}{% set v = 'changed' %}{{ v }}{% endwith %}{{ v }}", {}),
    ("scope_set_block_in_loop", "{% for i in [1, 2] %}{% set t %}<{{ i }}>{% endset %}{{ t }}{% endfor %}[{{ t }}]", {}),
    ("scope_loop_var_is_context_name", "{% for messages in [[1], [2, 3]] %}{{ messages|length }}{% endfor %}{{ messages|length }}", {"messages": ["a"]}),
    ("scope_loop_else_sees_outer", "{% set z = 'o' %}{% for i in [] %}{% else %}{{ z }}{% set z = 'e' %}{{ z }}{% endfor %}{{ z }}", {}),
    ("scope_if_inside_loop_set_then_read_after_if", "{% for m in ['a', 'b'] %}{% if m == 'a' %}{% set c = 'x' %}{% endif %}[{{ c }}]{% endfor %}", {}),
    ("scope_namespace_in_macro", "{% set ns = namespace(n=0) %}{% macro bump() %}{% set ns.n = ns.n + 1 %}{% endmacro %}{{ bump() }}{{ bump() }}{{ ns.n }}", {}),
    # --- compile-time constant folding (observable through slices of non-sequences)
    ("fold_in_set_and_if", "{% set v = (1)[::-1] is mapping %}{{ v }}{% if ({})[1:]|sum == 0 %}|zero{% endif %}{% for x in (2.0)[:2]|join(', ') %}{{ x }}{% else %}|none{% endfor %}", {}),
    ("fold_output_undefined", "[{{ (10)[:2] }}][{{ ('ab')[::-1] }}][{{ [1, 2][5:] }}]", {}),
    ("fold_not_for_variables", "{{ n[:2] }}", {"n": 10}),
    ("sort_undefined_keys", "{{ l|map(attribute='role')|list|sort(reverse=true) }} {{ [{'a': 2}, {'a': 1}, {}]|sort(attribute='a')|map(attribute='a')|list }}", {"l": [3, 1, 2]}),
    ("percent_with_list_and_undefined", "{{ 'x' % [] }}|{{ 'x%s' % nope }}|{{ '%s' % [1, 2] }}", {}),
    ("pow_negative_constant_quirk", "{{ -2 ** x }} {{ (0-2) ** x }} {{ -2 ** 2 }} {{ -x ** 2 }} {{ -2.5 ** x }}", {"x": 2}),
    ("pow_overflow", "{{ 10.0 ** x }}", {"x": 400}),
    ("int_of_huge_float_no_crash", "{{ (x|int) > 0 }} {{ '%d' % 3.9 }}", {"x": 1e300}),
    # --- less common filters
    ("filter_groupby", "{{ users|groupby('g') }}|{% for g, items in users|groupby('g') %}{{ g }}:{{ items|map(attribute='n')|join(',') }};{% endfor %}|{% for grp in users|groupby('g') %}{{ grp.grouper }}={{ grp.list|length }};{% endfor %}|{{ users|groupby('g', case_sensitive=true)|list|length }}|{{ users|groupby('missing', default='z')|list }}", {"users": [{"n": 1, "g": "x"}, {"n": 2, "g": "X"}, {"n": 3, "g": "a"}]}),
    ("filter_striptags", "{{ '<b>a</b>  <!-- c -->b &amp; c\n<br/>d'|striptags }}", {}),
    ("filter_filesizeformat", "{{ 1000|filesizeformat }} {{ 123456789|filesizeformat }} {{ 1024|filesizeformat(true) }} {{ 1|filesizeformat }} {{ 999|filesizeformat }} {{ '2048'|filesizeformat(binary=true) }}", {}),
    ("filter_urlencode", "{{ 'a b&c/é'|urlencode }} {{ {'a': 'x y', 'b': 1}|urlencode }} {{ [('k', 'v w')]|urlencode }}", {}),
    ("filter_xmlattr_pprint", "[{{ {'class': 'x', 'id': none, 'data-v': '<q>'}|xmlattr }}][{{ {'a': 1}|xmlattr(false) }}] {{ [1, {'a': 'b'}]|pprint }}", {}),
    ("filter_unsupported_parses", "{% if false %}{{ x|wordwrap }}{% endif %}ok", {}),
    # --- syntax errors
    ("syntax_unclosed_if", "line1\n{% if true %}\nno end", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expression", "{{ 1 + }}", {}),
    ("syntax_unclosed_variable", "{{ x ", {}),
    ("syntax_unclosed_comment", "{# x ", {}),
    ("syntax_unexpected_end_tag", "{% endfor %}", {}),
    ("syntax_bad_char", "{{ a ? b }}", {}),
    ("syntax_chained_is", "{{ a is defined is defined }}", {}),
]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "Tests", "VLLMTokenizersTests", "Fixtures", "jinja")
    os.makedirs(out_dir, exist_ok=True)
    seen = set()
    cases = []
    for name, template, context in CASES:
        assert name not in seen, name
        seen.add(name)
        case = {"name": name, "template": template, "context": context}
        case.update(hf_jinja_env.render(template, copy.deepcopy(context)))
        cases.append(case)
    with open(os.path.join(out_dir, "unit-cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"wrote {len(cases)} cases ({errors} expecting errors) to {out_dir}/unit-cases.json")


if __name__ == "__main__":
    main()
