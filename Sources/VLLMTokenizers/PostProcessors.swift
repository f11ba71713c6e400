/// A `tokenizer.json` post-processor: adds the special tokens around an encoded sequence when
/// `add_special_tokens` is on (and does nothing otherwise).
protocol PostProcessor: Sendable {
    func process(_ ids: [Int]) -> [Int]
    /// How many ids `process` adds to a single sequence.
    var addedCount: Int { get }
}

enum PostProcessorFactory {
    static func make(_ json: JSONReader) throws -> PostProcessor {
        let type = try json.string("type")
        switch type {
        case "TemplateProcessing": return try TemplateProcessing(json: json)
        case "ByteLevel": return NoOpProcessor()
        case "BertProcessing", "RobertaProcessing":
            return WrapProcessor(prefix: [try tokenID(json, "cls")], suffix: [try tokenID(json, "sep")])
        case "Sequence":
            return SequenceProcessor(items: try json.objects("processors").map { try make($0) })
        default:
            throw TokenizerError.unsupported(file: json.file, component: "post_processor", type: type)
        }
    }

    /// `cls`/`sep` are `[token, id]` pairs.
    private static func tokenID(_ json: JSONReader, _ key: String) throws -> Int {
        let a = try json.array(key)
        guard a.count == 2, let id = a[1].intValue else { throw json.fail(key, "expected [token, id]") }
        return id
    }
}

struct NoOpProcessor: PostProcessor {
    func process(_ ids: [Int]) -> [Int] { ids }
    var addedCount: Int { 0 }
}

struct WrapProcessor: PostProcessor {
    let prefix: [Int]
    let suffix: [Int]
    func process(_ ids: [Int]) -> [Int] { prefix + ids + suffix }
    var addedCount: Int { prefix.count + suffix.count }
}

struct SequenceProcessor: PostProcessor {
    let items: [PostProcessor]
    func process(_ ids: [Int]) -> [Int] { items.reduce(ids) { $1.process($0) } }
    var addedCount: Int { items.reduce(0) { $0 + $1.addedCount } }
}

/// TemplateProcessing's `single` template: a list of special tokens and the sequence `$A`.
/// Only single sequences are encoded by the engine, so the `pair` template is not used.
struct TemplateProcessing: PostProcessor {
    enum Piece: Sendable {
        case sequence
        case special([Int])
    }
    let pieces: [Piece]

    init(json: JSONReader) throws {
        var specials: [String: [Int]] = [:]
        if let st = try json.optionalObject("special_tokens") {
            for (name, v) in st.object.pairs {
                guard let o = v.objectValue, let ids = o["ids"]?.arrayValue else {
                    throw st.fail(name, "expected an object with 'ids'")
                }
                specials[name] = try ids.map {
                    guard let i = $0.intValue else { throw st.fail(name, "ids must be integers") }
                    return i
                }
            }
        }
        var pieces: [Piece] = []
        for (i, item) in try json.array("single").enumerated() {
            guard let o = item.objectValue else { throw json.fail("single[\(i)]", "expected an object") }
            if o["Sequence"] != nil {
                pieces.append(.sequence)
            } else if let s = o["SpecialToken"]?.objectValue, let name = s["id"]?.stringValue {
                guard let ids = specials[name] else { throw json.fail("single[\(i)]", "special token '\(name)' is not in special_tokens") }
                pieces.append(.special(ids))
            } else {
                throw json.fail("single[\(i)]", "expected Sequence or SpecialToken")
            }
        }
        self.pieces = pieces
    }

    func process(_ ids: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(ids.count + 4)
        for p in pieces {
            switch p {
            case .sequence: out.append(contentsOf: ids)
            case .special(let s): out.append(contentsOf: s)
            }
        }
        return out
    }

    var addedCount: Int {
        pieces.reduce(0) { acc, p in
            if case .special(let s) = p { return acc + s.count }
            return acc
        }
    }
}
