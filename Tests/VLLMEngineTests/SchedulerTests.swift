import Testing
import VLLMCore

@testable import VLLMEngine

/// `Scheduler` alone over a `KVCacheManager` of 4-token blocks, with steps "run" by hand: each
/// scheduled request computes its tokens and, once all its known tokens are computed, samples one
/// more (one behaviour per test).
@Suite struct SchedulerTests {
    func scheduler(
        blocks: Int = 64, maxNumBatchedTokens: Int = 64, maxNumSeqs: Int = 8, priority: Bool = false, prefixCaching: Bool = false
    ) -> Scheduler {
        Scheduler(
            config: SchedulerConfig(
                maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs, maxModelLength: 1024,
                priorityScheduling: priority),
            cache: KVCacheManager(numBlocks: blocks, blockSize: 4, prefixCaching: prefixCaching))
    }

    /// What the engine does after a step: the scheduled tokens are computed, and a request whose
    /// known tokens are all computed gets its next token.
    func run(_ step: ScheduledStep) {
        for (request, numTokens) in step.requests {
            request.numComputedTokens += numTokens
            if request.numComputedTokens == request.numTokens { request.append(7) }
        }
    }

    func ids(_ step: ScheduledStep) -> [String] { step.requests.map(\.request.id) }
    func tokens(_ step: ScheduledStep) -> [Int] { step.requests.map(\.numTokens) }

    @Test func waitingPromptsArePrefilledWholeWithinTheBudget() {
        let s = scheduler()
        s.add(makeRequest("a", tokens: Array(1...5), arrival: 0))
        s.add(makeRequest("b", tokens: Array(1...9), arrival: 1))
        let step = s.schedule()
        #expect(ids(step) == ["a", "b"])
        #expect(tokens(step) == [5, 9])
        #expect(s.running.count == 2 && s.waiting.isEmpty)
        #expect(s.running.allSatisfy { $0.status == .running })
    }

    @Test func runningRequestsDecodeOneTokenEach() {
        let s = scheduler()
        s.add(makeRequest("a", tokens: Array(1...5), arrival: 0))
        s.add(makeRequest("b", tokens: Array(1...9), arrival: 1))
        run(s.schedule())
        let step = s.schedule()
        #expect(ids(step) == ["a", "b"])
        #expect(tokens(step) == [1, 1])
    }

    @Test func aLongPromptIsChunkedByTheTokenBudget() {
        let s = scheduler(maxNumBatchedTokens: 4)
        s.add(makeRequest("a", tokens: Array(1...10)))
        var chunks: [Int] = []
        for _ in 0..<4 {
            let step = s.schedule()
            chunks += tokens(step)
            run(step)
        }
        #expect(chunks == [4, 4, 2, 1])
    }

    @Test func theBudgetLeftAfterDecodesGoesToAWaitingPrompt() {
        let s = scheduler(maxNumBatchedTokens: 6)
        s.add(makeRequest("a", tokens: Array(1...3), arrival: 0))
        run(s.schedule())
        s.add(makeRequest("b", tokens: Array(1...20), arrival: 1))
        let step = s.schedule()
        #expect(ids(step) == ["a", "b"])
        #expect(tokens(step) == [1, 5])
    }

    @Test func maxNumSeqsBoundsTheRunningRequests() {
        let s = scheduler(maxNumSeqs: 2)
        for (i, id) in ["a", "b", "c"].enumerated() { s.add(makeRequest(id, tokens: [1, 2, 3], arrival: i)) }
        let step = s.schedule()
        #expect(ids(step) == ["a", "b"])
        #expect(s.waiting.map(\.id) == ["c"])
        run(step)
        s.finish(s.running[0], reason: .stop)
        #expect(ids(s.schedule()) == ["b", "c"])
    }

