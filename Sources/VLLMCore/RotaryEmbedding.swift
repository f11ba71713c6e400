import Foundation

/// The cos/sin table of rotary position embeddings, computed on the host once per model.
///
/// Arithmetic follows transformers in float32 (inverse frequencies, then `position * inv_freq`),
/// so that positions far into the context round the same way as the reference.
public enum RotaryEmbedding {
    /// Inverse frequencies for a rotary dimension of `headDim`, after scaling; `positions` is the
    /// longest sequence the table serves (LongRoPE takes its long factors when that is past the switch).
    public static func inverseFrequencies(headDim: Int, theta: Double, scaling: RopeScaling, positions: Int = 0) -> [Float] {
        let half = headDim / 2
        let base = Float(theta)
        var inv = (0..<half).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(headDim)) }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            inv = inv.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            let factor = Float(factor), low = Float(low), high = Float(high), original = Float(original)
            let lowWavelength = original / low
            let highWavelength = original / high
            inv = inv.map { f in
                let wavelength = Float(2 * Double.pi) / f
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / factor }
                let smooth = (original / wavelength - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        case .longrope(let short, let long, let original, _):
            // One table serves the whole run so that cached keys never need re-rotating: the long
            // factors when the engine's context goes past the switch (as transformers does for a
            // sequence that long), the short ones otherwise.
            let factors = positions > original ? long : short
            precondition(factors.count == half, "longrope factors: \(factors.count) values for rotary dimension \(headDim)")
            inv = (0..<half).map { i in 1 / (Float(factors[i]) * powf(base, Float(2 * i) / Float(headDim))) }
        }
        return inv
    }

    /// A `[positions, headDim]` table: each row holds `headDim / 2` cosines then as many sines.
    /// `headDim` is the rotary dimension: a table narrower than the heads turns only their leading
    /// values (partial rotary).
    public static func table(headDim: Int, theta: Double, scaling: RopeScaling, positions: Int) -> HostTensor {
        let inv = inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling, positions: positions)
        let half = headDim / 2
        var attentionFactor: Float = 1
        if case .longrope(_, _, _, let factor) = scaling { attentionFactor = Float(factor) }
        var values = [Float](repeating: 0, count: positions * headDim)
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Float(p) * inv[i]
                values[p * headDim + i] = Float(cos(Double(angle))) * attentionFactor
                values[p * headDim + half + i] = Float(sin(Double(angle))) * attentionFactor
            }
        }
        return HostTensor(shape: [positions, headDim], values: values)
    }
}
