import Foundation
import Testing
import VLLMCore

@testable import VLLMHub

@Suite struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// FIPS 180-4's examples, and a message fed in pieces that straddle blocks.
    @Test func knownDigests() {
        #expect(Self.hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(Self.hex(SHA256.hash(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var pieces = SHA256()
        for start in stride(from: 0, to: 1000, by: 37) { pieces.update((start..<min(start + 37, 1000)).map { UInt8($0 % 251) }) }
        #expect(pieces.finalize() == SHA256.hash((0..<1000).map { UInt8($0 % 251) }))
        #expect(pieces.hexDigest() == Self.hex(pieces.finalize()))
    }
}

@Suite struct HubSettingsTests {
    @Test func environmentAsHuggingFaceHubReadsIt() {
        let plain = HubSettings(environment: ["HOME": "/home/u"])
        #expect(plain.endpoint == "https://huggingface.co")
        #expect(plain.cacheDirectory == "/home/u/.cache/huggingface/hub")
        #expect(plain.offline == false)
        let custom = HubSettings(environment: [
            "HOME": "/home/u", "HF_HOME": "/data/hf", "HF_ENDPOINT": "http://mirror:8080/", "HF_TOKEN": "t", "HF_HUB_OFFLINE": "1",
        ])
        #expect(custom.endpoint == "http://mirror:8080")
        #expect(custom.cacheDirectory == "/data/hf/hub")
        #expect(custom.token == "t")
        #expect(custom.offline)
        #expect(HubSettings(environment: ["HOME": "/h", "XDG_CACHE_HOME": "/x"]).cacheDirectory == "/x/huggingface/hub")
        #expect(HubSettings(environment: ["HOME": "/h", "HF_HUB_CACHE": "/c"], downloadDirectory: "/d").cacheDirectory == "/d")
        #expect(HubSettings(environment: ["HOME": "/h", "HF_HUB_CACHE": "/c"]).cacheDirectory == "/c")
    }

    @Test func repositoryIDsAndFolders() {
        #expect(HubModel.isRepositoryID("Qwen/Qwen3-0.6B"))
        #expect(HubModel.isRepositoryID("gpt2"))
        #expect(!HubModel.isRepositoryID("/models/llama"))
        #expect(!HubModel.isRepositoryID("./llama"))
        #expect(!HubModel.isRepositoryID("a/b/c"))
        #expect(!HubModel.isRepositoryID("org/../x"))
        #expect(!HubModel.isRepositoryID("org/na me"))
        #expect(HubCache(root: "/c").repositoryFolder("Qwen/Qwen3-0.6B") == "/c/models--Qwen--Qwen3-0.6B")
        #expect(HubDownloader.normalize("W/\"abc\"") == "abc")
        #expect(
            HubModel.engineFiles([
                "README.md", "config.json", "model-00001-of-00002.safetensors", "pytorch_model.bin", "onnx/model.safetensors",
                "tokenizer.json",
            ])
                == ["config.json", "model-00001-of-00002.safetensors", "tokenizer.json"])
    }

    @Test func offlineWithoutTheRevisionNamesTheCache() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID())").path
        let downloader = HubDownloader(settings: HubSettings(environment: ["HOME": "/h", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": root]))
        #expect(throws: HubError.notInCache(repo: "a/b", revision: "main", cache: root, missing: "the revision")) {
            try downloader.snapshotBlocking("a/b")
        }
    }
}
