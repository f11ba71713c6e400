import Foundation
import Testing

@testable import VLLMTokenizers

/// One render of a real chat template over one conversation, with jinja2's result
/// (Fixtures/chat-templates/cases.json, made by scripts/make_chat_template_fixtures.py).
struct ChatTemplateCase: Sendable, CustomTestStringConvertible {
    let template: String
    let conversation: String
    let addGenerationPrompt: Bool
    var continueFinalMessage = false
    let expected: JinjaExpectedResult

    var testDescription: String {
        "\(template) / \(conversation) / " + (continueFinalMessage ? "continue_final_message" : "agp=\(addGenerationPrompt)")
    }

    struct Suite: Sendable {
        var templates: [String: (source: String, tokens: [String: String])] = [:]
        var conversations: [String: (messages: [JinjaValue], tools: [JinjaValue]?, extra: [String: JinjaValue])] = [:]
        var cases: [ChatTemplateCase] = []
    }

    static let suite: Suite = {
        var s = Suite()
        guard case .dict(let root)? = try? JinjaFixtures.json("chat-templates/cases.json") else { return s }
        if case .dict(let templates)? = root["templates"] {
            for (k, v) in zip(templates.keys, templates.values) {
                guard case .dict(let t) = v, let file = t["file"]?.stringValue,
                    let source = try? String(
                        contentsOf: JinjaFixtures.root.appendingPathComponent("chat-templates/templates/\(file)"), encoding: .utf8)
                else { continue }
                var tokens: [String: String] = [:]
                if case .dict(let tk)? = t["special_tokens"] {
                    for (a, b) in zip(tk.keys, tk.values) { tokens[a.pyStr] = b.pyStr }
                }
                s.templates[k.pyStr] = (source, tokens)
            }
        }
        if case .dict(let convs)? = root["conversations"] {
            for (k, v) in zip(convs.keys, convs.values) {
                guard case .dict(let c) = v, case .list(let messages)? = c["messages"] else { continue }
                var tools: [JinjaValue]?
                if case .list(let t)? = c["tools"] { tools = t }
                var extra: [String: JinjaValue] = [:]
                if case .dict(let e)? = c["extra"] {
                    for (a, b) in zip(e.keys, e.values) { extra[a.pyStr] = b }
                }
                s.conversations[k.pyStr] = (messages, tools, extra)
            }
        }
        if case .list(let cases)? = root["cases"] {
            for item in cases {
                guard case .dict(let d) = item, let t = d["template"]?.stringValue, let c = d["conversation"]?.stringValue,
                    case .bool(let agp)? = d["add_generation_prompt"]
                else { continue }
                var item = ChatTemplateCase(template: t, conversation: c, addGenerationPrompt: agp, expected: JinjaExpectedResult(d))
                if case .bool(true)? = d["continue_final_message"] { item.continueFinalMessage = true }
                s.cases.append(item)
            }
        }
        return s
    }()
}

@Suite struct ChatTemplateFixtureTests {
    @Test func everyRealTemplateIsCovered() {
        let names = Set(ChatTemplateCase.suite.cases.map(\.template))
        for required in [
            "llama3-8b-instruct", "llama3.2-3b-instruct", "mistral-7b-instruct", "phi3-mini-3.8b",
            "qwen2.5-0.5b-instruct", "smollm2-135m-instruct", "tinyllama-1.1b-chat",
            "config-mistral-7b-v0.3", "config-phi3-mini",
        ] {
            #expect(names.contains(required), "no fixtures for \(required)")
        }
        #expect(ChatTemplateCase.suite.cases.count >= 800)
    }

    @Test(arguments: ChatTemplateCase.suite.cases)
    func rendersLikeTransformers(_ c: ChatTemplateCase) throws {
        let suite = ChatTemplateCase.suite
        let (source, tokens) = try #require(suite.templates[c.template])
        let conv = try #require(suite.conversations[c.conversation])
        c.expected.check(c.testDescription) {
            let template = try JinjaFixtures.template(source)
            if c.continueFinalMessage {
                return try template.renderContinuingFinalMessage(
                    messages: conv.messages, tools: conv.tools, extraContext: conv.extra, specialTokens: tokens)
            }
            return try template.render(
                messages: conv.messages, addGenerationPrompt: c.addGenerationPrompt, tools: conv.tools,
                extraContext: conv.extra, specialTokens: tokens)
        }
    }

