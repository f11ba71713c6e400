/// Row-parallel shards (a range of input features) of the quantized formats, with vLLM's rules:
/// the packed values are cut on whole int32 words, group scales and zeros on whole groups, FP8
/// scales on whole blocks; a slice inside one group or block keeps that one scale column (vLLM
/// repeats per-channel scales on every rank). Act-order weights keep every group their slice
/// touches, as vLLM repeats the scales on all ranks and shards `g_idx` with the inputs.
extension HostLinearWeight {
    /// The quantized formats' `columns(_:)`: throws `ModelLoadError.invalidConfig` (field
    /// `tensor_parallel_size`) naming the word, group or block that the slice cuts.
    func quantizedColumns(_ range: Range<Int>) throws -> HostLinearWeight {
        switch format {
        case .packedInt(let bits, let groupSize, let permuted):
            if permuted { return try actOrderColumns(range, bits: bits, groupSize: groupSize) }
            try requireBoundaries(range, every: 32 / bits, of: "int32 words of \(32 / bits) \(bits)-bit values")
            let words = (range.lowerBound * bits / 32)..<(range.upperBound * bits / 32)
            let (groups, group) = try scaleColumns(range, every: groupSize, of: "groups of \(groupSize) inputs (group_size)")
            return HostLinearWeight(
                format: .packedInt(bits: bits, groupSize: group ?? groupSize, permuted: false), outFeatures: outFeatures,
                inFeatures: range.count, tensors: [tensors[0].columns(words), tensors[1].columns(groups), tensors[2].columns(groups)])
        case .fp8(let blockColumns):
            // A slice inside one block keeps the block width: the kernels read min(block, inputs).
            let (blocks, _) = try scaleColumns(range, every: blockColumns, of: "scale blocks of \(blockColumns) inputs (weight_block_size)")
            return HostLinearWeight(
                format: format, outFeatures: outFeatures, inFeatures: range.count,
                tensors: [tensors[0].columns(range), tensors[1].columns(blocks)])
        case .lookupTable(let bits):
            try requireBoundaries(range, every: 32 / bits, of: "int32 words of \(32 / bits) \(bits)-bit indices")
            let words = (range.lowerBound * bits / 32)..<(range.upperBound * bits / 32)
            return HostLinearWeight(
                format: format, outFeatures: outFeatures, inFeatures: range.count, tensors: [tensors[0].columns(words), tensors[1]])
        case .dense, .ggml, .stacked:
            preconditionFailure("\(format) is not sliced here")
        }
    }

    /// The scale columns of `range` when scales cover `width` inputs each: the columns of the
    /// groups it spans when it starts and ends on group boundaries (the last group may be short),
    /// or the one column of the group holding all of it, with that slice's width as the new group
    /// (nil when the width stays).
    private func scaleColumns(_ range: Range<Int>, every width: Int, of what: String) throws -> (Range<Int>, Int?) {
        let first = range.lowerBound / width, last = (range.upperBound - 1) / width
        if first == last && range.count < width { return (first..<(first + 1), range.count) }
        try requireBoundaries(range, every: width, of: what)
        return (first..<(last + 1), nil)
    }

    /// Throws unless `range` starts and ends on multiples of `unit` (or at the last input).
    private func requireBoundaries(_ range: Range<Int>, every unit: Int, of what: String) throws {
        guard range.lowerBound % unit == 0, range.upperBound % unit == 0 || range.upperBound == inFeatures else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "tensor_parallel_size",
                detail: "a row-parallel slice \(range) of \(inFeatures) input features does not fall on the \(what) of \(format) weights")
        }
    }
}

