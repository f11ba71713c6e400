// swift-tools-version: 6.0
import PackageDescription

// The CPU kernels are the hot path of the CPU backend: they are optimised even in debug builds
// (so that `swift test` stays quick) and use AVX2/FMA on x86-64, which every machine we run on has.
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", "haswell"])]
#else
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
#endif

let package = Package(
    name: "swift-vllm",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SwiftVLLM", targets: ["VLLMEngine"]),
        .library(name: "VLLMTokenizers", targets: ["VLLMTokenizers"]),
        .executable(name: "vllm", targets: ["vllm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Hugging Face tokenizer.json, incremental detokenizer and Jinja chat templates; no engine dependency.
        .target(name: "VLLMTokenizers", swiftSettings: [.unsafeFlags(["-O"])]),
        // Model folders, safetensors, configs, the backend protocol and the model definitions.
        .target(name: "VLLMCore"),
        // Small C helpers for what Swift cannot reach (malloc tuning).
        .target(name: "CVLLMSupport"),
        // The CPU backend: Swift SIMD and threads.
        .target(name: "VLLMCPU", dependencies: ["VLLMCore", "CVLLMSupport"], swiftSettings: kernelFlags),
        // The CUDA backend: driver API, NVRTC and cuBLASLt loaded with dlopen at run time; kernels
        // embedded as source and compiled for the GPU that is present.
        .target(name: "VLLMCUDA", dependencies: ["VLLMCore"], resources: [.embedInCode("Kernels/kernels.cu")]),
        // The engine: KV cache manager, scheduler, model runner, sampler, offline API.
        .target(name: "VLLMEngine", dependencies: ["VLLMCore", "VLLMCPU", "VLLMCUDA", "VLLMTokenizers"]),
        .executableTarget(
            name: "vllm",
            dependencies: [
                "VLLMEngine", "VLLMTokenizers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "VLLMTokenizersTests", dependencies: ["VLLMTokenizers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMCoreTests", dependencies: ["VLLMCore"]),
        .testTarget(name: "VLLMCPUTests", dependencies: ["VLLMCore", "VLLMCPU"]),
        .testTarget(name: "VLLMCUDATests", dependencies: ["VLLMCore", "VLLMCUDA"]),
        .testTarget(name: "VLLMEngineTests", dependencies: ["VLLMEngine", "VLLMCore", "VLLMCPU"]),
    ]
)
