/// A device address.
public typealias CUdeviceptr = UInt64
typealias CUresult = Int32
typealias CUhandle = OpaquePointer

/// The CUDA driver API (`libcuda.so.1`), loaded at run time. One instance per process; every
/// call checks its result and throws (or stops with the call's name on the step path).
final class CUDADriver: @unchecked Sendable {
    let library: DynamicLibrary

    typealias IntOut = @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    let cuInit: @convention(c) (UInt32) -> CUresult
    let cuDriverGetVersion: IntOut
    let cuDeviceGetCount: IntOut
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CUresult
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CUresult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CUresult
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<CUhandle?>, Int32) -> CUresult
    let cuCtxSetCurrent: @convention(c) (CUhandle?) -> CUresult
    let cuCtxSynchronize: @convention(c) () -> CUresult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult
    let cuMemFree: @convention(c) (CUdeviceptr) -> CUresult
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    let cuMemHostAlloc: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> CUresult
    let cuMemFreeHost: @convention(c) (UnsafeMutableRawPointer) -> CUresult
    let cuMemcpyHtoDAsync: @convention(c) (CUdeviceptr, UnsafeRawPointer, Int, CUhandle?) -> CUresult
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, CUdeviceptr, Int, CUhandle?) -> CUresult
    let cuMemcpyDtoDAsync: @convention(c) (CUdeviceptr, CUdeviceptr, Int, CUhandle?) -> CUresult
    let cuMemsetD8Async: @convention(c) (CUdeviceptr, UInt8, Int, CUhandle?) -> CUresult
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<CUhandle?>, UnsafeRawPointer) -> CUresult
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<CUhandle?>, CUhandle, UnsafePointer<CChar>) -> CUresult
    let cuFuncSetAttribute: @convention(c) (CUhandle, Int32, Int32) -> CUresult
    let cuLaunchKernel:
        @convention(c) (
            CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle?,
            UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        ) -> CUresult
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<CUhandle?>, UInt32) -> CUresult
    let cuStreamSynchronize: @convention(c) (CUhandle?) -> CUresult
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<CUhandle?>, UInt32) -> CUresult
    let cuEventRecord: @convention(c) (CUhandle, CUhandle?) -> CUresult
    let cuEventSynchronize: @convention(c) (CUhandle) -> CUresult
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, CUhandle, CUhandle) -> CUresult
    let cuEventDestroy: (@convention(c) (CUhandle) -> CUresult)?
    let cuGetErrorString: @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult
    // CUDA graphs: optional so that an old driver still runs eagerly.
    let cuStreamBeginCapture: (@convention(c) (CUhandle?, Int32) -> CUresult)?
    let cuStreamEndCapture: (@convention(c) (CUhandle?, UnsafeMutablePointer<CUhandle?>) -> CUresult)?
    let cuGraphInstantiate: (@convention(c) (UnsafeMutablePointer<CUhandle?>, CUhandle, UInt64) -> CUresult)?
    let cuGraphLaunch: (@convention(c) (CUhandle, CUhandle?) -> CUresult)?
    let cuGraphDestroy: (@convention(c) (CUhandle) -> CUresult)?
    let cuGraphExecDestroy: (@convention(c) (CUhandle) -> CUresult)?
    /// `cuLaunchKernelEx(config, function, parameters, extra)`, for launch attributes (CUDA 12+).
    let cuLaunchKernelEx:
        (
            @convention(c) (
                UnsafeRawPointer, CUhandle, UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
            ) -> CUresult
        )?

    /// The process's driver, loaded once; the error says what is missing.
    static let shared: Result<CUDADriver, Error> = Result { try CUDADriver() }

    private init() throws {
        let lib = try DynamicLibrary(["libcuda.so.1", "libcuda.so"])
        library = lib
        cuInit = try lib.function("cuInit")
        cuDriverGetVersion = try lib.function("cuDriverGetVersion")
        cuDeviceGetCount = try lib.function("cuDeviceGetCount")
        cuDeviceGet = try lib.function("cuDeviceGet")
        cuDeviceGetAttribute = try lib.function("cuDeviceGetAttribute")
        cuDeviceGetName = try lib.function("cuDeviceGetName")
        cuDevicePrimaryCtxRetain = try lib.function("cuDevicePrimaryCtxRetain")
        cuCtxSetCurrent = try lib.function("cuCtxSetCurrent")
        cuCtxSynchronize = try lib.function("cuCtxSynchronize")
        cuMemAlloc = try lib.function("cuMemAlloc_v2")
        cuMemFree = try lib.function("cuMemFree_v2")
        cuMemGetInfo = try lib.function("cuMemGetInfo_v2")
        cuMemHostAlloc = try lib.function("cuMemHostAlloc")
        cuMemFreeHost = try lib.function("cuMemFreeHost")
        cuMemcpyHtoDAsync = try lib.function("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try lib.function("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try lib.function("cuMemcpyDtoDAsync_v2")
        cuMemsetD8Async = try lib.function("cuMemsetD8Async")
        cuModuleLoadData = try lib.function("cuModuleLoadData")
        cuModuleGetFunction = try lib.function("cuModuleGetFunction")
        cuFuncSetAttribute = try lib.function("cuFuncSetAttribute")
        cuLaunchKernel = try lib.function("cuLaunchKernel")
        cuStreamCreate = try lib.function("cuStreamCreate")
        cuStreamSynchronize = try lib.function("cuStreamSynchronize")
        cuEventCreate = try lib.function("cuEventCreate")
        cuEventRecord = try lib.function("cuEventRecord")
        cuEventSynchronize = try lib.function("cuEventSynchronize")
        if let v2: @convention(c) (UnsafeMutablePointer<Float>, CUhandle, CUhandle) -> CUresult = lib.optionalFunction(
            "cuEventElapsedTime_v2")
        {
            cuEventElapsedTime = v2
        } else {
            cuEventElapsedTime = try lib.function("cuEventElapsedTime")
        }
        cuGetErrorString = try lib.function("cuGetErrorString")
        cuEventDestroy = lib.optionalFunction("cuEventDestroy_v2")
        cuStreamBeginCapture = lib.optionalFunction("cuStreamBeginCapture_v2")
        cuStreamEndCapture = lib.optionalFunction("cuStreamEndCapture")
        cuGraphInstantiate = lib.optionalFunction("cuGraphInstantiateWithFlags")
        cuGraphLaunch = lib.optionalFunction("cuGraphLaunch")
        cuGraphDestroy = lib.optionalFunction("cuGraphDestroy")
        cuGraphExecDestroy = lib.optionalFunction("cuGraphExecDestroy")
        cuLaunchKernelEx = lib.optionalFunction("cuLaunchKernelEx")
    }

    /// Throws a `CUDAError.driver` naming `call` unless `result` is success.
    func check(_ result: CUresult, _ call: @autoclosure () -> String) throws {
        guard result != 0 else { return }
        var text: UnsafePointer<CChar>?
        _ = cuGetErrorString(result, &text)
        throw CUDAError.driver(call: call(), code: result, message: text.map { String(cString: $0) } ?? "unknown error")
    }

    /// For the step path, where the Backend protocol cannot throw: a failed launch or copy there is
    /// a bug or a dead device, and continuing would return garbage.
    func must(_ result: CUresult, _ call: @autoclosure () -> String) {
        do { try check(result, call()) } catch { fatalError("\(error)") }
    }

    /// The driver's CUDA version as major * 1000 + minor * 10 (e.g. 13000).
    func version() throws -> Int {
        var v: Int32 = 0
        try check(cuDriverGetVersion(&v), "cuDriverGetVersion")
        return Int(v)
    }
}

extension CUDADriver {
    static let attributeComputeCapabilityMajor: Int32 = 75
    static let attributeComputeCapabilityMinor: Int32 = 76
    static let attributeMultiprocessorCount: Int32 = 16
    static let functionAttributeMaxDynamicSharedBytes: Int32 = 8
    static let functionAttributePreferredSharedCarveout: Int32 = 9
    static let hostAllocPortable: UInt32 = 1
}
