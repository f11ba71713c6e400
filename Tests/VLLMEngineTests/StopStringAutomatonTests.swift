import Foundation
import Testing

@testable import VLLMEngine

/// The stop-string automaton against a plain search of every stop string (the earliest match
/// wins, ties go to the first string in the list), and its cost against the number of strings.
@Suite struct StopStringAutomatonTests {
    /// The match a one-by-one search finds in `text` (as UTF-8 bytes), for comparison.
    static func bruteForce(_ patterns: [String], _ text: [UInt8]) -> StopStringAutomaton.Match? {
        var best: StopStringAutomaton.Match?
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            let p = Array(pattern.utf8)
            guard p.count <= text.count else { continue }
            for start in 0...(text.count - p.count) where Array(text[start..<(start + p.count)]) == p {
                if best == nil || start < best!.start { best = .init(patternIndex: index, start: start, end: start + p.count) }
                break
            }
        }
        return best
    }

    @Test func findsTheEarliestMatchLikeAPlainSearch() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let alphabet = ["a", "b", "ab", "é", "😀"]
            func word(_ n: Int) -> String { (0..<n).map { _ in alphabet.randomElement(using: &rng)! }.joined() }
            let patterns = (0..<Int.random(in: 1...8, using: &rng)).map { _ in word(Int.random(in: 1...4, using: &rng)) }
            let text = Array(word(30).utf8)
            let automaton = StopStringAutomaton(patterns)
            var state = StopStringAutomaton.State()
            // Fed in pieces, as tokens arrive; the first piece with a match decides.
            var found: StopStringAutomaton.Match?
            var offset = 0
            while offset < text.count, found == nil {
                let end = min(text.count, offset + Int.random(in: 1...5, using: &rng))
                found = automaton.feed(text[offset..<end], &state)
                if found == nil { #expect(Self.bruteForce(patterns, Array(text[..<end])) == nil) }
                offset = end
            }
            if let found {
                let expected = Self.bruteForce(patterns, Array(text[..<offset]))
                #expect(found == expected, "patterns \(patterns) text \(String(decoding: text, as: UTF8.self))")
            }
        }
    }

    @Test func pendingBytesAreThePartialMatchAtTheEnd() {
        let automaton = StopStringAutomaton(["hello", "low"])
        var state = StopStringAutomaton.State()
        #expect(automaton.feed(Array("say hel".utf8), &state) == nil)
        #expect(automaton.pendingBytes(state) == 3)
        #expect(automaton.feed(Array("p".utf8), &state) == nil)
        #expect(automaton.pendingBytes(state) == 0)
        #expect(automaton.feed(Array(" lo".utf8), &state) == nil)
        #expect(automaton.pendingBytes(state) == 2)
        #expect(automaton.feed(Array("w".utf8), &state) == .init(patternIndex: 1, start: 9, end: 12))
    }

    @Test func equalStringsReportTheFirstAndEmptyOnesNeverMatch() {
        let automaton = StopStringAutomaton(["", "x", "x"])
        var state = StopStringAutomaton.State()
        #expect(automaton.feed(Array("abx".utf8), &state)?.patternIndex == 1)
    }

    /// Feeding text costs the same with 20,000 stop strings as with one (a search string by string
    /// would do 20,000 times the work).
    @Test func costDoesNotGrowWithTheNumberOfStrings() {
        let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog ", count: 2000).utf8)
        func seconds(_ patterns: [String]) -> Double {
            let automaton = StopStringAutomaton(patterns)
            var state = StopStringAutomaton.State()
            let start = ContinuousClock.now
            for chunk in stride(from: 0, to: text.count, by: 4) {
                _ = automaton.feed(text[chunk..<min(text.count, chunk + 4)], &state)
            }
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        let many = (0..<20000).map { "the quick brown fox \($0)" }
        let one = seconds(["the quick brown fox 7"])
        #expect(seconds(many) < max(10 * one, 0.05))
    }
}
