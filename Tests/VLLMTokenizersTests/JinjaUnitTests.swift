import Foundation
import Testing

@testable import VLLMTokenizers

/// One small template with its context and jinja2's result (Fixtures/jinja/unit-cases.json,
/// made by scripts/make_jinja_unit_fixtures.py).
struct JinjaUnitCase: Sendable, CustomTestStringConvertible {
    let name: String
    let template: String
    let context: JinjaDict
    let expected: JinjaExpectedResult

    var testDescription: String { name }

    static let all: [JinjaUnitCase] = {
        guard case .list(let items)? = try? JinjaFixtures.json("jinja/unit-cases.json") else { return [] }
        return items.compactMap { item in
            guard case .dict(let d) = item, let name = d["name"]?.stringValue, let template = d["template"]?.stringValue,
                case .dict(let context)? = d["context"]
            else { return nil }
            return JinjaUnitCase(name: name, template: template, context: context, expected: JinjaExpectedResult(d))
        }
    }()
}

@Suite struct JinjaUnitTests {
    @Test func fixturesArePresent() {
        #expect(JinjaUnitCase.all.count > 100)
    }

    @Test(arguments: JinjaUnitCase.all)
    func matchesJinja2(_ c: JinjaUnitCase) {
        var context: [String: JinjaValue] = [:]
        for (k, v) in zip(c.context.keys, c.context.values) { context[k.pyStr] = v }
        c.expected.check(c.name) { try JinjaFixtures.template(c.template).render(context: context) }
    }

    @Test func errorsCarryTheTemplateLine() throws {
        do {
            _ = try ChatTemplate("line1\n{% if true %}\n{{ raise_exception('boom') }}\n{% endif %}").render(context: [:])
            Issue.record("expected an error")
        } catch let e as JinjaError {
            #expect(e.kind == .raised)
            #expect(e.message == "boom")
            #expect(e.line == 3)
            #expect(e.description.contains("line 3"))
        }
        do {
            _ = try ChatTemplate("a\nb\n{{ 1 + }}")
            Issue.record("expected a syntax error")
        } catch let e as JinjaError {
            #expect(e.kind == .syntax)
            #expect(e.line == 3)
        }
        do {
            _ = try ChatTemplate("a\n{% for x in y %}\n{{ x }}").render(context: [:])
            Issue.record("expected a syntax error")
        } catch let e as JinjaError {
            #expect(e.kind == .syntax)
            #expect(e.line == 3)
        }
    }

    @Test func orderedJSONRoundTrip() throws {
        let v = try JinjaValue(jsonString: #"{"z": 1, "a": [1.0, 2, true, null, "é\n"], "m": {"y": 1e3}}"#)
        #expect(try v.jsonString() == #"{"z": 1, "a": [1.0, 2, true, null, "é\n"], "m": {"y": 1000.0}}"#)
        #expect(v.pyStr == #"{'z': 1, 'a': [1.0, 2, True, None, 'é\n'], 'm': {'y': 1000.0}}"#)
    }

    @Test func valuesFromJSONSerialization() throws {
        let any = try JSONSerialization.jsonObject(with: Data(#"[1, 1.5, true, "s", null, {"k": [2]}]"#.utf8))
        let v = JinjaValue(json: any)
        #expect(v.pyRepr == "[1, 1.5, True, 's', None, {'k': [2]}]")
    }

    @Test func floatRepr() {
        let cases: [(Double, String)] = [
            (1, "1.0"), (0.1, "0.1"), (1e16, "1e+16"), (1e15, "1000000000000000.0"), (1e-5, "1e-05"),
            (0.0001, "0.0001"), (-2.5e-7, "-2.5e-07"), (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123_456_789_012_345_680, "1.2345678901234568e+17"), (9_007_199_254_740_992, "9007199254740992.0"), (.infinity, "inf"),
        ]
        for (x, s) in cases { #expect(pyFloatRepr(x) == s) }
    }
}

/// Randomly generated expressions and statements with jinja2's results
/// (Fixtures/jinja/random-cases.json, made by scripts/make_jinja_random_fixtures.py).
@Suite struct JinjaRandomTests {
    static let loaded: (context: [String: JinjaValue], cases: [JinjaUnitCase]) = {
        guard case .dict(let root)? = try? JinjaFixtures.json("jinja/random-cases.json"),
            case .dict(let ctx)? = root["context"], case .list(let items)? = root["cases"]
        else { return ([:], []) }
        var context: [String: JinjaValue] = [:]
        for (k, v) in zip(ctx.keys, ctx.values) { context[k.pyStr] = v }
        let cases = items.compactMap { item -> JinjaUnitCase? in
            guard case .dict(let d) = item, let name = d["name"]?.stringValue, let template = d["template"]?.stringValue else { return nil }
            return JinjaUnitCase(name: name, template: template, context: JinjaDict(), expected: JinjaExpectedResult(d))
        }
        return (context, cases)
    }()

    @Test func fixturesArePresent() {
        #expect(Self.loaded.cases.count >= 2500)
    }

    @Test(arguments: loaded.cases)
    func matchesJinja2(_ c: JinjaUnitCase) {
        c.expected.check("\(c.name): \(c.template)") { try JinjaFixtures.template(c.template).render(context: Self.loaded.context) }
    }
}

/// Differences from jinja2 that are known and accepted for now. `withKnownIssue` keeps them
/// visible: the test starts failing (as a reminder to remove the wrapper) once they are fixed.
@Suite struct JinjaKnownGaps {
    /// `|safe` and `|e` return markupsafe.Markup in jinja2: `Markup + str` escapes the right-hand
    /// side and a Markup inside a printed list shows as `Markup('...')`. Here they are plain strings.
    @Test func markupStringsAreNotModelled() throws {
        let out = try ChatTemplate("{{ '<b>'|safe + '<i>' }}").render(context: [:])
        withKnownIssue {
            #expect(out == "<b>&lt;i&gt;")
        }
    }

    /// Python integers are unbounded; here they are 64-bit and overflow into floats.
    @Test func bigIntegersBecomeFloats() throws {
        let out = try ChatTemplate("{{ 2 ** 100 }}").render(context: [:])
        withKnownIssue {
            #expect(out == "1267650600228229401496703205376")
        }
    }

    /// `range()` and `dict.items()` return lists here, so printing them directly differs
    /// (`range(0, 3)` and `dict_items([...])` in Python); iterating, `|list` and `|length` agree.
    @Test func rangeAndDictViewsPrintAsLists() throws {
        let out = try ChatTemplate("{{ range(3) }}").render(context: [:])
        withKnownIssue {
            #expect(out == "range(0, 3)")
        }
        #expect(try ChatTemplate("{{ range(3)|list }} {{ {'a': 1}.items()|list }}").render(context: [:]) == "[0, 1, 2] [('a', 1)]")
    }
}

/// jinja2 evaluates an output expression made only of literals at compile time, through the
/// sandbox's getitem, so slicing a non-sequence literal prints "" instead of raising TypeError.
@Test func constantFoldedOutputs() throws {
    #expect(try ChatTemplate("{{ (10)[:2] }}|{{ (not (false|round(1))[::-1]) }}").render(context: [:]) == "|True")
    #expect(throws: JinjaError.self) { try ChatTemplate("{{ x[:2] }}").render(context: ["x": 10]) }
}
