import Foundation
import Testing
import VLLMTestSupport

@testable import VLLMTokenizers

@Suite("Tokenizer behaviour")
struct TokenizerBehaviourTests {
    static func real(_ name: String) throws -> Tokenizer {
        try TokenizerCache.shared.get(TestPaths.data("tokenizers/\(name)"))
    }

    @Test func gpt2Vectors() throws {
        let tok = try Self.real("gpt2")
        let data = try Data(contentsOf: TestPaths.data("tokenizer-vectors/gpt2_encoded_tokens.json"))
        let v = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let text = v["text"] as! String
        let ids = (v["token_ids"] as! [NSNumber]).map { $0.intValue }
        #expect(tok.encode(text) == ids)
        #expect(sameScalars(tok.decode(ids), v["decoded_text"] as! String))
        let tokens = v["bpe_tokens"] as! [String]
        #expect(ids.map { tok.token(forID: $0)! } == tokens)
    }

    @Test func llamaVectors() throws {
        let tok = try Self.real("llama2")
        let data = try Data(contentsOf: TestPaths.data("tokenizer-vectors/llama_encoded.json"))
        let v = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let ids = (v["token_ids"] as! [NSNumber]).map { $0.intValue }
        #expect(tok.encode(v["text"] as! String) == ids)
        #expect(sameScalars(tok.decode(ids), v["decoded_text"] as! String))
    }

    /// The swift-transformers test table, for the two tokenizers we have files for. Its GPT-2
    /// decodes went through transformers' clean_up_tokenization_spaces (" !" → "!"), which
    /// transformers 5 no longer applies to BPE; it is applied here before comparing.
    @Test(arguments: [("distilgpt2", "gpt2"), ("coreml-projects/Llama-2-7b-chat-coreml", "llama2")])
    func tokenizerTestTable(key: String, folder: String) throws {
        let tok = try Self.real(folder)
        let data = try Data(contentsOf: TestPaths.data("tokenizer-vectors/tokenizer_tests.json"))
        let all = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let cases = all[key] as! [[String: Any]]
        #expect(!cases.isEmpty)
        for c in cases {
            let input = c["input"] as! String
            let ids = ((c["encoded"] as! [String: Any])["input_ids"] as! [NSNumber]).map { $0.intValue }
            #expect(tok.encode(input) == ids, "\(debugString(input))")
            func clean(_ s: String) -> String { folder == "gpt2" ? Cleanup.apply(s) : s }
            #expect(sameScalars(clean(tok.decode(ids)), c["decoded_with_special"] as! String), "\(debugString(input))")
            #expect(sameScalars(clean(tok.decode(ids, skipSpecialTokens: true)), c["decoded_without_special"] as! String))
        }
    }

    @Test func configValues() throws {
        let mistral = try Self.real("mistral-7b-v0.3")
        #expect(mistral.bosTokenID == 1)
        #expect(mistral.eosTokenID == 2)
        #expect(mistral.specialTokens["bos_token"] == "<s>")
        #expect(mistral.chatTemplates["default"]?.contains("[INST]") == true)
        #expect(mistral.config.addBosToken == true)
        #expect(mistral.config.addEosToken == false)
        #expect(mistral.vocabularySize == 32768)
        #expect(mistral.specialTokenIDs.contains(3))

        let llama = try Self.real("llama2")
        #expect(llama.bosTokenID == 1)
        #expect(llama.eosTokenID == 2)
        #expect(llama.padTokenID == nil)
        #expect(llama.modelMaxLength == 2048)
        #expect(llama.specialTokens["unk_token"] == "<unk>")

        let gpt2 = try Self.real("gpt2")
        #expect(gpt2.bosTokenID == 50256)
        #expect(gpt2.eosTokenID == 50256)
        #expect(gpt2.modelMaxLength == 1024)
        #expect(gpt2.id(forToken: "Ġthe") == 262)
        #expect(gpt2.token(forID: 262) == "Ġthe")
        #expect(gpt2.vocabularySize == 50257)

        let phi3 = try Self.real("phi3-mini")
        #expect(phi3.eosTokenID == phi3.id(forToken: "<|endoftext|>"))
        #expect(phi3.vocabularySize == 32011)  // tokenizer.json's; the model pads its embedding to 32064

        // No tokenizer_config.json: ids come from nowhere, templates are empty.
        let smol = try Self.real("smollm2-135m")
        #expect(smol.bosTokenID == nil)
        #expect(smol.chatTemplates.isEmpty)
        #expect(smol.id(forToken: "<|im_start|>") == 1)
    }

