/// The values a sampling parameter may take, in one place: a request's `SamplingParams` and a
/// model's generation_config.json defaults are checked against the same ranges (each names its
/// own source in its error).
public enum SamplingRanges {
    /// `temperature`: 0 (greedy) or more, finite.
    public static func temperature(_ v: Double) -> Bool { v >= 0 && v.isFinite }
    /// `top_p`: in (0, 1].
    public static func topP(_ v: Double) -> Bool { v > 0 && v <= 1 }
    /// `top_k`: -1 or 0 (off), or a positive count.
    public static func topK(_ v: Int) -> Bool { v >= -1 }
    /// `min_p`: in [0, 1].
    public static func minP(_ v: Double) -> Bool { v >= 0 && v <= 1 }
    /// `repetition_penalty`: positive, finite.
    public static func repetitionPenalty(_ v: Double) -> Bool { v > 0 && v.isFinite }
}
