import Foundation

/// A parsed chat template, rendered the way transformers' `apply_chat_template` renders it with
/// jinja2 (`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`, `loopcontrols`,
/// `raise_exception`, `strftime_now`, and a `tojson` that is `json.dumps(..., ensure_ascii=False)`).
///
/// Parsing happens once in `init`; a template can then be rendered any number of times, from any
/// thread (each render has its own state).
public struct ChatTemplate: Sendable {
    /// The template source as given.
    public let source: String
    private let body: JinjaProgram

    /// The clock behind `strftime_now`; replace it to make renders reproducible.
    public var now: @Sendable () -> Date = { Date() }
    /// The time zone `strftime_now` formats in (Python's `datetime.now()` uses local time).
    public var timeZone: TimeZone = .current

    /// Parses `source`; throws a `JinjaError` of kind `.syntax` with the line of the problem.
    public init(_ source: String) throws {
        self.source = source
        let statements = try JinjaParser.parse(source)
        // Folding runs template expressions too, so it gets a budget of its own.
        let budget = JinjaRenderBudget(inputBytes: source.utf8.count)
        JinjaConstantFolder.fold(statements, JinjaInterpreter(now: { Date() }, timeZone: .current, budget: budget))
        self.body = JinjaProgram(statements: statements)
    }

    /// Renders a conversation as transformers does: `messages`, `tools` (None when absent),
    /// `documents` (None unless given in `extraContext`), `add_generation_prompt`, the special
    /// tokens (`bos_token`, `eos_token`, ...) and any extra variables.
    ///
    /// - Parameters:
    ///   - messages: the conversation; each message is usually a dict with `role` and `content`.
    ///   - addGenerationPrompt: whether to append the prompt that starts an assistant turn.
    ///   - tools: tool (function) definitions as JSON schemas, if any.
    ///   - extraContext: further template variables (e.g. `date_string`, `enable_thinking`).
    ///   - specialTokens: special token strings by variable name, e.g. `["bos_token": "<s>"]`.
    ///   - budget: steps and bytes the render may spend; nil: `JinjaRenderBudget(inputBytes:)` of the variables.
    /// - Throws: `JinjaError`, including `.raised` when the template calls `raise_exception` and
    ///   `.limit` when the render runs past its budget.
    public func render(
        messages: [JinjaValue], addGenerationPrompt: Bool, tools: [JinjaValue]? = nil,
        extraContext: [String: JinjaValue] = [:], specialTokens: [String: String] = [:],
        budget: JinjaRenderBudget? = nil
    ) throws -> String {
        var context: [String: JinjaValue] = [:]
        for (k, v) in specialTokens { context[k] = .string(v) }
        for (k, v) in extraContext { context[k] = v }
        context["messages"] = .list(messages)
        if let tools { context["tools"] = .list(tools) } else if context["tools"] == nil { context["tools"] = JinjaValue.none }
        if context["documents"] == nil { context["documents"] = JinjaValue.none }
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try render(context: context, budget: budget)
    }

    /// Renders a conversation whose last message is an unfinished assistant turn for the model to
    /// continue, as transformers' `continue_final_message=True` does: the conversation is rendered
    /// without generation prompt and cut right after the final message's text (its last text part
    /// when the content is a list), so that the end-of-turn markup is dropped.
    ///
    /// - Throws: `JinjaError` from rendering, or `.runtime` when the final message has no text or
    ///   its text does not appear in the rendered prompt.
    public func renderContinuingFinalMessage(
        messages: [JinjaValue], tools: [JinjaValue]? = nil,
        extraContext: [String: JinjaValue] = [:],
        specialTokens: [String: String] = [:]
    ) throws -> String {
        let rendered = try render(
            messages: messages, addGenerationPrompt: false, tools: tools,
            extraContext: extraContext, specialTokens: specialTokens)
        var finalText: String?
        if case .dict(let last)? = messages.last {
            switch last["content"] {
            case .string(let s)?: finalText = s
            case .list(let parts)?, .tuple(let parts)?:
                for case .dict(let part) in parts.reversed() {
                    if let t = part["text"] { finalText = t.pyStr; break }
                }
            default: break
            }
        }
        guard let final = finalText else {
            throw JinjaError(.runtime, "continue_final_message is set but we could not find any text to continue in the final message!")
        }
        // Python slices by code point; work on scalars so the cut lands where transformers cuts.
        let text = Array(rendered.unicodeScalars)
        let stripped = Array(JinjaPyString.strip(final, nil).unicodeScalars)
        let lstripped = Array(JinjaPyString.strip(final, nil, right: false).unicodeScalars)
        var location: Int?
        if stripped.isEmpty {
            location = text.count
        } else if text.count >= stripped.count {
            for start in stride(from: text.count - stripped.count, through: 0, by: -1) where text[start] == stripped[0] {
                if Array(text[start..<(start + stripped.count)]) == stripped { location = start; break }
            }
        }
        guard let loc = location else {
            throw JinjaError(
                .runtime,
                "continue_final_message is set but the final message does not appear in the chat after applying the chat template!")
        }
        let finalScalars = Array(final.unicodeScalars)
        let end = min(text.count, loc + lstripped.count)
        let cut = Array(text[loc..<end]) == finalScalars ? loc + lstripped.count : loc + stripped.count
        return JinjaPyString.string(text[0..<min(cut, text.count)])
    }

    /// Renders with exactly the given variables (jinja2's `template.render(**context)`), within
    /// `budget` (nil: `JinjaRenderBudget(inputBytes:)` of the variables).
    public func render(context: [String: JinjaValue], budget: JinjaRenderBudget? = nil) throws -> String {
        let limits = budget ?? JinjaRenderBudget(inputBytes: JinjaRenderBudget.inputBytes(context.values))
        let interp = JinjaInterpreter(now: now, timeZone: timeZone, budget: limits)
        let scope = JinjaScope(parent: nil)
        scope.vars = context
        var out = ""
        try interp.execute(body.statements, scope, &out)
        return out
    }
}

/// The parsed statements. The tree is never mutated after parsing, which is what makes sharing
/// it between threads safe.
private final class JinjaProgram: @unchecked Sendable {
    let statements: [JinjaStmt]
    init(statements: [JinjaStmt]) { self.statements = statements }
}
