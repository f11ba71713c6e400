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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        .target(name: "VLLMCUDA", dependencies: ["VLLMCore"], resources: [.embedInCode("Kernels/kernels.cu"), .embedInCode("Kernels/sampling.cu"), .embedInCode("Kernels/flash_prefill.cu")]),
        // The engine: KV cache manager, scheduler, model runner, sampler, offline API.
        .target(name: "VLLMEngine", dependencies: ["VLLMCore", "VLLMCPU", "VLLMCUDA", "VLLMTokenizers"]),
        // The OpenAI-compatible HTTP server, its metrics, and the client side of the serving benchmark.
        .target(
            name: "VLLMServer",
            dependencies: [
                "VLLMEngine", "VLLMTokenizers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "vllm",
            dependencies: [
                "VLLMEngine", "VLLMTokenizers", "VLLMServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "VLLMTokenizersTests", dependencies: ["VLLMTokenizers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMCoreTests", dependencies: ["VLLMCore"]),
        .testTarget(name: "VLLMCPUTests", dependencies: ["VLLMCore", "VLLMCPU"]),
        .testTarget(name: "VLLMCUDATests", dependencies: ["VLLMCore", "VLLMCUDA"]),
        .testTarget(name: "VLLMEngineTests", dependencies: ["VLLMEngine", "VLLMCore", "VLLMCPU"]),
        .testTarget(
            name: "VLLMServerTests",
            dependencies: [
                "VLLMServer", "VLLMEngine",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]),
    ]
)