extension HostLinearWeight {
    /// An act-order shard. Its inputs are spread over the stored groups (`order`), a different
    /// number in each, so each group that holds any of them keeps its scales and zeros, and its
    /// members are stored first in a stored group of `width` columns (the largest count, rounded
    /// up to 128 bits of values so that the GPU's matrix-vector kernels still apply); padding
    /// columns have order -1 and value 0. Only the slice's packed values are kept (vLLM likewise
    /// shards `g_idx` and the packed rows and repeats the scales on every rank); a slice of whole
    /// stored groups needs no padding.
    fileprivate func actOrderColumns(_ range: Range<Int>, bits: Int, groupSize: Int) throws -> HostLinearWeight {
        try requireActOrderBoundaries(range, groupSize: groupSize)
        let order = tensors[3].bytes.assumingMemoryBound(to: Int32.self)
        let perWord = 32 / bits, storedWords = tensors[0].shape[1], storedGroups = tensors[1].shape[1]
        // Per stored group that keeps members: its index and the stored columns of its members.
        var kept: [(group: Int, columns: [Int])] = []
        for g in 0..<storedGroups {
            let columns = (g * groupSize..<((g + 1) * groupSize)).filter { range.contains(Int(order[$0])) }
            if !columns.isEmpty { kept.append((g, columns)) }
        }
        let largest = kept.map(\.columns.count).max() ?? 0
        let vector = 128 / bits
        let rounded = (largest + vector - 1) / vector * vector
        let width = rounded <= groupSize ? rounded : (largest + perWord - 1) / perWord * perWord
        let words = kept.count * width / perWord
        // (new stored column, old stored column) of every kept input; the rest is padding.
        let moves = kept.enumerated().flatMap { j, group in group.columns.enumerated().map { (j * width + $0, $1) } }
        var newOrder = [Int32](repeating: -1, count: kept.count * width)
        for (stored, column) in moves { newOrder[stored] = order[column] - Int32(range.lowerBound) }
        var packed = [Int32](repeating: 0, count: outFeatures * words)
        let source = tensors[0].bytes.assumingMemoryBound(to: UInt32.self), mask = UInt32((1 << bits) - 1)
        for n in 0..<outFeatures {
            let (from, to) = (source + n * storedWords, n * words)
            for (stored, column) in moves {
                let q = (from[column / perWord] >> UInt32((column % perWord) * bits)) & mask
                packed[to + stored / perWord] |= Int32(bitPattern: q << UInt32((stored % perWord) * bits))
            }
        }
        let groups = kept.map(\.group)
        return HostLinearWeight(
            format: .packedInt(bits: bits, groupSize: width, permuted: true), outFeatures: outFeatures, inFeatures: range.count,
            tensors: [
                packed.withUnsafeBytes { HostTensor(shape: [outFeatures, words], dtype: .int32, copying: $0.baseAddress!) },
                tensors[1].gatherColumns(groups), tensors[2].gatherColumns(groups),
                newOrder.withUnsafeBytes { HostTensor(shape: [newOrder.count], dtype: .int32, copying: $0.baseAddress!) },
            ])
    }

    /// vLLM's rule for act-order weights: every rank's slice is a whole number of groups
    /// (`g_idx` may send its inputs to any group, but the sizes must match).
    private func requireActOrderBoundaries(_ range: Range<Int>, groupSize: Int) throws {
        guard range.count % groupSize == 0 else {
            throw ModelLoadError.invalidConfig(
                path: "config.json", field: "tensor_parallel_size",
                detail:
                    "a row-parallel slice \(range) of \(inFeatures) input features is not a whole number of groups of \(groupSize) inputs (group_size) of \(format) weights (g_idx)"
            )
        }
    }
}

extension HostTensor {
    /// Columns `indices` of a 2-D float32 tensor, in that order, copied.
    fileprivate func gatherColumns(_ indices: [Int]) -> HostTensor {
        let values = floats(), width = shape[1]
        var out = [Float](repeating: 0, count: shape[0] * indices.count)
        for r in 0..<shape[0] {
            for (j, c) in indices.enumerated() { out[r * indices.count + j] = values[r * width + c] }
        }
        return HostTensor(shape: [shape[0], indices.count], values: out)
    }
}
