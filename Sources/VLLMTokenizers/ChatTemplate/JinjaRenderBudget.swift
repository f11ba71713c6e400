/// What one render of a template may spend before it is stopped with a `.limit` error: a number of
/// steps (statements, expressions and loop iterations) and a number of bytes of strings, lists and
/// dicts built. A template is a program; one sent by a client (or a model's own, fed hostile
/// messages) must not pin a thread or exhaust memory the way nested `range(100000)` loops or a
/// doubling string would. The bytes are counted as they are built, so they bound peak memory too.
public struct JinjaRenderBudget: Sendable, Equatable {
    /// Steps allowed.
    public var maxSteps: Int
    /// Bytes allowed (strings by their UTF-8 size, containers at 16 bytes an item).
    public var maxBytes: Int

    /// Exact limits.
    public init(maxSteps: Int, maxBytes: Int) {
        self.maxSteps = maxSteps
        self.maxBytes = maxBytes
    }

    /// The default for a render whose variables hold `inputBytes` bytes: a million steps and 64 MiB,
    /// plus one step per 16 input bytes and 8 bytes per input byte, so that long conversations
    /// through real templates (a few steps and copies per message) always fit.
    public init(inputBytes: Int) {
        let input = max(0, min(inputBytes, 1 << 40))
        self.init(maxSteps: 1_000_000 + input / 16, maxBytes: (64 << 20) + 8 * input)
    }

    /// The size `charge` counts for `value` (its own storage, not its elements').
    static func size(of value: JinjaValue) -> Int {
        switch value {
        case .string(let s): s.utf8.count
        case .list(let items), .tuple(let items): 16 * items.count
        case .dict(let d): 32 * d.keys.count
        default: 0
        }
    }

    /// The bytes of the input variables of a render, counted through containers.
    static func inputBytes(_ values: some Sequence<JinjaValue>) -> Int {
        var total = 0
        var stack = Array(values)
        while let value = stack.popLast() {
            total += size(of: value)
            switch value {
            case .list(let items), .tuple(let items): stack += items
            case .dict(let d): stack += d.keys; stack += d.values
            default: break
            }
        }
        return total
    }
}

/// The budget left to a running render.
struct JinjaBudgetMeter {
    private(set) var stepsLeft: Int
    private(set) var bytesLeft: Int
    let budget: JinjaRenderBudget

    init(_ budget: JinjaRenderBudget) {
        self.budget = budget
        stepsLeft = budget.maxSteps
        bytesLeft = budget.maxBytes
    }

    /// Spends one step.
    mutating func step() throws {
        stepsLeft -= 1
        if stepsLeft < 0 {
            throw JinjaError(.limit, "the template ran longer than its budget of \(budget.maxSteps) steps")
        }
    }

    /// Spends the size of a value just built.
    mutating func charge(_ value: JinjaValue) throws {
        try charge(bytes: JinjaRenderBudget.size(of: value))
    }

    /// Spends `bytes` bytes just built.
    mutating func charge(bytes: Int) throws {
        bytesLeft -= bytes
        if bytesLeft < 0 {
            throw JinjaError(.limit, "the template built more than its budget of \(budget.maxBytes) bytes")
        }
    }
}
