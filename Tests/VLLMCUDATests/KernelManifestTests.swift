import Foundation
import Testing
import VLLMCore
import VLLMTestSupport

@testable import VLLMCUDA

/// The kernel manifest against the embedded CUDA sources, without a GPU or a compiler: the
/// declarations and instantiation macros of the `.cu` files are read as text.
@Suite struct KernelManifestTests {
    let manifest: KernelManifest

    init() throws { manifest = try KernelManifest.embedded() }

    /// The `extern "C" __global__` kernels of one file: each name as the manifest writes it
    /// (`##P` as `{P}`), and the names its instantiation lines make, by dtype suffix (a kernel
    /// outside any macro is made for every dtype).
    struct Scan {
        var templates: [String] = []
        var instances: [String: Set<String>] = [:]
        /// The selection conditions each instance stands under: `#if VLLM_WANTS_HEAD_DIM(hd)` and
        /// `#if VLLM_FP8_KV_CACHE`.
        var conditions: [String: (headDim: Int?, fp8: Bool)] = [:]
    }

    static let dtypes = ["f32", "bf16", "f16"]

    static func scan(_ text: String) throws -> Scan {
        var result = Scan()
        let declaration = try Regex(
            #"extern "C" __global__ void(?:\s|\\)+(?:__launch_bounds__\([^)]*\)(?:\s|\\)+)?([A-Za-z_][A-Za-z0-9_#]*)\s*\("#)
        // Macro name -> (parameters, the kernel names its body declares, split at ##).
        var macros: [String: (parameters: [String], names: [[String]])] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        // The open #if blocks, each with the dtype it switches on (nil: another condition, such as a
        // head dimension or VLLM_FP8_KV_CACHE).
        var conditions: [String?] = []
        var dtype: String? { conditions.compactMap { $0 }.last { !$0.hasPrefix("hd") && $0 != "fp8" } }
        while let line = lines.popFirst() {
            if line.hasPrefix("#define "), let open = line.firstIndex(of: "("), line.hasSuffix("\\") {
                let name = String(line[line.index(line.startIndex, offsetBy: 8)..<open])
                let parameters = line[line.index(after: open)..<line.firstIndex(of: ")")!].split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                var body = ""
                while let next = lines.popFirst() {
                    body += next + "\n"
                    if !next.hasSuffix("\\") { break }
                }
                let names = body.matches(of: declaration).map { String($0.output[1].substring ?? "").components(separatedBy: "##") }
                if !names.isEmpty { macros[name] = (parameters, names) }
                for parts in names {
                    result.templates.append(parts.map { parameters.contains($0) ? "{\($0)}" : $0 }.joined())
                }
            } else if line.hasPrefix("#if") {
                conditions.append(Self.condition(line))
            } else if line.hasPrefix("#endif") {
                _ = conditions.popLast()
            } else if let open = line.firstIndex(of: "("), let macro = macros[String(line[..<open])] {
                let arguments = line[line.index(after: open)..<line.lastIndex(of: ")")!].split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                let values = Dictionary(uniqueKeysWithValues: zip(macro.parameters, arguments))
                // An instantiation for one dtype stands under that dtype's switch.
                #expect(dtype == values["S"], "\(line) is under VLLM_DTYPE_\(dtype ?? "none")")
                let headDim = conditions.compactMap { $0?.hasPrefix("hd") == true ? Int($0!.dropFirst(2)) : nil }.last
                for parts in macro.names {
                    let name = parts.map { values[$0] ?? $0 }.joined()
                    result.instances[values["S"] ?? "", default: []].insert(name)
                    result.conditions[name] = (headDim, conditions.contains("fp8"))
                }
            } else if let match = line.firstMatch(of: declaration) {
                let name = String(match.output[1].substring ?? "")
                result.templates.append(name)
                for suffix in dtypes { result.instances[suffix, default: []].insert(name) }
            }
        }
        return result
    }

    /// What an `#if` line switches on: a dtype ("bf16"), a head dimension ("hd128"), the FP8 cache
    /// ("fp8"), or nil for anything else.
    static func condition(_ line: String) -> String? {
        if line.hasPrefix("#ifdef VLLM_DTYPE_") { return String(line.dropFirst("#ifdef VLLM_DTYPE_".count)).lowercased() }
        if line.hasPrefix("#if VLLM_WANTS_HEAD_DIM("), let close = line.firstIndex(of: ")") {
            return "hd" + line[line.index(line.startIndex, offsetBy: "#if VLLM_WANTS_HEAD_DIM(".count)..<close]
        }
        return line == "#if VLLM_FP8_KV_CACHE" ? "fp8" : nil
    }

    func text(of file: String) -> String { String(decoding: KernelManifest.embeddedFiles[file] ?? [], as: UTF8.self) }

    @Test func everyManifestKernelIsDefinedInExactlyItsListedFile() throws {
        let scans = try Dictionary(uniqueKeysWithValues: manifest.files.map { ($0, try Self.scan(text(of: $0))) })
        for (kernel, (file, entry)) in manifest.entries {
            let definingFiles = scans.filter { $0.value.templates.contains(entry.name) }.map(\.key)
            #expect(definingFiles == [file], "\(kernel) (\(entry.name)) is defined in \(definingFiles), listed under \(file)")
        }
        for (file, scan) in scans {
            for name in scan.templates {
                #expect(scan.templates.filter { $0 == name }.count == 1, "\(name) is declared twice in \(file)")
                #expect(
                    manifest.entries.values.contains { $0.file == file && $0.entry.name == name },
                    "\(name) of \(file) is not in the manifest")
            }
        }
    }

