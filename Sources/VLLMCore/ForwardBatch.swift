/// One step's flat batch of tokens from several sequences, as the model runner hands it to a
/// backend: no padding, prefill chunks and decodes side by side.
///
/// Sequence `s` owns tokens `queryStart[s] ..< queryStart[s + 1]`; they are the last
/// `queryStart[s + 1] - queryStart[s]` positions of its `seqLens[s]` tokens of context.
public struct ForwardBatch: Sendable, Equatable {
    /// Token ids, one per token of the batch. A negative id is a placeholder (see `placeholder(row:)`).
    public var tokenIDs: [Int32]
    /// Position of each token in its sequence.
    public var positions: [Int32]
    /// Cache slot (`block * blockSize + offset`) where each token's key and value are written.
    public var slotMapping: [Int32]
    /// Offsets of each sequence's tokens in the flat batch; `numSequences + 1` entries.
    public var queryStart: [Int32]
    /// Context length of each sequence after this step (cached tokens plus new ones).
    public var seqLens: [Int32]
    /// Block tables, row-major `[numSequences, blockTableWidth]`; unused entries are 0.
    public var blockTables: [Int32]
    /// Columns of `blockTables`.
    public var blockTableWidth: Int
    /// Tokens whose logits are wanted (usually the last token of each sequence), in output order.
    public var logitIndices: [Int32]

    /// Number of tokens in the batch.
    public var numTokens: Int { tokenIDs.count }
    /// Number of sequences in the batch.
    public var numSequences: Int { seqLens.count }

    /// A batch of the given arrays, as described on each property.
    public init(
        tokenIDs: [Int32], positions: [Int32], slotMapping: [Int32], queryStart: [Int32], seqLens: [Int32],
        blockTables: [Int32], blockTableWidth: Int, logitIndices: [Int32]
    ) {
        self.tokenIDs = tokenIDs
        self.positions = positions
        self.slotMapping = slotMapping
        self.queryStart = queryStart
        self.seqLens = seqLens
        self.blockTables = blockTables
        self.blockTableWidth = blockTableWidth
        self.logitIndices = logitIndices
    }
}

/// A sequence's part of a step, used to build a `ForwardBatch`.
public struct SequenceChunk: Sendable {
    /// The new tokens of this step.
    public var tokenIDs: [Int32]
    /// How many tokens of the sequence are already in the cache (the position of the first new token).
    public var numCached: Int
    /// The sequence's block table (physical block ids).
    public var blockTable: [Int32]
    /// Whether the logits of the last new token are wanted.
    public var wantsLogits: Bool
    /// How many of the first new tokens also want their logits (for prompt logprobs).
    public var leadingLogits: Int

    /// A chunk of `tokenIDs` after `numCached` cached tokens; by default the last token wants its logits.
    public init(tokenIDs: [Int32], numCached: Int, blockTable: [Int32], wantsLogits: Bool = true, leadingLogits: Int = 0) {
        self.tokenIDs = tokenIDs
        self.numCached = numCached
        self.blockTable = blockTable
        self.wantsLogits = wantsLogits
        self.leadingLogits = min(leadingLogits, tokenIDs.count)
    }
}

extension ForwardBatch {
    /// Lays out `chunks` as one flat batch for a cache of `blockSize`-token blocks.
    public init(chunks: [SequenceChunk], blockSize: Int) {
        let width = max(1, chunks.map(\.blockTable.count).max() ?? 1)
        var tokens: [Int32] = [], positions: [Int32] = [], slots: [Int32] = []
        var starts: [Int32] = [0], lens: [Int32] = [], tables: [Int32] = [], logits: [Int32] = []
        for chunk in chunks {
            let first = tokens.count
            logits += (0..<chunk.leadingLogits).map { Int32(first + $0) }
            for (i, token) in chunk.tokenIDs.enumerated() {
                let position = chunk.numCached + i
                tokens.append(token)
                positions.append(Int32(position))
                slots.append(chunk.blockTable[position / blockSize] * Int32(blockSize) + Int32(position % blockSize))
            }
            starts.append(Int32(tokens.count))
            lens.append(Int32(chunk.numCached + chunk.tokenIDs.count))
            tables += chunk.blockTable + [Int32](repeating: 0, count: width - chunk.blockTable.count)
            if chunk.wantsLogits { logits.append(Int32(tokens.count - 1)) }
        }
        self.init(
            tokenIDs: tokens, positions: positions, slotMapping: slots, queryStart: starts, seqLens: lens,
            blockTables: tables, blockTableWidth: width, logitIndices: logits)
    }
}

