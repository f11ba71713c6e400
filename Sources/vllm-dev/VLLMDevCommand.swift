import ArgumentParser

/// `vllm-dev`: developer checks that users of `vllm` do not need. The GPU scripts build and carry
/// it beside `vllm`: `kernel-check` holds each CUDA operation to a float64 reference,
/// `bench-kernels` times the CPU matrix product against the machine's memory bandwidth,
/// `batch-invariance` checks that a token's CUDA results do not depend on its step.
@main
struct VLLMDevCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vllm-dev",
        abstract: "Developer checks of the swift-vllm backends (not part of the user's vllm).",
        subcommands: [KernelCheckCommand.self, BenchKernelsCommand.self, BatchInvarianceCommand.self])
}
