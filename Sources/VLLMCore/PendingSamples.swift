/// The sampled tokens of a launched step, which may still be computing: `wait()` blocks until they
/// are on the host (once; later calls return the same samples). A backend that computes at launch
/// hands back samples that are ready at once.
public final class PendingSamples {
    private var samples: [DeviceSample]?
    private var fetch: (() -> [DeviceSample])?

    /// Samples that `fetch` waits for and reads back.
    public init(_ fetch: @escaping () -> [DeviceSample]) {
        self.fetch = fetch
    }

    /// Samples already on the host.
    public init(ready samples: [DeviceSample]) {
        self.samples = samples
    }

    /// Whether the samples are on the host (`wait()` returns without blocking).
    public var isReady: Bool { samples != nil }

    /// The samples, one per row, once the device is done with them.
    public func wait() -> [DeviceSample] {
        if let samples { return samples }
        let fetched = fetch!()
        samples = fetched
        fetch = nil
        return fetched
    }

    /// These samples changed by `transform` when they come (ready at once if these are).
    public func map(_ transform: @escaping ([DeviceSample]) -> [DeviceSample]) -> PendingSamples {
        if let samples { return PendingSamples(ready: transform(samples)) }
        return PendingSamples { transform(self.wait()) }
    }
}