    @Test func theNewestRunningRequestIsPreemptedWhenBlocksRunOut() {
        // Two prompts of 8 tokens fill all four blocks; their next tokens need a fifth block.
        let s = scheduler(blocks: 4)
        let a = makeRequest("a", tokens: Array(1...8), arrival: 0), b = makeRequest("b", tokens: Array(11...18), arrival: 1)
        s.add(a)
        s.add(b)
        run(s.schedule())
        let step = s.schedule()
        #expect(step.numPreempted == 1)
        #expect(ids(step) == ["a"])
        #expect(s.numPreemptions == 1)
        #expect(s.waiting.map(\.id) == ["b"])
        #expect(b.status == .waiting && b.numComputedTokens == 0)
        #expect(s.cache.blocks(of: b).isEmpty)
        #expect(s.cache.blocks(of: a).count == 3)
    }

    @Test func noWaitingRequestStartsInAStepThatPreempted() {
        let s = scheduler(blocks: 4)
        s.add(makeRequest("a", tokens: Array(1...8), arrival: 0))
        s.add(makeRequest("b", tokens: Array(11...18), arrival: 1))
        run(s.schedule())
        s.add(makeRequest("c", tokens: [1], arrival: 2))
        let step = s.schedule()
        #expect(step.numPreempted == 1)
        #expect(!ids(step).contains("c"))
        #expect(s.waiting.map(\.id) == ["b", "c"])
    }

    @Test func aPreemptedRequestIsRecomputedFromItsFirstToken() {
        let s = scheduler(blocks: 4)
        let a = makeRequest("a", tokens: Array(1...8), arrival: 0), b = makeRequest("b", tokens: Array(11...18), arrival: 1)
        s.add(a)
        s.add(b)
        run(s.schedule())
        run(s.schedule())
        s.finish(a, reason: .stop)
        let step = s.schedule()
        // Its prompt and the token it had sampled before it was preempted.
        #expect(ids(step) == ["b"])
        #expect(tokens(step) == [9])
    }

    @Test func withoutPrioritySchedulingPriorityIsIgnored() {
        let s = scheduler(maxNumSeqs: 1)
        s.add(makeRequest("first", tokens: [1, 2], priority: 5, arrival: 0))
        s.add(makeRequest("second", tokens: [1, 2], priority: 0, arrival: 1))
        #expect(s.waiting.map(\.id) == ["first", "second"])
        #expect(ids(s.schedule()) == ["first"])
    }

    @Test func prioritySchedulingServesLowerPriorityThenEarlierArrival() {
        let s = scheduler(maxNumSeqs: 1, priority: true)
        s.add(makeRequest("a", tokens: [1, 2], priority: 5, arrival: 0))
        s.add(makeRequest("b", tokens: [1, 2], priority: 1, arrival: 2))
        s.add(makeRequest("c", tokens: [1, 2], priority: 1, arrival: 1))
        #expect(s.waiting.map(\.id) == ["c", "b", "a"])
        #expect(ids(s.schedule()) == ["c"])
    }

    @Test func aCachedPrefixIsNotScheduledAgain() {
        let s = scheduler(prefixCaching: true)
        let first = makeRequest("a", tokens: Array(1...9), arrival: 0)
        s.add(first)
        run(s.schedule())
        s.finish(first, reason: .stop)
        let second = makeRequest("b", tokens: Array(1...8) + [40, 41, 42], arrival: 1)
        s.add(second)
        let step = s.schedule()
        #expect(tokens(step) == [3])
        #expect(second.numComputedTokens == 8)
        #expect(second.numCachedPromptTokens == 8)
    }

    @Test func finishingARequestFreesItsBlocks() {
        let s = scheduler(blocks: 8)
        let request = makeRequest("a", tokens: Array(1...9))
        s.add(request)
        run(s.schedule())
        #expect(s.cache.numFreeBlocks == 5)
        s.finish(request, reason: .length)
        #expect(s.cache.numFreeBlocks == 8)
        #expect(request.status == .finished(.length))
        #expect(!s.hasWork)
    }
}
