import Foundation

/// The OpenAPI 3.1 description of the server, served at `/openapi.json`. Written out by hand from
/// the request and response types so that it says what the server really accepts (fuzzers such as
/// schemathesis generate requests from it).
enum OpenAPIDocument {
    static func json(modelNames: [String], vocabularySize: Int, trustsRequestTemplates: Bool) -> String {
        let data = try? JSONSerialization.data(
            withJSONObject: document(modelNames: modelNames, vocabularySize: vocabularySize, trustsRequestTemplates: trustsRequestTemplates),
            options: [.sortedKeys, .withoutEscapingSlashes])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    private static func nullable(_ schema: [String: Any]) -> [String: Any] { ["anyOf": [schema, ["type": "null"]]] }
    private static var string: [String: Any] { ["type": "string"] }
    private static var integer: [String: Any] { ["type": "integer"] }
    private static var number: [String: Any] { ["type": "number"] }
    private static var boolean: [String: Any] { ["type": "boolean"] }
    private static func array(_ items: [String: Any]) -> [String: Any] { ["type": "array", "items": items] }

    private static func jsonBody(_ schema: [String: Any]) -> [String: Any] {
        ["required": true, "content": ["application/json": ["schema": schema]]]
    }

    private static func responses(
        _ ok: [String: Any], okType: String = "application/json", streams: Bool = false, errors: [Int]
    ) -> [String: Any] {
        var content: [String: Any] = [okType: ["schema": ok]]
        // Schemathesis and other readers see each server-sent event as an object with its `data`.
        if streams { content["text/event-stream"] = ["schema": ["type": "object", "required": ["data"], "properties": ["data": string]]] }
        var result: [String: Any] = ["200": ["description": "Success (server-sent events when stream is true)", "content": content]]
        let descriptions = [
            400: "Invalid request (bad JSON, unknown model, invalid parameter, prompt too long)", 401: "Missing or wrong API key",
            413: "Request body too large", 415: "The body is not application/json",
            503: "Server at capacity or shutting down (see Retry-After)",
        ]
        for code in errors {
            result[String(code)] = ["description": descriptions[code] ?? "Error", "content": ["application/json": ["schema": ref("ErrorResponse")]]]
        }
        return result
    }

    private static func nonEmpty(_ schema: [String: Any]) -> [String: Any] { schema.merging(["minItems": 1]) { $1 } }

    /// A token id of the vocabulary.
    private static func tokenID(_ vocabularySize: Int) -> [String: Any] {
        ["type": "integer", "minimum": 0, "maximum": max(0, vocabularySize - 1)]
    }

    /// A regular expression for the decimal token ids 0 ..< vocabularySize (the keys of `logit_bias`).
    static func tokenIDPattern(_ vocabularySize: Int) -> String {
        let top = Array(String(max(0, vocabularySize - 1)))
        var alternatives = ["0"]
        for length in 1..<max(1, top.count) { alternatives.append(length == 1 ? "[1-9]" : "[1-9][0-9]{\(length - 1)}") }
        // Numbers as long as the largest: a prefix of it, a smaller digit, then any digits.
        for (i, digit) in top.enumerated() {
            let low = i == 0 ? 1 : 0
            guard let d = digit.wholeNumberValue, d - 1 >= low else { continue }
            let rest = top.count - i - 1
            alternatives.append(String(top[..<i]) + "[\(low)-\(d - 1)]" + (rest > 0 ? "[0-9]{\(rest)}" : ""))
        }
        if top != ["0"] { alternatives.append(String(top)) }
        return "^(" + alternatives.joined(separator: "|") + ")$"
    }

    /// The largest number the engine takes (it samples in Float).
    private static let floatLimit = Double(Float.greatestFiniteMagnitude)

    /// Sampling fields shared by both generation endpoints (OpenAI's and vLLM's extras).
    private static func samplingProperties(_ modelNames: [String], vocabularySize: Int) -> [String: Any] {
        [
            "model": ["enum": (modelNames as [Any]) + [NSNull()]], "n": nullable(["type": "integer", "minimum": 1, "maximum": 128]),
            "temperature": nullable(["type": "number", "minimum": 0, "maximum": floatLimit]),
            "top_p": nullable(["type": "number", "exclusiveMinimum": 0, "maximum": 1]),
            "top_k": nullable(["type": "integer", "minimum": -1]), "min_p": nullable(["type": "number", "minimum": 0, "maximum": 1]),
            "seed": nullable(integer),
            "presence_penalty": nullable(["type": "number", "minimum": -2, "maximum": 2]),
            "frequency_penalty": nullable(["type": "number", "minimum": -2, "maximum": 2]),
            "repetition_penalty": nullable(["type": "number", "exclusiveMinimum": 0, "maximum": floatLimit]),
            "logit_bias": nullable([
                "type": "object", "propertyNames": ["pattern": tokenIDPattern(vocabularySize)],
                "additionalProperties": ["type": "number", "minimum": -100, "maximum": 100],
            ]),
            "stop": nullable(["anyOf": [["type": "string", "minLength": 1], ["type": "array", "items": ["type": "string", "minLength": 1], "maxItems": 1024]]]),
            "stop_token_ids": nullable(["type": "array", "items": ["type": "integer", "minimum": 0, "maximum": max(0, vocabularySize - 1)], "maxItems": 1024]), "include_stop_str_in_output": nullable(boolean),
            "ignore_eos": nullable(boolean), "max_tokens": nullable(["type": "integer", "minimum": 1]),
            "min_tokens": nullable(["type": "integer", "minimum": 0]), "skip_special_tokens": nullable(boolean),
            "spaces_between_special_tokens": nullable(boolean), "stream": nullable(boolean),
            "stream_options": nullable(ref("StreamOptions")),
            "use_beam_search": ["anyOf": [boolean, ["type": "null"]], "description": "beam search with width n (not streamed)"],
            "length_penalty": nullable(["type": "number", "minimum": -floatLimit, "maximum": floatLimit]), "priority": nullable(integer), "user": nullable(string),
            "response_format": nullable(ref("ResponseFormat")), "structured_outputs": nullable(ref("StructuredOutputs")),
            "add_special_tokens": nullable(boolean),
            "request_id": nullable(["type": "string", "maxLength": 256]), "echo": nullable(boolean),
        ]
    }

    static func document(modelNames: [String], vocabularySize: Int, trustsRequestTemplates: Bool) -> [String: Any] {
        let modelName = modelNames.first ?? "model"
        let samplingProperties = samplingProperties(modelNames, vocabularySize: vocabularySize)
        var completion = samplingProperties
        completion["prompt"] = [
            // Empty prompts are refused (as vLLM refuses them).
            "anyOf": [
                ["type": "string", "minLength": 1], nonEmpty(array(["type": "string", "minLength": 1])), nonEmpty(array(tokenID(vocabularySize))),
                nonEmpty(array(nonEmpty(array(tokenID(vocabularySize))))),
            ]
        ]
        completion["suffix"] = ["type": "null", "description": "not served"]
        completion["best_of"] = nullable(integer)
        completion["logprobs"] = nullable(["type": "integer", "minimum": 0, "maximum": 20])
        completion["return_tokens_as_token_ids"] = nullable(boolean)
        var chat = samplingProperties
        chat["messages"] = ["type": "array", "items": ref("ChatMessage"), "minItems": 1]
        chat["logprobs"] = nullable(boolean)
        chat["top_logprobs"] = nullable(["type": "integer", "minimum": 0, "maximum": 20])
        chat["max_completion_tokens"] = nullable(["type": "integer", "minimum": 1])
        chat["add_generation_prompt"] = nullable(boolean)
        chat["continue_final_message"] = nullable(boolean)
        if trustsRequestTemplates {
            chat["chat_template"] = nullable(string)
            chat["chat_template_kwargs"] = nullable(["type": "object"])
        } else {
            // Refused unless the server runs with --trust-request-chat-template.
            chat["chat_template"] = ["type": "null"]
            chat["chat_template_kwargs"] = nullable(["type": "object", "not": ["required": ["chat_template"]]])
        }
        chat["tools"] = nullable(array(ref("Tool")))
        chat["tool_choice"] = nullable([
            "anyOf": [
                ["type": "string", "enum": ["none", "auto", "required"]],
                [
                    "type": "object", "required": ["function"],
                    "properties": ["type": ["const": "function"], "function": ["type": "object", "required": ["name"], "properties": ["name": string]]],
                ],
            ]
        ])
        chat["parallel_tool_calls"] = nullable(boolean)
        let usage: [String: Any] = [
            "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": ["prompt_tokens": integer, "completion_tokens": integer, "total_tokens": integer],
        ]
        let schemas: [String: Any] = [
            "ErrorResponse": [
                "type": "object", "required": ["error"],
                "properties": [
                    "error": [
                        "type": "object", "required": ["message", "type", "code"],
                        "properties": ["message": string, "type": string, "param": nullable(string), "code": integer],
                    ]
                ],
            ],
            "StreamOptions": ["type": "object", "properties": ["include_usage": nullable(boolean), "continuous_usage_stats": nullable(boolean)]],
            "ResponseFormat": [
                "type": "object", "required": ["type"],
                "properties": [
                    "type": ["type": "string", "enum": ["text", "json_object", "json_schema"]],
                    "json_schema": ["type": "object", "properties": ["name": string, "schema": ["type": "object"], "strict": nullable(boolean)]],
                ],
            ],
            "StructuredOutputs": [
                "type": "object", "description": "one of json (a JSON schema), regex, choice, grammar (EBNF) or json_object",
                "properties": [
                    "json": ["type": "object"], "regex": string, "choice": ["type": "array", "items": string], "grammar": string, "json_object": boolean,
                    "disable_any_whitespace": boolean,
                ],
            ],
            "Tool": [
                "type": "object", "required": ["function"],
                "properties": [
                    "type": ["const": "function"],
                    "function": [
                        "type": "object", "required": ["name"],
                        "properties": ["name": ["type": "string", "minLength": 1], "description": nullable(string), "parameters": nullable(["type": "object"])],
                    ],
                ],
            ],
            "ToolCall": [
                "type": "object", "required": ["function"],
                "properties": [
                    "index": integer, "id": string, "type": ["const": "function"],
                    "function": ["type": "object", "properties": ["name": string, "arguments": string]],
                ],
            ],
            "ContentPart": ["type": "object", "required": ["type", "text"], "properties": ["type": ["type": "string", "enum": ["text"]], "text": string]],
            "ChatMessage": [
                "type": "object", "required": ["role"],
                "properties": [
                    // Any role: templates define their own (Llama's "ipython", ...), as vLLM allows.
                    "role": string,
                    // Other fields (name, ...) go to the template as they are.
                    "content": ["anyOf": [string, array(ref("ContentPart")), ["type": "null"]]],
                    // An assistant's calls (arguments: a JSON object's text, given to the template
                    // parsed) and the id a tool message answers.
                    "tool_calls": nullable(array(ref("ToolCall"))),
                    "tool_call_id": nullable(string),
                ],
            ],
            "CompletionRequest": ["type": "object", "required": ["prompt"], "properties": completion],
            "ChatCompletionRequest": [
                "type": "object", "required": ["messages"], "properties": chat,
                // top_logprobs needs logprobs: true, as vLLM requires.
                "if": ["required": ["top_logprobs"], "properties": ["top_logprobs": integer]],
                "then": ["required": ["logprobs"], "properties": ["logprobs": ["const": true]]],
            ],
            "Usage": usage,
            "CompletionResponse": [
                "type": "object", "required": ["id", "object", "created", "model", "choices"],
                "properties": [
                    "id": string, "object": string, "created": integer, "model": string, "usage": ref("Usage"),
                    "choices": array([
                        "type": "object", "required": ["index", "text"],
                        "properties": ["index": integer, "text": string, "finish_reason": nullable(string), "logprobs": nullable(["type": "object"])],
                    ]),
                ],
            ],
            "ChatCompletionResponse": [
                "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
                "properties": [
                    "id": string, "object": string, "created": integer, "model": string, "usage": ref("Usage"),
                    "choices": array([
                        "type": "object", "required": ["index", "message"],
                        "properties": [
                            "index": integer, "finish_reason": nullable(string), "logprobs": nullable(["type": "object"]),
                            "message": [
                                "type": "object",
                                "properties": [
                                    "role": string, "content": nullable(string), "reasoning_content": nullable(string), "reasoning": nullable(string),
                                    "tool_calls": array(ref("ToolCall")),
                                ],
                            ],
                        ],
                    ]),
                ],
            ],
            "ModelList": [
                "type": "object", "required": ["object", "data"],
                "properties": [
                    "object": string,
                    "data": array([
                        "type": "object", "required": ["id", "object"],
                        "properties": ["id": string, "object": string, "created": integer, "owned_by": string, "max_model_len": integer],
                    ]),
                ],
            ],
            "TokenizeRequest": [
                // A prompt (and no messages), or messages (and a null prompt or none).
                "type": "object",
                "oneOf": [
                    ["required": ["prompt"], "properties": ["prompt": string], "not": ["required": ["messages"]]],
                    ["required": ["messages"], "properties": ["prompt": ["type": "null"], "messages": ["type": "array"]]],
                ],
                "properties": [
                    "model": ["enum": (modelNames as [Any]) + [NSNull()]], "prompt": nullable(string), "messages": ["type": "array", "items": ref("ChatMessage"), "minItems": 1],
                    "add_special_tokens": nullable(boolean), "add_generation_prompt": nullable(boolean),
                    "return_token_strs": nullable(boolean),
                ],
            ],
            "TokenizeResponse": [
                "type": "object", "required": ["count", "max_model_len", "tokens"],
                "properties": ["count": integer, "max_model_len": integer, "tokens": array(integer), "token_strs": array(string)],
            ],
            "DetokenizeRequest": [
                "type": "object", "required": ["tokens"],
                "properties": ["model": ["enum": (modelNames as [Any]) + [NSNull()]], "tokens": array(["type": "integer", "minimum": 0, "maximum": max(0, vocabularySize - 1)])],
            ],
            "DetokenizeResponse": ["type": "object", "required": ["prompt"], "properties": ["prompt": string]],
        ]
        let generationErrors = [400, 401, 413, 415, 503]
        let paths: [String: Any] = [
            "/v1/completions": [
                "post": [
                    "summary": "Create a completion (stream: server-sent events)", "operationId": "createCompletion",
                    "requestBody": jsonBody(ref("CompletionRequest")),
                    "responses": responses(ref("CompletionResponse"), streams: true, errors: generationErrors),
                ]
            ],
            "/v1/chat/completions": [
                "post": [
                    "summary": "Create a chat completion (stream: server-sent events)", "operationId": "createChatCompletion",
                    "requestBody": jsonBody(ref("ChatCompletionRequest")),
                    "responses": responses(ref("ChatCompletionResponse"), streams: true, errors: generationErrors),
                ]
            ],
            "/v1/models": ["get": ["summary": "List the served models", "operationId": "listModels", "responses": responses(ref("ModelList"), errors: [401])]],
            "/tokenize": [
                "post": [
                    "summary": "Tokenize a prompt or chat messages", "operationId": "tokenize", "requestBody": jsonBody(ref("TokenizeRequest")),
                    "responses": responses(ref("TokenizeResponse"), errors: [400, 401, 413, 415]),
                ]
            ],
            "/detokenize": [
                "post": [
                    "summary": "Turn token ids into text", "operationId": "detokenize", "requestBody": jsonBody(ref("DetokenizeRequest")),
                    "responses": responses(ref("DetokenizeResponse"), errors: [400, 401, 413, 415]),
                ]
            ],
            "/health": ["get": ["summary": "Liveness", "operationId": "health", "responses": ["200": ["description": "The server is up"]]]],
            "/version": [
                "get": [
                    "summary": "Server version", "operationId": "version",
                    "responses": responses(["type": "object", "properties": ["version": string]], errors: []),
                ]
            ],
            "/metrics": [
                "get": ["summary": "Prometheus metrics", "operationId": "metrics", "responses": responses(string, okType: "text/plain", errors: [])]
            ],
        ]
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "swift-vllm OpenAI-compatible server", "version": vllmServerVersion,
                "description": "OpenAI-compatible API serving \(modelName).",
            ],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
            ],
        ]
    }
}
