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
    /// step, the kind of step a backend may replay from a recording (CUDA graphs).
    public var isDecodeOnly: Bool {
        numTokens == numSequences && logitIndices.count == numTokens
            && logitIndices.enumerated().allSatisfy { $0.offset == Int($0.element) }
    }

    /// This decode step with dummy decodes appended up to `count` sequences, so that a recording
    /// made for `count` sequences fits it. A dummy decode is token 0 at position 0 with no cache
    /// slot (-1: nothing is written) and an all-zero block table row; its logits are computed and
    /// dropped by the caller.
    public func paddedDecodes(to count: Int) -> ForwardBatch {
        precondition(isDecodeOnly && count >= numSequences, "only a decode step can be padded, and only upwards")
        let extra = count - numSequences
        var padded = self
        padded.tokenIDs += [Int32](repeating: 0, count: extra)
        padded.positions += [Int32](repeating: 0, count: extra)
        padded.slotMapping += [Int32](repeating: -1, count: extra)
        padded.queryStart += (numTokens..<count).map { Int32($0 + 1) }
        padded.seqLens += [Int32](repeating: 1, count: extra)
        padded.blockTables += [Int32](repeating: 0, count: extra * blockTableWidth)
        padded.logitIndices += (numTokens..<count).map(Int32.init)
        return padded
    }

    /// `count` dummy decodes (see `paddedDecodes(to:)`), for recording a step before any request runs.
    public static func dummyDecodes(_ count: Int) -> ForwardBatch {
        ForwardBatch(
            tokenIDs: [], positions: [], slotMapping: [], queryStart: [0], seqLens: [], blockTables: [],
            blockTableWidth: 1, logitIndices: []
        ).paddedDecodes(to: count)
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