    @Test func chatTemplateList() throws {
        let json = """
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
             "chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}],
             "model_max_length": 1000000000000000019884624838656, "add_bos_token": true}
            """
        let cfg = try TokenizerConfig(data: Data(json.utf8), file: "tokenizer_config.json")
        #expect(cfg.chatTemplates == ["default": "A", "tool_use": "B"])
        #expect(cfg.specialTokens["bos_token"] == "<s>")
        #expect(cfg.specialTokens["eos_token"] == "</s>")
        #expect(cfg.modelMaxLength == nil)
        #expect(cfg.addBosToken == true)
    }

    @Test func builtInModel() throws {
        let tok = try TokenizerCache.shared.get(RepositoryFiles.url("Models/stories260K"))
        #expect(tok.vocabularySize == 512)
        let ids = tok.encode("Once upon a time")
        #expect(ids.first == 1)
        #expect(tok.decode(ids, skipSpecialTokens: false).hasSuffix("Once upon a time"))
    }

    @Test func longInputUsesHeapMerge() throws {
        // Without a pre-tokenizer a SentencePiece model sees the whole text as one word.
        let tok = try Self.real("llama2")
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 200)
        let ids = tok.encode(text, addSpecialTokens: false)
        let unit = tok.encode("The quick brown fox jumps over the lazy dog.", addSpecialTokens: false)
        #expect(ids.count >= unit.count * 200)
        #expect(tok.decode(ids) == String(text.dropLast()) + " " || tok.decode(ids) == text)
    }
}

