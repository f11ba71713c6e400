import Foundation
import HummingbirdTesting
import SwiftVLLM
import VLLMTestSupport
import XCTest

@testable import VLLMServer

final class ChatTests: XCTestCase {
    func testChatCompletion() async throws {
        try await withServer { client, serving in
            let response = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Once upon a time"]], "max_tokens": 6, "temperature": 0])
            XCTAssertEqual(response.status, .ok, response.text)
            let json = response.json
            XCTAssertEqual(json["object"] as? String, "chat.completion")
            XCTAssertTrue((json["id"] as? String ?? "").hasPrefix("chatcmpl-"))
            let choice = (json["choices"] as! [[String: Any]])[0]
            let message = choice["message"] as! [String: Any]
            XCTAssertEqual(message["role"] as? String, "assistant")
            let content = message["content"] as! String
            XCTAssertFalse(content.isEmpty)
            let promptTokens = serving.tokenizer!.encode("user: Once upon a time\nassistant:", addSpecialTokens: false)
            XCTAssertEqual((json["usage"] as! [String: Int])["prompt_tokens"], promptTokens.count)
            XCTAssertEqual((json["usage"] as! [String: Int])["completion_tokens"], 6)

            // The same conversation with list-of-parts content and max_completion_tokens.
            let parts = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": [["type": "text", "text": "Once upon a time"]]]],
                    "max_completion_tokens": 6, "temperature": 0, "response_format": ["type": "text"],
                ])
            XCTAssertEqual(parts.status, .ok, parts.text)
            XCTAssertEqual((((parts.json["choices"] as! [[String: Any]])[0]["message"]) as! [String: Any])["content"] as? String, content)

            // max_completion_tokens wins over max_tokens.
            let both = try await client.post(
                "/v1/chat/completions",
                [
                    "messages": [["role": "user", "content": "Hi"]], "max_tokens": 9, "max_completion_tokens": 3, "temperature": 0,
                    "ignore_eos": true,
                ])
            XCTAssertEqual((both.json["usage"] as! [String: Int])["completion_tokens"], 3)
        }
    }

    func testChatLogprobsAndN() async throws {
        try await withServer { client, _ in
            let response = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 4, "logprobs": true, "top_logprobs": 2, "n": 2, "seed": 3])
            XCTAssertEqual(response.status, .ok, response.text)
            let choices = response.json["choices"] as! [[String: Any]]
            XCTAssertEqual(choices.map { $0["index"] as! Int }, [0, 1])
            let content = (choices[0]["logprobs"] as! [String: Any])["content"] as! [[String: Any]]
            XCTAssertFalse(content.isEmpty)
            XCTAssertEqual((content[0]["top_logprobs"] as! [[String: Any]]).count, 2)
            XCTAssertNotNil(content[0]["bytes"] as? [Int])
            XCTAssertLessThanOrEqual(content[0]["logprob"] as! Double, 0)

            let bad = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "top_logprobs": 2])
            XCTAssertEqual(bad.status, .badRequest)
            XCTAssertEqual(bad.error["param"] as? String, "top_logprobs")
        }
    }

    func testChatTemplateKwargsAndGenerationPrompt() async throws {
        try await withServer { client, serving in
            let withKwargs = try await client.post(
                "/tokenize", ["messages": [["role": "user", "content": "Hi"]], "chat_template_kwargs": ["greeting": "Hello"]])
            // /tokenize does not take kwargs; chat completions do: compare prompt sizes through usage.
            XCTAssertEqual(withKwargs.status, .ok)
            let plain = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 1])
            let greeted = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 1, "chat_template_kwargs": ["greeting": "Hello there"]])
            let plainCount = (plain.json["usage"] as! [String: Int])["prompt_tokens"]!
            let greetedCount = (greeted.json["usage"] as! [String: Int])["prompt_tokens"]!
            XCTAssertEqual(
                greetedCount, serving.tokenizer!.encode("user: Hi\nHello there assistant:", addSpecialTokens: false).count)
            XCTAssertGreaterThan(greetedCount, plainCount)
            let noPrompt = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 1, "add_generation_prompt": false])
            XCTAssertEqual(
                (noPrompt.json["usage"] as! [String: Int])["prompt_tokens"],
                serving.tokenizer!.encode("user: Hi\n", addSpecialTokens: false).count)
        }
    }

    func testChatRejections() async throws {
        try await withServer { client, _ in
            let json = try await client.post(
                "/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]], "response_format": ["type": "xml"]])
            XCTAssertEqual(json.status, .badRequest)
            XCTAssertEqual(json.error["param"] as? String, "response_format")
            let image = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "x"]]]]]])
            XCTAssertEqual(image.status, .badRequest)
            let empty = try await client.post("/v1/chat/completions", ["messages": []])
            XCTAssertEqual(empty.status, .badRequest)
            XCTAssertEqual(empty.error["param"] as? String, "messages")
            let noRole = try await client.post("/v1/chat/completions", ["messages": [["content": "Hi"]]])
            XCTAssertEqual(noRole.status, .badRequest)
        }
        // Without --chat-template the built-in model cannot chat: a clear 400, completions still work.
        try await withServer(options: ServerOptions()) { client, _ in
            let response = try await client.post("/v1/chat/completions", ["messages": [["role": "user", "content": "Hi"]]])
            XCTAssertEqual(response.status, .badRequest)
            XCTAssertTrue((response.error["message"] as? String ?? "").contains("chat template"))
            let completion = try await client.post("/v1/completions", ["prompt": "Hi", "max_tokens": 2])
            XCTAssertEqual(completion.status, .ok)
        }
    }

    /// A real model's template (Tests/Fixtures/data) renders conversations for the built-in model.
    func testRealChatTemplate() async throws {
        let path = RepositoryFiles.path("Tests/Fixtures/data/chat-templates/tinyllama-1.1b-chat.jinja")
        var options = ServerOptions()
        options.chatTemplate = try String(contentsOfFile: path, encoding: .utf8)
        try await withServer(options: options) { client, _ in
            let response = try await client.post(
                "/v1/chat/completions",
                ["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Tell a story"]], "max_tokens": 5])
            XCTAssertEqual(response.status, .ok, response.text)
            let tokenized = try await client.post(
                "/tokenize", ["messages": [["role": "user", "content": "Tell a story"]], "return_token_strs": true])
            XCTAssertGreaterThan(tokenized.json["count"] as! Int, 5)
        }
    }
}
