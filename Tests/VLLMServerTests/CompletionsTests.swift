import Foundation
import HummingbirdTesting
import SwiftVLLM
import VLLMEngine
import VLLMTestSupport
import XCTest

@testable import VLLMServer

final class CompletionsTests: XCTestCase {
    func testPromptForms() async throws {
        try await withServer { client, serving in
            let ids = serving.tokenizer!.encode("Once upon a time")
            let byText = try await client.post("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 8, "temperature": 0])
            XCTAssertEqual(byText.status, .ok)
            let json = byText.json
            XCTAssertEqual(json["object"] as? String, "text_completion")
            XCTAssertTrue((json["id"] as? String ?? "").hasPrefix("cmpl-"))
            XCTAssertEqual(json["model"] as? String, serving.servedName)
            let choices = json["choices"] as! [[String: Any]]
            XCTAssertEqual(choices.count, 1)
            let text = choices[0]["text"] as! String
            XCTAssertFalse(text.isEmpty)
            XCTAssertEqual(choices[0]["finish_reason"] as? String, "length")
            XCTAssertTrue(choices[0].keys.contains("logprobs"), "logprobs is sent as null")
            let usage = json["usage"] as! [String: Int]
            XCTAssertEqual(usage["prompt_tokens"], ids.count)
            XCTAssertEqual(usage["completion_tokens"], 8)
            XCTAssertEqual(usage["total_tokens"], ids.count + 8)

            // The same prompt as token ids gives the same greedy text.
            let byIDs = try await client.post("/v1/completions", ["prompt": ids, "max_tokens": 8, "temperature": 0])
            XCTAssertEqual((byIDs.json["choices"] as! [[String: Any]])[0]["text"] as? String, text)

            // Lists: one choice per prompt, in order.
            let list = try await client.post(
                "/v1/completions", ["prompt": ["Once upon a time", "The cat"], "max_tokens": 4, "temperature": 0])
            let listChoices = list.json["choices"] as! [[String: Any]]
            XCTAssertEqual(listChoices.map { $0["index"] as! Int }, [0, 1])
            let lists = try await client.post("/v1/completions", ["prompt": [ids, [1, 5, 6]], "max_tokens": 4, "temperature": 0])
            XCTAssertEqual((lists.json["choices"] as! [[String: Any]]).count, 2)
            XCTAssertEqual((lists.json["usage"] as! [String: Int])["prompt_tokens"], ids.count + 3)
            XCTAssertEqual(
                ((lists.json["choices"] as! [[String: Any]])[0]["text"] as! String),
                String(text.prefix(((listChoices[0]["text"] as! String)).count)))
        }
    }

    func testNSeedLogprobsEchoStop() async throws {
        try await withServer { client, serving in
            // n = 2 with a seed: two choices, reproducible.
            let body: [String: Any] = ["prompt": "Once upon a time", "max_tokens": 10, "n": 2, "seed": 7, "temperature": 1.0]
            let a = try await client.post("/v1/completions", body).json["choices"] as! [[String: Any]]
            let b = try await client.post("/v1/completions", body).json["choices"] as! [[String: Any]]
            XCTAssertEqual(a.count, 2)
            XCTAssertEqual(a.map { $0["text"] as! String }, b.map { $0["text"] as! String })

            // logprobs: one entry per token, with the top alternatives and the chosen token.
            let lp = try await client.post(
                "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 5, "logprobs": 3, "temperature": 0])
            let logprobs = (lp.json["choices"] as! [[String: Any]])[0]["logprobs"] as! [String: Any]
            let tokens = logprobs["tokens"] as! [String]
            XCTAssertEqual(tokens.count, 5)
            XCTAssertEqual((logprobs["token_logprobs"] as! [Double]).count, 5)
            let tops = logprobs["top_logprobs"] as! [[String: Double]]
            XCTAssertTrue(tops.allSatisfy { $0.count >= 1 && $0.count <= 4 })
            XCTAssertEqual((logprobs["text_offset"] as! [Int]).first, 0)
            XCTAssertEqual(tokens.joined(), (lp.json["choices"] as! [[String: Any]])[0]["text"] as? String)

            // echo puts the prompt in front.
            let echo = try await client.post(
                "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 3, "echo": true, "temperature": 0])
            XCTAssertTrue(((echo.json["choices"] as! [[String: Any]])[0]["text"] as! String).hasPrefix("Once upon a time"))

            // A stop string taken from the greedy text ends it there, with stop_reason naming it.
            let full = try await client.post(
                "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 30, "temperature": 0, "ignore_eos": true])
            let fullText = (full.json["choices"] as! [[String: Any]])[0]["text"] as! String
            let words = fullText.split(separator: " ")
            XCTAssertGreaterThan(words.count, 3)
            let stop = String(words[2])
            let stopped = try await client.post(
                "/v1/completions", ["prompt": "Once upon a time", "max_tokens": 30, "temperature": 0, "ignore_eos": true, "stop": [stop]])
            let choice = (stopped.json["choices"] as! [[String: Any]])[0]
            XCTAssertEqual(choice["finish_reason"] as? String, "stop")
            XCTAssertEqual(choice["stop_reason"] as? String, stop)
            XCTAssertFalse((choice["text"] as! String).contains(stop))
            XCTAssertTrue(fullText.hasPrefix(choice["text"] as! String))

            // vLLM extras are accepted.
            let extras = try await client.post(
                "/v1/completions",
                [
                    "prompt": "Once upon a time", "max_tokens": 6, "top_k": 5, "min_p": 0.05, "repetition_penalty": 1.2,
                    "stop_token_ids": [2], "min_tokens": 2, "skip_special_tokens": true, "include_stop_str_in_output": false,
                    "seed": 1, "presence_penalty": 0.5, "frequency_penalty": 0.5, "logit_bias": ["13": 2.0], "user": "test",
                ])
            XCTAssertEqual(extras.status, .ok, extras.text)
            _ = serving
        }
    }

    func testTokenizeAndDetokenize() async throws {
        try await withServer { client, serving in
            let tokenized = try await client.post("/tokenize", ["prompt": "Once upon a time"])
            XCTAssertEqual(tokenized.status, .ok)
            let tokens = tokenized.json["tokens"] as! [Int]
            XCTAssertEqual(tokens, serving.tokenizer!.encode("Once upon a time"))
            XCTAssertEqual(tokenized.json["count"] as? Int, tokens.count)
            XCTAssertEqual(tokenized.json["max_model_len"] as? Int, 512)
            let detok = try await client.post("/detokenize", ["tokens": Array(tokens.dropFirst())])
            XCTAssertEqual(detok.json["prompt"] as? String, "Once upon a time")
            let chat = try await client.post("/tokenize", ["messages": [["role": "user", "content": "Hi"]]])
            XCTAssertEqual(chat.json["tokens"] as? [Int], serving.tokenizer!.encode("user: Hi\nassistant:", addSpecialTokens: false))
            let bad = try await client.post("/detokenize", ["tokens": [100000]])
            XCTAssertEqual(bad.status, .badRequest)
            XCTAssertEqual(bad.error["param"] as? String, "tokens")
        }
    }

    func testModelsVersionHealthOpenAPI() async throws {
        var options = ServerOptions()
        options.servedModelNames = ["stories", "alias"]
        try await withServer(options: options) { client, _ in
            let models = try await client.execute(uri: "/v1/models", method: .get)
            let data = models.json["data"] as! [[String: Any]]
            XCTAssertEqual(data.map { $0["id"] as! String }, ["stories", "alias"])
            XCTAssertEqual(data[0]["max_model_len"] as? Int, 512)
            let ok = try await client.post("/v1/completions", ["model": "alias", "prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(ok.json["model"] as? String, "stories")
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
            let version = try await client.execute(uri: "/version", method: .get)
            XCTAssertNotNil(version.json["version"] as? String)
            let spec = try await client.execute(uri: "/openapi.json", method: .get).json
            XCTAssertEqual(spec["openapi"] as? String, "3.1.0")
            let paths = spec["paths"] as! [String: Any]
            for path in [
                "/v1/completions", "/v1/chat/completions", "/v1/models", "/tokenize", "/detokenize", "/health", "/version", "/metrics",
            ] {
                XCTAssertNotNil(paths[path], path)
            }
        }
    }
}

final class BeamSearchServingTests: XCTestCase {
    /// `use_beam_search` gives the same beams as the offline `LLM.beamSearch`.
    func testBeamSearchMatchesOfflineEngine() async throws {
        var args = EngineArgs(model: RepositoryFiles.path("Models/stories260K"))
        args.numGPUBlocksOverride = 256
        let llm = try LLM(args: args)
        let prompt = llm.tokenizer!.encode("Once upon a time")
        let offline = try llm.beamSearch([.tokens(prompt)], BeamSearchParams(beamWidth: 3, maxTokens: 8))[0].sequences
        try await withServer { client, _ in
            let response = try await client.post(
                "/v1/completions", ["prompt": prompt, "max_tokens": 8, "n": 3, "use_beam_search": true])
            XCTAssertEqual(response.status, .ok, response.text)
            let texts = (response.json["choices"] as! [[String: Any]]).map { $0["text"] as! String }
            XCTAssertEqual(texts, offline.map(\.text))
            let chat = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 4, "n": 2, "use_beam_search": true])
            XCTAssertEqual((chat.json["choices"] as! [[String: Any]]).count, 2)
        }
    }

    /// With a JSON schema, the server's beams are the offline engine's beams under the same
    /// grammar, and those that finished validate; a named tool choice with beam search is a call.
    func testBeamSearchFollowsStructuredOutputs() async throws {
        var args = EngineArgs(model: RepositoryFiles.path("Models/stories260K"))
        args.numGPUBlocksOverride = 256
        let llm = try LLM(args: args)
        let prompt = llm.tokenizer!.encode("Once upon a time")
        @Sendable func schema() -> [String: Any] {
            [
                "type": "object", "properties": ["name": ["type": "string", "maxLength": 5], "mood": ["enum": ["glad", "sad"]]],
                "required": ["name", "mood"], "additionalProperties": false,
            ]
        }
        let schemaText = String(decoding: try JSONSerialization.data(withJSONObject: schema(), options: .sortedKeys), as: UTF8.self)
        let offline = try llm.beamSearch(
            [.tokens(prompt)], BeamSearchParams(beamWidth: 2, maxTokens: 40, structuredOutputs: .jsonSchema(schemaText)))[0].sequences
        try await withServer { client, _ in
            // Sorted keys on both sides: the schema's property order is the order the grammar writes.
            let response = try await client.postSorted(
                "/v1/completions",
                ["prompt": prompt, "max_tokens": 40, "n": 2, "use_beam_search": true, "structured_outputs": ["json": schema()]])
            XCTAssertEqual(response.status, .ok, response.text)
            let choices = response.json["choices"] as! [[String: Any]]
            XCTAssertEqual(choices.map { $0["text"] as! String }, offline.map(\.text))
            for choice in choices where choice["finish_reason"] as? String == "stop" {
                let object = try JSONSerialization.jsonObject(with: Data((choice["text"] as! String).utf8)) as? [String: Any]
                XCTAssertTrue(["glad", "sad"].contains(object?["mood"] as? String ?? ""), choice["text"] as! String)
                XCTAssertLessThanOrEqual((object?["name"] as? String)?.count ?? 99, 5)
            }
        }
    }
}
