/// Reads the packed-integer layouts of GPTQ, AWQ and compressed-tensors checkpoints into the one
/// layout of `WeightFormat.packedInt` (each output row's inputs packed low bits first, float32
/// scales and zero points per row and group), so that backends have one kernel for all three;
/// SqueezeLLM's indices go to the same packing with their tables (`WeightFormat.lookupTable`).
struct PackedIntRepacking {
    let bits: Int
    let outFeatures: Int
    let inFeatures: Int
    let groupSize: Int
    /// Where the error messages point.
    let path: String

    var mask: UInt32 { (1 << UInt32(bits)) - 1 }
    var perWord: Int { 32 / bits }
    var groups: Int { inFeatures / groupSize }

    /// Bits `index·bits ..< (index+1)·bits` of `word`.
    @inline(__always)
    func field(_ word: Int32, _ index: Int) -> UInt32 { (UInt32(bitPattern: word) >> UInt32(index * bits)) & mask }

    /// The packed layout from `value(k, n)` (input `order[k]` at column `k`), scales and zeros `[group, out]`.
    func repack(
        value: (Int, Int) -> UInt32, scale: (Int, Int) -> Float, zero: (Int, Int) -> Float, order: [Int32]?
    ) -> HostLinearWeight {
        var scales = [Float](repeating: 0, count: outFeatures * groups)
        var zeros = [Float](repeating: 0, count: outFeatures * groups)
        for n in 0..<outFeatures {
            for g in 0..<groups {
                scales[n * groups + g] = scale(g, n)
                zeros[n * groups + g] = zero(g, n)
            }
        }
        var tensors = [
            pack(value: value, order: order),
            HostTensor(shape: [outFeatures, groups], values: scales),
            HostTensor(shape: [outFeatures, groups], values: zeros),
        ]
        if let order { tensors.append(order.withUnsafeBytes { HostTensor(shape: [inFeatures], dtype: .int32, copying: $0.baseAddress!) }) }
        return HostLinearWeight(
            format: .packedInt(bits: bits, groupSize: groupSize, permuted: order != nil), outFeatures: outFeatures,
            inFeatures: inFeatures, tensors: tensors)
    }

    /// `packed [out, in/perWord]`: each row's values `value(k, n)` (input `order[k]` at column `k`), low bits first.
    func pack(value: (Int, Int) -> UInt32, order: [Int32]?) -> HostTensor {
        let wordsPerRow = inFeatures / perWord
        var packed = [Int32](repeating: 0, count: outFeatures * wordsPerRow)
        for n in 0..<outFeatures {
            for k in 0..<inFeatures {
                let source = order.map { Int($0[k]) } ?? k
                packed[n * wordsPerRow + k / perWord] |= Int32(bitPattern: value(source, n) << UInt32((k % perWord) * bits))
            }
        }
        return packed.withUnsafeBytes { HostTensor(shape: [outFeatures, wordsPerRow], dtype: .int32, copying: $0.baseAddress!) }
    }

    /// SqueezeLLM: `qweight [in/perWord, out]`, each word holding consecutive input rows low bits
    /// first (GPTQ's packing), of indices into `lookup_table [out, 2^bits]`.
    func squeezeLLM(qweight: HostTensor, table: HostTensor) -> HostLinearWeight {
        let q = qweight.bytes.assumingMemoryBound(to: Int32.self)
        return HostLinearWeight(
            format: .lookupTable(bits: bits), outFeatures: outFeatures, inFeatures: inFeatures,
            tensors: [
                pack(value: { k, n in field(q[(k / perWord) * outFeatures + n], k % perWord) }, order: nil),
                HostTensor(shape: [outFeatures, 1 << bits], values: table.floats()),
            ])
    }

    /// GPTQ: `qweight [in/perWord, out]`, `qzeros [groups, out/perWord]`, `scales [groups, out]`,
    /// `g_idx [in]` (the group of each input; act-order checkpoints shuffle it).
    func gptq(qweight: HostTensor, qzeros: HostTensor, scales: HostTensor, groupIndex: [Int32]?, zeroOffset: Int) throws -> HostLinearWeight
    {
        let q = qweight.bytes.assumingMemoryBound(to: Int32.self), z = qzeros.bytes.assumingMemoryBound(to: Int32.self)
        let s = scales.floats(), zeroWords = outFeatures / perWord
        let order = try actOrder(groupIndex)
        return repack(
            value: { k, n in field(q[(k / perWord) * outFeatures + n], k % perWord) },
            scale: { g, n in s[g * outFeatures + n] },
            zero: { g, n in Float(Int(field(z[g * zeroWords + n / perWord], n % perWord)) + zeroOffset) },
            order: order)
    }

    /// The input order that makes every group contiguous, nil when `g_idx` is already in order.
    /// A `g_idx` whose groups are not all `groupSize` inputs is refused: the kernels need equal groups.
    func actOrder(_ groupIndex: [Int32]?) throws -> [Int32]? {
        guard let groupIndex else { return nil }
        let inOrder = groupIndex.indices.allSatisfy { Int(groupIndex[$0]) == $0 / groupSize }
        if inOrder { return nil }
        let order = groupIndex.indices.sorted { (groupIndex[$0], $0) < (groupIndex[$1], $1) }
        guard order.indices.allSatisfy({ Int(groupIndex[order[$0]]) == $0 / groupSize }) else {
            throw ModelLoadError.invalidConfig(
                path: path, field: "g_idx", detail: "groups are not all \(groupSize) inputs; not supported")
        }
        return order.map { Int32($0) }
    }

    /// AWQ's nibble of output column `n % 8` in a word: AutoAWQ packs columns 0 2 4 6 1 3 5 7.
    static let awqNibble = [0, 4, 1, 5, 2, 6, 3, 7]

    /// AWQ: `qweight [in, out/8]`, `qzeros [groups, out/8]`, `scales [groups, out]`.
    func awq(qweight: HostTensor, qzeros: HostTensor, scales: HostTensor) -> HostLinearWeight {
        let q = qweight.bytes.assumingMemoryBound(to: Int32.self), z = qzeros.bytes.assumingMemoryBound(to: Int32.self)
        let s = scales.floats(), words = outFeatures / 8
        return repack(
            value: { k, n in field(q[k * words + n / 8], Self.awqNibble[n % 8]) },
            scale: { g, n in s[g * outFeatures + n] },
            zero: { g, n in Float(field(z[g * words + n / 8], Self.awqNibble[n % 8])) },
            order: nil)
    }

    /// compressed-tensors `pack-quantized`: `weight_packed [out, in/8]` of int4 values stored +8,
    /// `weight_scale [out, groups]`.
    func compressedTensors(packed: HostTensor, scales: HostTensor) -> HostLinearWeight {
        let q = packed.bytes.assumingMemoryBound(to: Int32.self), s = scales.floats(), words = inFeatures / perWord
        return repack(
            value: { k, n in field(q[n * words + k / perWord], k % perWord) },
            scale: { g, n in s[n * groups + g] },
            zero: { _, _ in Float(1 << (bits - 1)) },
            order: nil)
    }
}
