import Dispatch

extension GrammarMatcher {
    /// Fills the next-token mask of each matcher into the mask of the same index, in parallel over
    /// the matchers, as a serving step needs for all its constrained rows at once (each matcher
    /// belongs to one sequence, so they are independent). Each mask must hold its vocabulary's
    /// `maskWords` words.
    public static func fillNextTokenBitmasks(_ matchers: inout [GrammarMatcher], into masks: inout [[UInt32]]) {
        precondition(matchers.count == masks.count, "one mask per matcher")
        if matchers.count < 2 {
            for i in matchers.indices { matchers[i].fillNextTokenBitmask(&masks[i]) }
            return
        }
        matchers.withUnsafeMutableBufferPointer { m in
            masks.withUnsafeMutableBufferPointer { k in
                // Each index is touched by exactly one iteration.
                let shared = UnsafeSendableBox((m, k))
                DispatchQueue.concurrentPerform(iterations: m.count) { i in
                    let (matchers, masks) = shared.value
                    matchers[i].fillNextTokenBitmask(&masks[i])
                }
            }
        }
    }
}
