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
            (123456789012345680, "1.2345678901234568e+17"), (9007199254740992, "9007199254740992.0"), (.infinity, "inf"),
        ]
        for (x, s) in cases { #expect(pyFloatRepr(x) == s) }
    }
}
