import Foundation
import Testing

@testable import VLLMTokenizers

/// Every render has a budget of steps and bytes; a template that would run for hours or exhaust
/// memory stops at once with a `.limit` error, and real templates never come near it.
@Suite struct JinjaBudgetTests {
    static let messages: [JinjaValue] = [["role": "user", "content": "Hi"]]

    func limitError(_ source: String, budget: JinjaRenderBudget? = nil) throws -> JinjaError? {
        let template = try ChatTemplate(source)
        do {
            _ = try template.render(messages: Self.messages, addGenerationPrompt: true, budget: budget)
            return nil
        } catch let error as JinjaError {
            return error
        }
    }

    @Test(arguments: [
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% for i in range(100000) %}{{ f(n) }}{% endfor %}{% endmacro %}{{ f(0) }}",
        "{% for a in range(100000) %}{{ range(100000)|list|length }}{% endfor %}",
    ])
    func endlessLoopsStopWithinTheStepBudget(source: String) throws {
        let start = ContinuousClock.now
        let error = try limitError(source)
        #expect(error?.kind == .limit || error?.message.contains("recursion") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    @Test(arguments: [
        "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{{ ('x' * 60000000) ~ ('y' * 60000000) }}",
        "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
    ])
    func growingMemoryStopsWithinTheByteBudget(source: String) throws {
        let error = try limitError(source)
        #expect(error?.kind == .limit, "\(String(describing: error))")
        #expect(error?.message.contains("bytes") == true)
    }

    @Test func anExplicitBudgetCountsSteps() throws {
        let loop = "{% for i in range(1000) %}{{ i }}{% endfor %}"
        #expect(try limitError(loop, budget: JinjaRenderBudget(maxSteps: 100_000, maxBytes: 1 << 20)) == nil)
        #expect(try limitError(loop, budget: JinjaRenderBudget(maxSteps: 500, maxBytes: 1 << 20))?.kind == .limit)
        #expect(try limitError(loop, budget: JinjaRenderBudget(maxSteps: 100_000, maxBytes: 100))?.kind == .limit)
    }

    /// A long conversation through a real template fits the default budget, which grows with the input.
    @Test func longConversationsFitTheDefaultBudget() throws {
        let template = try ChatTemplate(
            "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] | trim + '<|im_end|>\\n' }}{% endfor %}")
        let long: [JinjaValue] = (0..<20000).map { i in
            ["role": "user", "content": .string(String(repeating: "word ", count: 100) + "\(i)")]
        }
        let text = try template.render(messages: long, addGenerationPrompt: false)
        #expect(text.hasSuffix("19999<|im_end|>\n"))
    }
}
