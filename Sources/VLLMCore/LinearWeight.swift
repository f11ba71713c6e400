/// How the matrix of a linear layer is stored. Models never look at it: they hand the weight to
/// `Backend.linear(_:_:bias:)`, and each backend multiplies the formats it supports, so that a new
/// format (FP8, int4, GGUF blocks) changes loaders and backends but no model file.
public enum WeightFormat: Sendable, Hashable, CustomStringConvertible {
    /// A plain `[out, in]` matrix, kept in the backend's weight dtype.
    case dense

    public var description: String {
        switch self {
        case .dense: "dense"
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

    /// A plain `[out, in]` matrix.
    public static func dense(_ matrix: HostTensor) -> HostLinearWeight {
        precondition(matrix.shape.count == 2, "a dense linear weight is a matrix, got shape \(matrix.shape)")
        return HostLinearWeight(format: .dense, outFeatures: matrix.shape[0], inFeatures: matrix.shape[1], tensors: [matrix])
    }

    /// Output features `range` only (a column-parallel shard).
    public func rows(_ range: Range<Int>) throws -> HostLinearWeight {
        guard range != 0..<outFeatures else { return self }
        switch format {
        case .dense: return .dense(tensors[0].rows(range))
        }
    }

    /// Input features `range` only (a row-parallel shard).
    public func columns(_ range: Range<Int>) throws -> HostLinearWeight {
        guard range != 0..<inFeatures else { return self }
        switch format {
        case .dense: return .dense(tensors[0].columns(range))
        }
    }
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