extension ForwardBatch {
    /// Whether every sequence brings exactly one new token and wants its logits: a pure decode
    /// step.
    public var isDecodeOnly: Bool { uniformShape.map { $0.tokensPerSequence == 1 && $0.logitsPerSequence == 1 } ?? false }

    /// The step's shape when every sequence brings the same number of new tokens and wants the
    /// logits of all of them or of its last one, in order: a decode step, or a step verifying the
    /// same number of drafts for every sequence. Only such steps may replay a recording, since a
    /// recording fixes where each sequence's tokens and logit rows are. Nil for any other step.
    public var uniformShape: UniformStepShape? {
        let n = numSequences
        guard n > 0, numTokens % n == 0 else { return nil }
        let q = numTokens / n
        guard queryStart.enumerated().allSatisfy({ Int($0.element) == $0.offset * q }) else { return nil }
        if logitIndices.count == numTokens, logitIndices.enumerated().allSatisfy({ Int($0.element) == $0.offset }) {
            return UniformStepShape(sequences: n, tokensPerSequence: q, logitsPerSequence: q)
        }
        if logitIndices.count == n, logitIndices.enumerated().allSatisfy({ Int($0.element) == ($0.offset + 1) * q - 1 }) {
            return UniformStepShape(sequences: n, tokensPerSequence: q, logitsPerSequence: 1)
        }
        return nil
    }

    /// This uniform step with dummy sequences of the same shape appended up to `count` sequences,
    /// so that a recording made for `count` sequences fits it. A dummy sequence is token 0 at
    /// positions 0, 1, … with no cache slots (-1: nothing is written) and an all-zero block table
    /// row; its logits are computed and dropped by the caller, after the real rows.
    public func padded(to count: Int) -> ForwardBatch {
        guard let shape = uniformShape, count >= numSequences else {
            preconditionFailure("only a uniform step (uniformShape) can be padded, and only upwards")
        }
        let (q, extra) = (shape.tokensPerSequence, count - numSequences)
        var padded = self
        padded.tokenIDs += [Int32](repeating: 0, count: extra * q)
        padded.positions += (0..<extra).flatMap { _ in (0..<Int32(q)) }
        padded.slotMapping += [Int32](repeating: -1, count: extra * q)
        padded.queryStart += (numSequences..<count).map { Int32(($0 + 1) * q) }
        padded.seqLens += [Int32](repeating: Int32(q), count: extra)
        padded.blockTables += [Int32](repeating: 0, count: extra * blockTableWidth)
        padded.logitIndices +=
            shape.logitsPerSequence == 1
            ? (numSequences..<count).map { Int32(($0 + 1) * q - 1) } : (numTokens..<(count * q)).map(Int32.init)
        return padded
    }

    /// `count` dummy decodes (see `padded(to:)`), for recording a step before any request runs.
    public static func dummyDecodes(_ count: Int) -> ForwardBatch {
        ForwardBatch(
            tokenIDs: [0], positions: [0], slotMapping: [-1], queryStart: [0, 1], seqLens: [1], blockTables: [0],
            blockTableWidth: 1, logitIndices: [0]
        ).padded(to: count)
    }
}

extension ForwardBatch {
    /// The token id that stands for the token sampled for row `row` of the step launched just
    /// before this one, which the host does not know yet (async scheduling): -(row + 1). The
    /// backend resolves it where that token is (`Backend.launchSampling`).
    public static func placeholder(row: Int) -> Int32 { Int32(-(row + 1)) }

    /// Whether some token id is a placeholder.
    public var hasPlaceholders: Bool { tokenIDs.contains { $0 < 0 } }

    /// This batch with each placeholder replaced by its row of `previous`, the tokens the step
    /// launched before it sampled.
    public func resolvingPlaceholders(_ previous: [Int32]) -> ForwardBatch {
        var resolved = self
        resolved.tokenIDs = tokenIDs.map { $0 < 0 ? previous[Int(-$0) - 1] : $0 }
        return resolved
    }
}