    @Test func readsTemplatesAndTokensFromTokenizerConfig() throws {
        let dir = JinjaFixtures.root.appendingPathComponent("chat-templates/model-configs")
        let mistral = try ChatTemplateConfig(directory: dir.appendingPathComponent("mistral-7b-v0.3"))
        #expect(mistral.specialTokens == ["bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"])
        let expected = try String(
            contentsOf: JinjaFixtures.root.appendingPathComponent("chat-templates/templates/config-mistral-7b-v0.3.jinja"), encoding: .utf8)
        #expect(mistral.defaultTemplate == expected)
        let phi3 = try ChatTemplateConfig(directory: dir.appendingPathComponent("phi3-mini"))
        #expect(phi3.specialTokens["pad_token"] == "<|endoftext|>")
        #expect(phi3.defaultTemplate != nil)
    }

    @Test func namedTemplateListAndAddedTokenObjects() throws {
        let config = try JinjaValue(
            jsonString: """
                {"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
                 "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
                 "additional_special_tokens": ["<a>", {"content": "<b>"}]}
                """)
        guard case .dict(let d) = config else { Issue.record("not a dict"); return }
        let c = try ChatTemplateConfig(config: d)
        #expect(c.defaultTemplate == "D")
        #expect(c.template(named: "tool_use") == "T")
        #expect(c.specialTokens == ["bos_token": "<s>", "eos_token": "</s>"])
        #expect(c.additionalSpecialTokens == ["<a>", "<b>"])
        let first = try ChatTemplateConfig(config: JinjaDict(["chat_template": .list([.dict(JinjaDict(["name": "x", "template": "X"]))])]))
        #expect(first.defaultTemplate == "X")
    }

    @Test func toolsDefaultToNoneAndDocumentsToNone() throws {
        let t = try ChatTemplate("{{ tools is defined }}/{{ tools is none }}/{{ documents is none }}/{{ add_generation_prompt }}")
        #expect(try t.render(messages: [], addGenerationPrompt: true) == "True/True/True/True")
        #expect(try t.render(messages: [], addGenerationPrompt: false, tools: []) == "True/False/True/False")
    }

    @Test func concurrentRendersShareOneTemplate() async throws {
        let template = try ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try template.render(messages: [["role": "user", "content": .string("n\(i)")]], addGenerationPrompt: false)
                }
            }
            var out: [String] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(Set(results).count == 16)
    }
}

/// Hostile or broken templates and inputs must give errors, never crash the process.
@Suite struct ChatTemplateRobustnessTests {
    @Test func deepRecursionIsAnErrorEvenOnAConcurrencyThread() async throws {
        let t = try ChatTemplate("{% macro r(n) %}{% if n > 0 %}({{ r(n - 1) }}){% endif %}{% endmacro %}{{ r(depth) }}")
        let ok = try await Task { try t.render(context: ["depth": 100]) }.value
        #expect(ok.count == 200)
        await #expect(throws: JinjaError.self) { try await Task { try t.render(context: ["depth": 100_000]) }.value }
    }

    @Test func deeplyNestedSourceIsASyntaxError() {
        #expect(throws: JinjaError.self) {
            try ChatTemplate("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}")
        }
        #expect(throws: JinjaError.self) { try ChatTemplate("{{ " + String(repeating: "-", count: 5000) + "1 }}") }
        #expect(throws: JinjaError.self) { try ChatTemplate(String(repeating: "{% if true %}", count: 5000)) }
        #expect(throws: JinjaError.self) { try JinjaValue(jsonString: String(repeating: "[", count: 100_000)) }
    }

    @Test func hugeAllocationsAndOverflowsAreErrors() throws {
        #expect(throws: JinjaError.self) { try ChatTemplate("{{ 'x' * 10000000000 }}").render(context: [:]) }
        #expect(throws: JinjaError.self) { try ChatTemplate("{{ 'x'|center(10000000000) }}").render(context: [:]) }
        #expect(throws: JinjaError.self) { try ChatTemplate("{{ range(10000000) }}").render(context: [:]) }
        let t = try ChatTemplate("{{ -n }} {{ n // -1 }} {{ n % -1 }} {{ n|abs }} {{ big|int > 0 }}")
        _ = try t.render(context: ["n": .int(Int.min), "big": 1e300])
    }
}
