/// Launches with programmatic stream serialization (Hopper's programmatic dependent launch): the
/// kernel may start while the previous kernel of the stream still runs, and waits for it itself
/// (`PDL_ENTER` in common.cuh). That hides each launch's latency behind the kernel before it, and
/// lets the matrix-vector kernel read its first weights early; recorded graphs keep the overlap.
final class ProgrammaticLaunch {
    private let driver: CUDADriver
    private let launchEx:
        @convention(c) (
            UnsafeRawPointer, CUhandle, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        ) -> CUresult
    /// `CUlaunchConfig` (56 bytes) followed by one `CUlaunchAttribute` (72 bytes).
    private let memory = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 16)
    private static let attributeProgrammaticStreamSerialization: UInt32 = 6

    /// Nil where the driver cannot launch with attributes.
    init?(driver: CUDADriver) {
        guard let launchEx = driver.cuLaunchKernelEx else { return nil }
        self.driver = driver
        self.launchEx = launchEx
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
        let attribute = memory + 56
        attribute.storeBytes(of: Self.attributeProgrammaticStreamSerialization, as: UInt32.self)
        attribute.storeBytes(of: Int32(1), toByteOffset: 8, as: Int32.self)
        memory.storeBytes(of: attribute, toByteOffset: 40, as: UnsafeMutableRawPointer.self)
        memory.storeBytes(of: UInt32(1), toByteOffset: 48, as: UInt32.self)
    }

    deinit { memory.deallocate() }

    /// Queues `function` on `stream`; the driver's result.
    func launch(
        _ function: CUhandle, grid: (Int, Int, Int), block: Int, shared: Int, stream: CUhandle,
        arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> CUresult {
        for (i, value) in [grid.0, grid.1, grid.2, block, 1, 1, shared].enumerated() {
            memory.storeBytes(of: UInt32(value), toByteOffset: 4 * i, as: UInt32.self)
        }
        memory.storeBytes(of: stream, toByteOffset: 32, as: CUhandle.self)
        return launchEx(memory, function, arguments, nil)
    }
}
