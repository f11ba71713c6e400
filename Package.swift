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
        .library(name: "VLLMStructuredOutputs", targets: ["VLLMStructuredOutputs"]),
        .executable(name: "vllm", targets: ["vllm"]),
        .executable(name: "grammar-bench", targets: ["grammar-bench"]),
        // Developer checks (kernel-check, bench-kernels): built and carried by the GPU scripts, not shipped to users.
        .executable(name: "vllm-dev", targets: ["vllm-dev"]),
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
        // Structured outputs: JSON Schema, regex, choice and EBNF compiled to a byte-level
        // pushdown automaton with per-token masks; depends only on the tokenizers.
        .target(name: "VLLMStructuredOutputs", dependencies: ["VLLMTokenizers"], swiftSettings: [.unsafeFlags(["-O"])]),
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
        .target(name: "VLLMCUDA", dependencies: ["VLLMCore"], resources: [
                // The kernel files of Kernels/manifest.json (which gives their order) and the manifest.
                .embedInCode("Kernels/manifest.json"), .embedInCode("Kernels/common.cuh"), .embedInCode("Kernels/gather.cu"),
                .embedInCode("Kernels/norm.cu"), .embedInCode("Kernels/rotary.cu"), .embedInCode("Kernels/kv_cache.cu"),
                .embedInCode("Kernels/attention.cu"), .embedInCode("Kernels/encoder_attention.cu"),
                .embedInCode("Kernels/decode_attention.cu"), .embedInCode("Kernels/gemv.cu"),
                .embedInCode("Kernels/activation.cu"), .embedInCode("Kernels/elementwise.cu"), .embedInCode("Kernels/argmax.cu"),
                .embedInCode("Kernels/sampling.cu"), .embedInCode("Kernels/flash_prefill.cu"), .embedInCode("Kernels/moe.cu"), .embedInCode("Kernels/quantized.cu"),
                .embedInCode("Kernels/ggml_blocks.cuh"), .embedInCode("Kernels/ggml.cu"),
            ]),
        // The engine: KV cache manager, scheduler, step runner, sampler, offline API. It knows no
        // concrete backend: it runs on whichever `Platform` it is given.
        .target(name: "VLLMEngine", dependencies: ["VLLMCore", "VLLMTokenizers", "VLLMStructuredOutputs"]),
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
        // The OpenAI-compatible HTTP server and its metrics.
        .target(
            name: "VLLMServer",
            dependencies: [
                "VLLMEngine", "VLLMTokenizers", "VLLMStructuredOutputs", "VLLMToolParsers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The client side of an OpenAI-compatible server: `vllm chat/complete --url` and the serving benchmark.
        .target(
            name: "VLLMClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]),
        // Test support, not in any user product: the repository's test files (every test path stays inside the
        // checkout) and float64 references for the tests and `vllm-dev kernel-check` (optimised even in debug
        // builds because the kernel checks run large matrix products through them).
        .target(name: "VLLMTestSupport", dependencies: ["VLLMCore", "VLLMCPU"], swiftSettings: kernelFlags),
        // Tool-call parsers (--tool-call-parser) and reasoning parsers (--reasoning-parser) over model
        // output text, whole or streamed; no engine dependency. Optimised like the tokenizers: a
        // stream reads an open call again at every delta.
        .target(name: "VLLMToolParsers", swiftSettings: [.unsafeFlags(["-O"])]),
        .executableTarget(
            name: "vllm",
            dependencies: [
                "SwiftVLLM", "VLLMEngine", "VLLMTokenizers", "VLLMServer", "VLLMClient", "VLLMKVEvents",
                "VLLMStructuredOutputs", "VLLMToolParsers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "vllm-dev",
            dependencies: [
                "VLLMCore", "VLLMCPU", "VLLMCUDA", "VLLMTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "VLLMTokenizersTests", dependencies: ["VLLMTokenizers", "VLLMTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMCoreTests", dependencies: ["VLLMCore", "VLLMTestSupport"]),
        // Benchmark and xgrammar comparison of the grammar engine (scripts/compare_grammar_masks.py drives it).
        .executableTarget(name: "grammar-bench", dependencies: ["VLLMStructuredOutputs", "VLLMTokenizers", "VLLMCore"], swiftSettings: [.unsafeFlags(["-O"])]),
        .testTarget(name: "VLLMStructuredOutputsTests", dependencies: ["VLLMStructuredOutputs", "VLLMTokenizers", "VLLMTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "VLLMToolParsersTests", dependencies: ["VLLMToolParsers", "VLLMTokenizers", "VLLMTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VLLMHubTests", dependencies: ["VLLMHub", "VLLMCore"]),
        .testTarget(name: "VLLMKVEventsTests", dependencies: ["VLLMKVEvents", "VLLMEngine"]),
        .testTarget(name: "VLLMCPUTests", dependencies: ["VLLMCore", "VLLMCPU", "VLLMTestSupport"]),
        .testTarget(name: "VLLMCUDATests", dependencies: ["VLLMCore", "VLLMCUDA", "VLLMTestSupport"]),
        .testTarget(name: "VLLMEngineTests", dependencies: ["SwiftVLLM", "VLLMEngine", "VLLMCore", "VLLMCPU", "VLLMCUDA", "VLLMStructuredOutputs", "VLLMTestSupport"]),
        .testTarget(
            name: "VLLMServerTests",
            dependencies: [
                "VLLMServer", "VLLMClient", "VLLMEngine", "SwiftVLLM", "VLLMTestSupport", "VLLMToolParsers",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]),
    ]
)
