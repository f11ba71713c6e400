import VLLMCore

/// Recorded steps (CUDA graphs): one executable graph per model and uniform step shape (decode
/// steps, and steps verifying the same number of drafts for every sequence). A graph bakes
/// in every device address its kernels touch, so each recording keeps the addresses it was made
/// with; a replay happens only when the step's inputs and activation memory sit at the same places.
final class CUDAGraphRecorder {
    /// The addresses a recording depends on: the step's input arrays, the activation ring and the
    /// step arena's position after the inputs.
    struct Addresses: Equatable {
        var inputs: [CUdeviceptr]
        var ring: CUdeviceptr, ringSize: Int
        var arena: DeviceArena.Mark
    }

    /// One recorded step and what a replay must restore.
    struct Recording {
        let graph: CUhandle
        let addresses: Addresses
        let outputs: [CUDATensor]
        let ringEnd: Int
        let arenaEnd: DeviceArena.Mark
    }

    private let driver: CUDADriver
    private var recordings: [RecordedStep: Recording] = [:]
    /// Why steps are not recorded (the driver lacks the graph API, or a recording failed); nil while they are.
    private(set) var disabledReason: String?

    init(driver: CUDADriver) {
        self.driver = driver
        if driver.cuStreamBeginCapture == nil || driver.cuStreamEndCapture == nil || driver.cuGraphInstantiate == nil
            || driver.cuGraphLaunch == nil
        {
            disabledReason = "the CUDA driver has no graph API"
        }
    }

    /// Number of recordings held.
    var count: Int { recordings.count }

    /// The recording of `key` if it was made at `addresses`; a stale one (memory moved) is dropped.
    func recording(_ key: RecordedStep, at addresses: Addresses) -> Recording? {
        guard let recording = recordings[key] else { return nil }
        if recording.addresses == addresses { return recording }
        destroy(key)
        return nil
    }

    /// Queues a replay of `recording` on `stream`.
    func launch(_ recording: Recording, stream: CUhandle) {
        driver.must(driver.cuGraphLaunch!(recording.graph, stream), "cuGraphLaunch")
    }

    /// Records the device work that `body` queues on `stream` (nothing runs) and keeps it as `key`.
    func record(
        _ key: RecordedStep, addresses: Addresses, stream: CUhandle,
        _ body: () -> (outputs: [CUDATensor], ringEnd: Int, arenaEnd: DeviceArena.Mark)
    ) throws -> Recording {
        // Relaxed: the driver must not refuse calls of other threads or libraries (cuBLASLt) meanwhile.
        let relaxedMode: Int32 = 2
        try driver.check(driver.cuStreamBeginCapture!(stream, relaxedMode), "cuStreamBeginCapture")
        let result = body()
        var graph: CUhandle?
        let ended = driver.cuStreamEndCapture!(stream, &graph)
        defer { if let graph { _ = driver.cuGraphDestroy?(graph) } }
        try driver.check(ended, "cuStreamEndCapture")
        var executable: CUhandle?
        try driver.check(driver.cuGraphInstantiate!(&executable, graph!, 0), "cuGraphInstantiate")
        let recording = Recording(
            graph: executable!, addresses: addresses, outputs: result.outputs, ringEnd: result.ringEnd, arenaEnd: result.arenaEnd)
        recordings[key] = recording
        return recording
    }

    /// Stops recording for good and frees the recordings; steps run eagerly from now on.
    func disable(_ reason: String) {
        disabledReason = reason
        for key in Array(recordings.keys) { destroy(key) }
    }

    /// Frees the recording of `key`, if any.
    func destroy(_ key: RecordedStep) {
        if let recording = recordings.removeValue(forKey: key) { _ = driver.cuGraphExecDestroy?(recording.graph) }
    }

    deinit { for key in Array(recordings.keys) { destroy(key) } }
}
