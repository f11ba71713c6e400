/// Why a model folder could not be loaded. Every case names the file and the problem, so that a
/// user can fix the folder without reading our code.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case invalidJSON(path: String, detail: String)
    case invalidConfig(path: String, field: String, detail: String)
    case unknownArchitecture(path: String, name: String, supported: [String])
    case invalidSafetensors(path: String, detail: String)
    case missingTensor(name: String, path: String)
    case wrongShape(name: String, path: String, expected: [Int], actual: [Int])
    case unsupportedDType(name: String, path: String, dtype: String)
    /// A tensor of a supported dtype that its quantized layer cannot take (a float `qweight`,
    /// integer scales): config.json's quantization_config asks for `expected`.
    case wrongDType(name: String, path: String, dtype: String, expected: String)
    /// A weight format that the chosen backend cannot multiply.
    case unsupportedWeightFormat(format: WeightFormat, backend: String)
    /// A GGUF file that is broken, truncated or holds what this project cannot load.
    case invalidGGUF(path: String, detail: String)
    /// Operations a model needs that the chosen backend does not implement yet.
    case unsupportedOperation(operations: [String], model: String, backend: String)

    /// The message for the user: the file or tensor at fault and what is wrong with it.
    public var description: String {
        switch self {
        case .missingFile(let path):
            "\(path): file not found"
        case .invalidJSON(let path, let detail):
            "\(path): invalid JSON: \(detail)"
        case .invalidConfig(let path, let field, let detail):
            "\(path): invalid value for '\(field)': \(detail)"
        case .unknownArchitecture(let path, let name, let supported):
            "\(path): unknown architecture '\(name)'; supported: \(supported.joined(separator: ", "))"
        case .invalidSafetensors(let path, let detail):
            "\(path): not a valid safetensors file: \(detail)"
        case .missingTensor(let name, let path):
            "\(path): tensor '\(name)' is missing"
        case .wrongShape(let name, let path, let expected, let actual):
            "\(path): tensor '\(name)' has shape \(actual), expected \(expected)"
        case .unsupportedDType(let name, let path, let dtype):
            "\(path): tensor '\(name)' has unsupported dtype \(dtype) (supported: F32, F16, BF16, F8_E4M3, I32, I64)"
        case .wrongDType(let name, let path, let dtype, let expected):
            "\(path): tensor '\(name)' has dtype \(dtype), but config.json's quantization_config needs \(expected) there"
        case .unsupportedWeightFormat(let format, let backend):
            "weights in the \(format) format are not supported by the \(backend) backend"
        case .invalidGGUF(let path, let detail):
            "\(path): not a loadable GGUF file: \(detail)"
        case .unsupportedOperation(let operations, let model, let backend):
            "\(model) needs \(operations.joined(separator: ", ")), which the \(backend) backend does not implement yet"
        }
    }
}
