/// How the matrix of a linear layer is stored. Models never look at it: they hand the weight to
/// `Backend.linear(_:_:bias:)`, and each backend multiplies the formats it supports, so that a new
/// format (FP8, int4, GGUF blocks) changes loaders and backends but no model file.
public enum WeightFormat: Sendable, Hashable, CustomStringConvertible {
    /// A plain `[out, in]` matrix, kept in the backend's weight dtype.
    case dense
    /// `bits`-bit integers (4 or 8), every output row's inputs packed low bits first into int32
    /// words, with float32 scales and zero points per row and group of `groupSize` inputs:
    /// `w = (q - zero) · scale`. Tensors: `packed [out, in·bits/32]` int32, `scales [out, groups]`,
    /// `zeros [out, groups]`, and when `permuted` an int32 `order [in]`: input `order[k]` is
    /// stored at column `k` (GPTQ act-order, so that every group is contiguous). A row-parallel
    /// shard of an act-order weight may store more columns than it has inputs: `packed`, `scales`,
    /// `zeros` and `order` then cover the stored columns, and padding columns have order -1 (they
    /// multiply nothing). AWQ, GPTQ and compressed-tensors int4 checkpoints are repacked to this at load.
    case packedInt(bits: Int, groupSize: Int, permuted: Bool)
    /// float8 e4m3 codes `[out, in]` and float32 `scales [out, blocks]`, one per row and block of
    /// `blockColumns` inputs: `w = fp8 · scale`. Per-tensor, per-channel and 128×128-block
    /// checkpoints are all read into this.
    case fp8(blockColumns: Int)
    /// `bits`-bit indices (4) into a table of `2^bits` float32 values per output row, packed like
    /// `packedInt` (each row's inputs low bits first in int32 words): `w[n, k] = table[n, q[n, k]]`.
    /// Tensors: `packed [out, in·bits/32]` int32, `table [out, 2^bits]`. SqueezeLLM checkpoints
    /// (dense-only non-uniform 4-bit) are repacked to this at load.
    case lookupTable(bits: Int)
    /// Rows of ggml blocks as a GGUF file stores them (`GGMLType`): one `[out, rowBytes]` tensor
    /// of `uint8`, each row `in` values of the type.
    case ggml(GGMLType)
    /// Parts of different formats stacked along the output dimension, as a backend keeps the fused
    /// q/k/v of a GGUF file that stores v in another type: tensor i holds part i, in format i.
    /// Only backends make it; checkpoints never hold it.
    indirect case stacked([WeightFormat])

    /// The format with its parameters, for error messages and logs.
    public var description: String {
        switch self {
        case .dense: "dense"
        case .packedInt(let bits, let groupSize, let permuted):
            "int\(bits) (group \(groupSize)\(permuted ? ", act-order" : ""))"
        case .fp8(let blockColumns): "fp8 e4m3 (scale blocks of \(blockColumns) inputs)"
        case .lookupTable(let bits): "\(bits)-bit lookup table"
        case .ggml(let type): "GGUF \(type)"
        case .stacked(let formats): formats.map(\.description).joined(separator: " + ")
        }
    }
}

/// A linear layer's weight as a checkpoint holds it, before it goes to a backend: its format and
/// the tensors that format stores.
public struct HostLinearWeight: Sendable {
    /// How `tensors` encode the matrix.
    public var format: WeightFormat
    /// Rows of the matrix (output features).
    public var outFeatures: Int
    /// Columns of the matrix (input features).
    public var inFeatures: Int
    /// The tensors of the format, in the format's order (dense: the `[out, in]` matrix).
    public var tensors: [HostTensor]

    /// A weight of `format` made of its tensors (in the format's order).
    public init(format: WeightFormat, outFeatures: Int, inFeatures: Int, tensors: [HostTensor]) {
        self.format = format
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.tensors = tensors
    }

    /// A plain `[out, in]` matrix.
    public static func dense(_ matrix: HostTensor) -> HostLinearWeight {
        precondition(matrix.shape.count == 2, "a dense linear weight is a matrix, got shape \(matrix.shape)")
        return HostLinearWeight(format: .dense, outFeatures: matrix.shape[0], inFeatures: matrix.shape[1], tensors: [matrix])
    }

    /// Output features `range` only (a column-parallel shard). Every quantized format keeps its
    /// scales per output row (128×128 FP8 blocks and AWQ's packed output columns are spread to
    /// rows at load), so any range of rows is exact.
    public func rows(_ range: Range<Int>) throws -> HostLinearWeight {
        guard range != 0..<outFeatures else { return self }
        switch format {
        case .dense: return .dense(tensors[0].rows(range))
        case .packedInt, .fp8, .lookupTable:
            return HostLinearWeight(
                format: format, outFeatures: range.count, inFeatures: inFeatures,
                tensors: tensors.enumerated().map { i, t in i == 3 ? t : t.rows(range) })
        case .ggml:
            return HostLinearWeight(format: format, outFeatures: range.count, inFeatures: inFeatures, tensors: [tensors[0].rows(range)])
        case .stacked: preconditionFailure("stacked weights are made by backends, never sliced")
        }
    }

    /// Input features `range` only (a row-parallel shard). Quantized slices must fall on whole
    /// packed words, groups and scale blocks (`quantizedColumns`); throws
    /// `ModelLoadError.invalidConfig` naming what the slice cuts.
    public func columns(_ range: Range<Int>) throws -> HostLinearWeight {
        guard range != 0..<inFeatures else { return self }
        switch format {
        case .dense: return .dense(tensors[0].columns(range))
        case .packedInt, .fp8, .lookupTable: return try quantizedColumns(range)
        case .ggml(let type):
            // Blocks run along the input features, so a row-parallel slice must start and end on a block.
            guard range.lowerBound % type.blockSize == 0, range.upperBound % type.blockSize == 0 else {
                throw ModelLoadError.invalidConfig(
                    path: "GGUF weights", field: "tensor_parallel_size",
                    detail: "the slice \(range) of input features does not fall on \(type) blocks of \(type.blockSize)")
            }
            let bytes = type.rowBytes(range.lowerBound)..<type.rowBytes(range.upperBound)
            return HostLinearWeight(format: format, outFeatures: outFeatures, inFeatures: range.count, tensors: [tensors[0].columns(bytes)])
        case .stacked: preconditionFailure("stacked weights are made by backends, never sliced")
        }
    }

    /// Bytes the format's tensors take.
    public var byteCount: Int { tensors.reduce(0) { $0 + $1.count * $1.dtype.byteSize } }
}

/// A linear layer's weight in a backend's memory: the format and the tensors it keeps.
public struct LinearWeight<Tensor> {
    /// How `tensors` encode the matrix.
    public let format: WeightFormat
    /// Rows of the matrix (output features).
    public let outFeatures: Int
    /// Columns of the matrix (input features).
    public let inFeatures: Int
    /// The format's tensors on the backend (dense: the `[out, in]` matrix).
    public let tensors: [Tensor]

    /// Wraps tensors a backend made for `format`.
    public init(format: WeightFormat, outFeatures: Int, inFeatures: Int, tensors: [Tensor]) {
        self.format = format
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.tensors = tensors
    }
}

extension WeightStore {
    /// A dense `prefix.weight` matrix: what an unquantized checkpoint stores.
    public func linear(_ prefix: String, out: Int, in inFeatures: Int) throws -> HostLinearWeight {
        .dense(try tensor(prefix + ".weight", shape: [out, inFeatures]))
    }
}
