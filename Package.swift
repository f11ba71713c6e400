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
        .library(name: "SwiftVLLM", targets: ["SwiftVLLM"]),
        .library(name: "VLLMTokenizers", targets: ["VLLMTokenizers"]),
        .executable(name: "vllm", targets: ["vllm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // Hugging Face tokenizer.json, incremental detokenizer and Jinja chat templates; no engine dependency.
        .target(name: "VLLMTokenizers", swiftSettings: [.unsafeFlags(["-O"])]),
        // Model folders, safetensors, GGUF, configs, the backend protocol and the model definitions.
        // Optimised like the kernels: the CPU kernels inline its GGUF block decoders, which are
        // slow (an order of magnitude) when their bodies come from an unoptimised module.
        .target(name: "VLLMCore", swiftSettings: kernelFlags),
        // Small C helpers for what Swift cannot reach (malloc tuning).
        .target(name: "CVLLMSupport"),
        // The CPU backend: Swift SIMD and threads.
        .target(name: "VLLMCPU", dependencies: ["VLLMCore", "CVLLMSupport"], swiftSettings: kernelFlags),
        // The CUDA backend: driver API, NVRTC and cuBLASLt loaded with dlopen at run time; kernels
        // embedded as source and compiled for the GPU that is present.
        .target(name: "VLLMCUDA", dependencies: ["VLLMCore"], resources: [.embedInCode("Kernels/kernels.cu"), .embedInCode("Kernels/sampling.cu"), .embedInCode("Kernels/flash_prefill.cu")]),
        // The engine: KV cache manager, scheduler, step runner, sampler, offline API. It knows no
        // concrete backend: it runs on whichever `Platform` it is given.
        .target(name: "VLLMEngine", dependencies: ["VLLMCore", "VLLMTokenizers"]),
        // Models by Hugging Face id: the Hub's cache layout and download protocol.
        .target(
            name: "VLLMHub",
            dependencies: [
                "VLLMCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]),
        // KV cache events for routers, over ZeroMQ (libzmq loaded at run time, only when asked for).
        .target(name: "VLLMKVEvents", dependencies: ["VLLMEngine"]),
        // The library users import: the engine with the built-in platforms (CUDA, CPU) and Hub ids wired in.
        .target(name: "SwiftVLLM", dependencies: ["VLLMEngine", "VLLMCore", "VLLMCPU", "VLLMCUDA", "VLLMHub"]),
        // The OpenAI-compatible HTTP server, its metrics, and the client side of the serving benchmark.
        .target(
            name: "VLLMServer",
            dependencies: [
                "VLLMEngine", "VLLMTokenizers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Tool-call parsers (--tool-call-parser) and reasoning parsers (--reasoning-parser) over model
        // output text, whole or streamed; no engine dependency. Optimised like the tokenizers: a
        // stream reads an open call again at every delta.
        .target(name: "VLLMToolParsers", swiftSettings: [.unsafeFlags(["-O"])]),
        .executableTarget(
            name: "vllm",
            dependencies: [
                "SwiftVLLM", "VLLMEngine", "VLLMTokenizers", "VLLMServer", "VLLMKVEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "VLLMTokenizersTests", dependencies: ["VLLMTokenizers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMToolParsersTests", dependencies: ["VLLMToolParsers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMCoreTests", dependencies: ["VLLMCore"]),
        .testTarget(name: "VLLMHubTests", dependencies: ["VLLMHub", "VLLMCore"]),
        .testTarget(name: "VLLMKVEventsTests", dependencies: ["VLLMKVEvents", "VLLMEngine"]),
        .testTarget(name: "VLLMCPUTests", dependencies: ["VLLMCore", "VLLMCPU"]),
        .testTarget(name: "VLLMCUDATests", dependencies: ["VLLMCore", "VLLMCUDA"]),
        .testTarget(name: "VLLMEngineTests", dependencies: ["SwiftVLLM", "VLLMEngine", "VLLMCore", "VLLMCPU", "VLLMCUDA"]),
        .testTarget(
            name: "VLLMServerTests",
            dependencies: [
                "VLLMServer", "VLLMEngine", "SwiftVLLM",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]),
    ]
)
