/// Whether a CUDA device can be used on this machine (libcuda loads and reports a device).
public enum CUDAAvailability {
    /// nil when CUDA is usable, else why not.
    public static func problem() -> String? { "the CUDA backend is not built yet" }
}