    @Test func manifestInstancesAreExactlyTheInstantiatedKernels() throws {
        let scans = try manifest.files.map { try Self.scan(text(of: $0)) }
        for suffix in Self.dtypes {
            let instantiated = scans.reduce(into: Set<String>()) { $0.formUnion($1.instances[suffix] ?? []) }
            let listed = Set(Kernel.allCases.flatMap { manifest.instances(of: $0, dtype: suffix).map(\.name) })
            #expect(
                listed == instantiated,
                "\(suffix): only listed \(listed.subtracting(instantiated)), only instantiated \(instantiated.subtracting(listed))")
        }
        #expect(manifest.instances(of: .gemv, dtype: "bf16").count == 4)
    }

    @Test func everyKernelFileIsListedAndEmbedded() throws {
        let directory = RepositoryFiles.url("Sources/VLLMCUDA/Kernels")
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            $0.hasSuffix(".cu") || $0.hasSuffix(".cuh")
        }
        #expect(Set(onDisk) == Set(manifest.files))
        #expect(Set(KernelManifest.embeddedFiles.keys) == Set(manifest.files))
        #expect(manifest.files.first == "common.cuh")
        #expect(Set(manifest.files).count == manifest.files.count)
    }

    /// The kernels' ggml block sizes are GGMLType's: `Kernels/ggml_blocks.cuh` is the text
    /// `GGMLType.kernelHeader` writes.
    @Test func ggmlBlockHeaderIsWrittenFromGGMLType() {
        #expect(
            text(of: "ggml_blocks.cuh") == GGMLType.kernelHeader,
            "write Kernels/ggml_blocks.cuh from GGMLType.kernelHeader:\n\(GGMLType.kernelHeader)")
        let gemv = manifest.instances(of: .gemvGGML, dtype: "bf16")
        #expect(Set(gemv.compactMap { $0.values[.ggmlType] }) == Set(GGMLType.allCases.map { Int($0.rawValue) }))
        #expect(gemv.contains { $0.name == "gemv_ggml_bf16_q12_t3" && $0.values == [.ggmlType: 12, .tokens: 3] })
    }

    @Test func sourceJoinsTheFilesInManifestOrder() {
        let source = manifest.source()
        var previous = source.startIndex
        for file in manifest.files {
            let range = source.range(of: text(of: file))
            #expect(range != nil && range!.lowerBound >= previous, "\(file) out of order")
            previous = range?.upperBound ?? previous
        }
    }

    /// A kernel file compiles with the headers listed before it in front, after the switches.
    @Test func eachFileCompilesWithTheHeadersBeforeIt() {
        #expect(manifest.source(of: "gemv.cu") == text(of: "common.cuh") + "\n" + text(of: "gemv.cu"))
        #expect(
            manifest.source(of: "ggml.cu")
                == [text(of: "common.cuh"), text(of: "ggml_blocks.cuh"), text(of: "ggml.cu")].joined(separator: "\n"))
        let selection = KernelSelection(uses: [], headDim: 128, fp8KVCache: false)
        #expect(
            CUDAKernels.source("X", dtype: .bfloat16, selection: selection)
                == "#define VLLM_DTYPE_BF16\n#define VLLM_HEAD_DIM 128\n#define VLLM_FP8_KV_CACHE 0\nX")
        #expect(CUDAKernels.source("X", dtype: .float16, selection: .all) == "#define VLLM_DTYPE_F16\nX")
    }

    /// The instances a selection looks up are exactly those the files' `#if VLLM_WANTS_HEAD_DIM` and
    /// `#if VLLM_FP8_KV_CACHE` switches leave in, for each dtype.
    @Test(arguments: [
        KernelSelection(uses: [], headDim: 128, fp8KVCache: false), KernelSelection(uses: [.encoder], headDim: 64, fp8KVCache: true),
        KernelSelection(uses: [.mixtureOfExperts], headDim: 96, fp8KVCache: false), .all,
    ])
    func selectionLooksUpExactlyTheInstantiatedKernels(selection: KernelSelection) throws {
        for suffix in Self.dtypes {
            var instantiated = Set<String>()
            for file in manifest.kernelFiles(selection) {
                let scan = try Self.scan(text(of: file))
                for name in scan.instances[suffix] ?? [] {
                    let (headDim, fp8) = scan.conditions[name] ?? (nil, false)
                    if (fp8 && !selection.fp8KVCache) || (headDim != nil && selection.headDim != nil && headDim != selection.headDim) {
                        continue
                    }
                    instantiated.insert(name)
                }
            }
            let files = Set(manifest.kernelFiles(selection))
            let listed = Set(
                Kernel.allCases.filter { files.contains(manifest.entries[$0]!.file) }.flatMap { kernel in
                    manifest.instances(of: kernel, dtype: suffix).filter { selection.instantiates(kernel, $0) }.map(\.name)
                })
            #expect(
                listed == instantiated,
                "\(selection) \(suffix): only listed \(listed.subtracting(instantiated)), only instantiated \(instantiated.subtracting(listed))"
            )
        }
    }

    @Test func instancesCarryTheirParameters() {
        let prefill = manifest.instances(of: .flashPrefill, dtype: "f16")
        #expect(
            prefill.map(\.name).sorted() == [
                "flash_prefill_f16_hd128_w4", "flash_prefill_f16_hd128_w8", "flash_prefill_f16_hd64_w4", "flash_prefill_f16_hd64_w8",
            ])
        #expect(prefill.contains { $0.name == "flash_prefill_f16_hd64_w8" && $0.values == [.headDim: 64, .warps: 8] })
        #expect(manifest.instances(of: .gemv, dtype: "f32").isEmpty)
        #expect(manifest.instances(of: .adjustLogits, dtype: "f32").map(\.name) == ["adjust_logits"])
    }

    /// Each FP8 KV cache kernel exists for exactly the dtypes and parameters of its twin over an
    /// activation cache, so that a step over an FP8 cache finds the kernel the other would take.
    @Test func fp8CacheKernelsMirrorTheirTwins() {
        let twins: [(Kernel, Kernel)] = [
            (.writeKVCache, .writeKVCacheFP8), (.rotaryWriteKV, .rotaryWriteKVFP8), (.pagedAttention, .pagedAttentionFP8),
            (.decodeAttention, .decodeAttentionFP8), (.flashPrefill, .flashPrefillFP8),
        ]
        for (twin, fp8) in twins {
            for dtype in ["f32", "bf16", "f16"] {
                let (plain, codes) = (manifest.instances(of: twin, dtype: dtype), manifest.instances(of: fp8, dtype: dtype))
                #expect(codes.map(\.values) == plain.map(\.values), "\(fp8) \(dtype)")
                #expect(codes.map(\.name) == plain.map { $0.name.replacingOccurrences(of: "_\(dtype)", with: "_fp8_\(dtype)") })
            }
        }
    }

    @Test func manifestThatDisagreesWithTheConstantsNamesTheKernel() {
        func error(_ json: String) -> String {
            do {
                _ = try KernelManifest(json: Array(json.utf8))
                return ""
            } catch {
                return "\(error)"
            }
        }
        let unknown =
            #"{"files": [{"file": "common.cuh", "kernels": [{"id": "softmaxRows", "name": "softmax_{S}", "parameters": {}, "waitsForPrevious": true}]}]}"#
        #expect(error(unknown).contains("softmaxRows"))
        #expect(error(#"{"files": [{"file": "common.cuh", "kernels": []}]}"#).contains("'embedding'"))
        #expect(error(#"{"files": [{"file": "missing.cu", "kernels": []}]}"#).contains("missing.cu"))
        #expect(error("{").contains("manifest.json"))
    }
}
