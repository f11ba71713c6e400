import VLLMCore

/// Random weights in the quantized formats and their float64 matrices, read straight from each
/// format's definition (`WeightFormat`): the references of `vllm-dev kernel-check` and of the
/// tensor-parallel slicing tests.
public enum QuantizedReference {
    /// Random codes and scales in `format` (a group or block wider than the row is one per
    /// channel). Act-order weights get a random `order` that keeps each stored group's inputs
    /// spread over the whole row, as GPTQ's act-order does; zero points are random codes.
    public static func randomWeight(
        _ format: WeightFormat, out: Int, inFeatures: Int, using rng: inout SplitMixRandom
    ) -> HostLinearWeight {
        switch format {
        case .packedInt(let bits, let groupSize, let permuted):
            let group = min(groupSize, inFeatures), groups = inFeatures / group
            var tensors = [
                randomWords(out: out, columns: inFeatures, bits: bits, using: &rng),
                HostTensor(shape: [out, groups], values: (0..<(out * groups)).map { _ in Float.random(in: 0.001...0.01, using: &rng) }),
                HostTensor(
                    shape: [out, groups], values: (0..<(out * groups)).map { _ in Float(Int.random(in: 0..<(1 << bits), using: &rng)) }),
            ]
            if permuted {
                let order = (0..<Int32(inFeatures)).shuffled(using: &rng)
                tensors.append(order.withUnsafeBytes { HostTensor(shape: [inFeatures], dtype: .int32, copying: $0.baseAddress!) })
            }
            return HostLinearWeight(
                format: .packedInt(bits: bits, groupSize: group, permuted: permuted), outFeatures: out, inFeatures: inFeatures,
                tensors: tensors)
        case .fp8(let blockColumns):
            let block = min(blockColumns, inFeatures), blocks = (inFeatures + block - 1) / block
            let codes = (0..<(out * inFeatures)).map { _ -> UInt8 in
                let c = UInt8.random(in: 0...255, using: &rng)
                return c & 0x7F == 0x7F ? c ^ 1 : c
            }
            return HostLinearWeight(
                format: .fp8(blockColumns: block), outFeatures: out, inFeatures: inFeatures,
                tensors: [
                    codes.withUnsafeBytes { HostTensor(shape: [out, inFeatures], dtype: .float8E4M3, copying: $0.baseAddress!) },
                    HostTensor(shape: [out, blocks], values: (0..<(out * blocks)).map { _ in Float.random(in: 1e-4...1e-3, using: &rng) }),
                ])
        case .lookupTable(let bits):
            let levels = 1 << bits
            return HostLinearWeight(
                format: format, outFeatures: out, inFeatures: inFeatures,
                tensors: [
                    randomWords(out: out, columns: inFeatures, bits: bits, using: &rng),
                    HostTensor(
                        shape: [out, levels], values: (0..<(out * levels)).map { _ in Float.random(in: -0.05...0.05, using: &rng) }),
                ])
        case .dense, .ggml, .stacked:
            preconditionFailure("\(format) is not a quantized format")
        }
    }

    /// `[out, columns·bits/32]` random int32 words.
    private static func randomWords(out: Int, columns: Int, bits: Int, using rng: inout SplitMixRandom) -> HostTensor {
        let words = (0..<(out * columns * bits / 32)).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        return words.withUnsafeBytes { HostTensor(shape: [out, columns * bits / 32], dtype: .int32, copying: $0.baseAddress!) }
    }

    /// The `[out, in]` matrix in float64, in input order. Packed integers may store more columns
    /// than inputs (a padded act-order shard): padding columns (order -1) are skipped.
    public static func dequantized(_ w: HostLinearWeight) -> [Double] {
        let (out, k) = (w.outFeatures, w.inFeatures)
        var matrix = [Double](repeating: 0, count: out * k)
        switch w.format {
        case .packedInt(let bits, let groupSize, let permuted):
            let words = w.tensors[0].bytes.assumingMemoryBound(to: UInt32.self)
            let (scales, zeros) = (w.tensors[1].floats(), w.tensors[2].floats())
            let stored = w.tensors[0].shape[1] * 32 / bits, groups = stored / groupSize
            let order =
                permuted ? Array(UnsafeBufferPointer(start: w.tensors[3].bytes.assumingMemoryBound(to: Int32.self), count: stored)) : nil
            for n in 0..<out {
                for j in 0..<stored {
                    let column = order.map { Int($0[j]) } ?? j
                    guard column >= 0 else { continue }
                    let g = n * groups + j / groupSize
                    matrix[n * k + column] =
                        (Double(value(words, row: n, column: j, stored: stored, bits: bits)) - Double(zeros[g])) * Double(scales[g])
                }
            }
        case .fp8(let blockColumns):
            let codes = w.tensors[0].bytes.assumingMemoryBound(to: UInt8.self)
            let scales = w.tensors[1].floats()
            let blocks = (k + blockColumns - 1) / blockColumns
            for n in 0..<out {
                for j in 0..<k {
                    matrix[n * k + j] =
                        Double(FloatBits.float8E4M3ToFloat(codes[n * k + j])) * Double(scales[n * blocks + j / blockColumns])
                }
            }
        case .lookupTable(let bits):
            let words = w.tensors[0].bytes.assumingMemoryBound(to: UInt32.self)
            let table = w.tensors[1].floats(), levels = 1 << bits
            for n in 0..<out {
                for j in 0..<k {
                    matrix[n * k + j] = Double(table[n * levels + Int(value(words, row: n, column: j, stored: k, bits: bits))])
                }
            }
        case .dense, .ggml, .stacked:
            preconditionFailure("\(w.format) is not a quantized format")
        }
        return matrix
    }

    /// The `bits`-bit value of `column` in `row` of a matrix packed low bits first into words.
    private static func value(_ words: UnsafePointer<UInt32>, row: Int, column: Int, stored: Int, bits: Int) -> UInt32 {
        let perWord = 32 / bits
        return (words[row * (stored / perWord) + column / perWord] >> UInt32((column % perWord) * bits)) & UInt32((1 << bits) - 1)
    }
}