@Suite("Tokenizer loading errors")
struct TokenizerErrorTests {
    func tempFolder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, content) in files { try Data(content.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test func missingFolder() {
        let m = message { _ = try Tokenizer.load(folder: URL(fileURLWithPath: "/nonexistent/model")) }
        #expect(m.contains("/nonexistent/model"))
    }

    @Test func missingTokenizerJSON() throws {
        let dir = try tempFolder(["config.json": "{}"])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("tokenizer.json"))
        #expect(m.contains("not found"))
    }

    @Test func invalidJSON() throws {
        let dir = try tempFolder(["tokenizer.json": "{\"model\": {\"type\": \"BPE\",\n \"vocab\": {\"a\": 0,}}}"])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("tokenizer.json"))
        #expect(m.contains("invalid JSON"))
        #expect(m.contains("line 2"))
    }

    @Test func badMerge() throws {
        let dir = try tempFolder(["tokenizer.json": #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("model.merges[0]"))
        #expect(m.contains("ab"))
    }

    @Test func unsupportedComponent() throws {
        let dir = try tempFolder([
            "tokenizer.json": #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Fancy"}}"#
        ])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("pre_tokenizer"))
        #expect(m.contains("Fancy"))
    }

    @Test func badConfig() throws {
        let dir = try tempFolder([
            "tokenizer.json": #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#,
            "tokenizer_config.json": #"{"chat_template": 42}"#,
        ])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("tokenizer_config.json"))
        #expect(m.contains("chat_template"))
    }

    /// Ids index per-token tables: one of 10^12 would allocate terabytes, a negative one trap.
    @Test func tokenIDsOutOfRange() throws {
        let huge = try tempFolder([
            "tokenizer.json":
                #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1000000000000, "content": "<x>"}]}"#
        ])
        #expect(
            message { _ = try Tokenizer.load(folder: huge) }.hasSuffix(
                "field 'added_tokens[0].id': 1000000000000 is not a token id (0..<16777216)"))
        let negative = try tempFolder(["tokenizer.json": #"{"model": {"type": "WordLevel", "vocab": {"a": -1}}}"#])
        #expect(message { _ = try Tokenizer.load(folder: negative) }.contains("token a has no valid id (0..<16777216)"))
    }

    /// A GGUF special-token id past the vocabulary (the unknown one was looked up by index: a trap).
    @Test func ggufSpecialIDOutOfRange() {
        var metadata = GGUFTokenizerMetadata(path: "m.gguf", model: "llama", tokens: ["<unk>", "<s>", "a"])
        metadata.unknownTokenID = 1_000_000
        #expect(
            message { _ = try Tokenizer.fromGGUF(metadata) }
                == "m.gguf: field 'tokenizer.ggml.unknown_token_id': 1000000 is not a token id (the vocabulary has 3)")
        metadata.unknownTokenID = 0
        metadata.eosTokenID = 3
        #expect(message { _ = try Tokenizer.fromGGUF(metadata) }.contains("'tokenizer.ggml.eos_token_id': 3 is not a token id"))
    }

    @Test func missingModel() throws {
        let dir = try tempFolder(["tokenizer.json": #"{"version": "1.0"}"#])
        let m = message { _ = try Tokenizer.load(folder: dir) }
        #expect(m.contains("'model'"))
        #expect(m.contains("missing"))
    }
}

@Suite("JSON lines")
struct JSONLinesTests {
    @Test func roundTrip() throws {
        let s = "a\"b\\c\nd\te\u{1}f 中 😀 \u{FEFF}"
        #expect(sameScalars(try TokenizerJSONLines.parseString(TokenizerJSONLines.encodeString(s)), s))
        #expect(try TokenizerJSONLines.parseIDs("[1, 2,3 ]") == [1, 2, 3])
        #expect(throws: TokenizerJSONLines.LineError.self) { try TokenizerJSONLines.parseIDs("[1, \"x\"]") }
        #expect(throws: TokenizerJSONLines.LineError.self) { try TokenizerJSONLines.parseString("[1]") }
        #expect(try TokenizerJSONLines.parseString(#""\ud83d\ude00\ud800""#) == "😀\u{FFFD}")
    }
}

@Suite("Pre-tokenizer fast paths")
struct PreTokenizerFastPathTests {
    /// The range splitters used by the encoder agree with the general (slice-list) code path.
    @Test(arguments: [true, false])
    func digitsAgree(individual: Bool) {
        let texts = ["abc123def4567", "12 34", "x١٢٣y", "", "9", "a1b2c3", "  007  ", "٣4５six"]
        let pre = DigitsPreTokenizer(individualDigits: individual)
        for t in texts {
            let bytes = Array(t.utf8)
            var words = PreTokenizedWords(words: [bytes[...]], firstAtOrigin: true)
            pre.preTokenize(&words)
            let general = words.words.filter { !$0.isEmpty }.map { Array($0) }
            var ranges: [Range<Int>] = []
            bytes.withUnsafeBufferPointer { p in pre.rangeSplitter!.splitter.split(p, 0..<p.count, into: &ranges) }
            let fast = ranges.map { Array(bytes[$0]) }
            #expect(fast == general, "\(t)")
        }
    }
}

@Suite("Concurrency")
struct TokenizerConcurrencyTests {
    /// One tokenizer shared by many threads (the shared word cache is filled concurrently)
    /// gives every thread the same ids as a serial run.
    @Test func concurrentEncodeMatchesSerial() throws {
        let tok = try TokenizerCache.shared.get(TestPaths.data("tokenizers/smollm2-135m"))
        let text = try String(contentsOf: TestPaths.data("corpus/tinyshakespeare-excerpt.txt"), encoding: .utf8)
        let paragraphs = Array(text.components(separatedBy: "\n\n").prefix(400))
        let fresh = try Tokenizer.load(folder: TestPaths.data("tokenizers/smollm2-135m"))
        let expected = paragraphs.map { fresh.encode($0) }
        final class Box: @unchecked Sendable { var mismatches = 0; let lock = NSLock() }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var bad = 0
            for (k, p) in paragraphs.enumerated() where (k + worker) % 2 == 0 {
                if tok.encode(p) != expected[k] { bad += 1 }
            }
            box.lock.lock(); box.mismatches += bad; box.lock.unlock()
        }
        #expect(box.mismatches == 0)
    }
}
