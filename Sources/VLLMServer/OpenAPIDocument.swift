import Foundation

/// The OpenAPI 3.1 description of the server, served at `/openapi.json`. Written out by hand from
/// the request and response types so that it says what the server really accepts and returns:
/// fuzzers such as schemathesis generate requests from it and check every answer against it
/// (`Tests/python/test_schemathesis.py` runs all of schemathesis' checks).
///
/// Every rule on a single field (ranges, lengths, enums, token ids inside the vocabulary, the
/// server's own limits) and every rule between fields that JSON Schema can state (`top_logprobs`
/// needs `logprobs`, `echo` excludes `logprobs`, at most one structured-output constraint, ...)
/// is in the schemas. What JSON Schema cannot state is said in `x-vllm-constraints` of each
/// request body, and checked by the server with a 400 naming the field: token counts against the
/// context length, `min_tokens` against the effective `max_tokens`, `best_of` equal to `n`, the
/// prompts times `n` against the server's capacity, the stop strings' total size, and the
/// languages of regular expressions, grammars, JSON schemas and chat messages' order.
enum OpenAPIDocument {
    /// The numbers the document states: the model's and the server's limits.
    struct Limits {
        /// Names the `model` field accepts.
        var modelNames: [String]
        /// Token ids are `0 ..< vocabularySize`.
        var vocabularySize: Int
        /// Longest prompt plus output, in tokens.
        var maxModelLength: Int
        /// Most samples per prompt (`n`): 128, or fewer when the server holds fewer sequences.
        var maxSequences: Int
        /// Most sequences the server ever holds at once: a bound on prompts × `n`.
        var admissionLimit: Int
        /// Most `logprobs` / `top_logprobs`.
        var maxLogprobs: Int
        /// Most stop strings, their total size in characters, and most stop token ids.
        var maxStopStrings: Int
        var maxStopStringCharacters: Int
        var maxStopTokenIDs: Int
        /// Longest client `request_id`, in characters.
        var maxRequestIDLength: Int
        /// Whether `chat_template` may be sent (`--trust-request-chat-template`).
        var trustsRequestTemplates: Bool
        /// Whether `tool_choice` may be `"auto"` (`--enable-auto-tool-choice` with a `--tool-call-parser`).
        var autoToolChoice: Bool = false
        /// Whether `/v1/*`, `/tokenize`, `/detokenize` and `/reset_prefix_cache` need the API key.
        var requiresAPIKey: Bool
        /// Largest request body, in bytes.
        var maxRequestBodyBytes: Int
        /// Longest embedding input, in tokens (the context, or the step's token budget if smaller).
        var maxEmbeddingTokens: Int
        /// The model's hidden size when it serves Matryoshka `dimensions` (nil: `dimensions` refused).
        var matryoshkaDimensions: Int?
    }

    static func json(_ limits: Limits) -> String {
        let data = try? JSONSerialization.data(withJSONObject: document(limits), options: [.sortedKeys, .withoutEscapingSlashes])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }
    private static func nullable(_ schema: [String: Any]) -> [String: Any] { ["anyOf": [schema, ["type": "null"]]] }
    private static var string: [String: Any] { ["type": "string"] }
    private static var integer: [String: Any] { ["type": "integer"] }
    private static var number: [String: Any] { ["type": "number"] }
    private static var boolean: [String: Any] { ["type": "boolean"] }
    private static var null: [String: Any] { ["type": "null"] }
    private static func array(_ items: [String: Any]) -> [String: Any] { ["type": "array", "items": items] }
    private static func object(_ properties: [String: Any], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }
    /// An integer the server holds in Int64 (JSON integers or integral numbers).
    private static func int64(minimum: Int64 = .min, maximum: Int64 = .max) -> [String: Any] {
        ["type": "integer", "minimum": minimum, "maximum": maximum]
    }
    private static func int(_ minimum: Int, _ maximum: Int) -> [String: Any] {
        ["type": "integer", "minimum": minimum, "maximum": maximum]
    }
    /// Not both `a` and `b` (each present and matching its schema).
    private static func notBoth(_ a: String, _ aSchema: [String: Any], _ b: String, _ bSchema: [String: Any]) -> [String: Any] {
        ["not": ["required": [a, b], "properties": [a: aSchema, b: bSchema]]]
    }

    private static func jsonBody(_ schema: [String: Any], example: [String: Any]) -> [String: Any] {
        ["required": true, "content": ["application/json": ["schema": schema, "example": example]]]
    }

    private static let errorDescriptions = [
        400: "Invalid request (bad JSON, unknown model, invalid parameter, prompt too long)", 401: "Missing or wrong API key",
        409: "Requests are running", 413: "Request body too large", 415: "The body is not application/json",
        503: "Server at capacity or shutting down",
    ]

    /// The error answers of an operation, each an `ErrorResponse` with its headers.
    private static func errors(_ codes: [Int]) -> [String: Any] {
        var result: [String: Any] = [:]
        for code in codes {
            var response: [String: Any] = [
                "description": errorDescriptions[code] ?? "Error", "content": ["application/json": ["schema": ref("ErrorResponse")]],
            ]
            if code == 401 {
                response["headers"] = ["WWW-Authenticate": ["required": true, "schema": ["const": "Bearer"]]]
            } else if code == 503 {
                response["headers"] = [
                    "Retry-After": ["required": true, "description": "Seconds after which a retry may succeed", "schema": int(0, 3600)]
                ]
            }
            result[String(code)] = response
        }
        return result
    }

    /// A 200 with a JSON body, plus the error answers.
    private static func responses(_ ok: [String: Any], errors codes: [Int]) -> [String: Any] {
        var result = errors(codes)
        result["200"] = ["description": "Success", "content": ["application/json": ["schema": ok]]]
        return result
    }

    /// A 200 that is a JSON body, or server-sent events when the request has `"stream": true`:
    /// `data:` events holding `chunk` (or an `ErrorResponse` when the request fails after the
    /// stream began), then `data: [DONE]`.
    private static func streamingResponses(_ ok: [String: Any], chunk: [String: Any], errors codes: [Int]) -> [String: Any] {
        var result = errors(codes)
        let event: [String: Any] = [
            "type": "object", "required": ["data"],
            "properties": [
                "data": [
                    "type": "string",
                    "if": ["const": "[DONE]"],
                    "else": ["contentMediaType": "application/json", "contentSchema": ["anyOf": [chunk, ref("ErrorResponse")]]],
                ]
            ],
        ]
        result["200"] = [
            "description": "Success: a JSON body, or server-sent events when stream is true",
            "content": [
                "application/json": ["schema": ok],
                "text/event-stream": ["schema": event],
            ],
        ]
        return result
    }

    /// A token id of the vocabulary.
    private static func tokenID(_ vocabularySize: Int) -> [String: Any] { int(0, max(0, vocabularySize - 1)) }

    /// A regular expression for the decimal token ids 0 ..< vocabularySize (the keys of `logit_bias`),
    /// written as the server reads them: digits only, no sign, no leading zero.
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

    /// What the server checks beyond JSON Schema (for readers and for fuzzers' hooks).
    private static func crossFieldRules(chat: Bool, _ l: Limits) -> [String] {
        var rules = [
            "prompt tokens + max_tokens <= \(l.maxModelLength) (the prompt alone < \(l.maxModelLength))",
            "min_tokens <= max_tokens (absent max_tokens: \(chat ? "the room the prompt leaves" : "16"))",
            "the stop strings hold at most \(l.maxStopStringCharacters) characters in all",
            "structured outputs (regex, grammar, json, response_format's schema) must compile",
        ]
        if chat {
            rules += [
                "max_tokens and max_completion_tokens must both fit the context when both are given",
                "continue_final_message needs the last message to be from the assistant",
                "the chat template must render the messages",
                "each messages[].tool_calls[].function.arguments is JSON text",
                // JSON Schema could state the next two, but schemathesis' generator gives up on the
                // request body with more than four conditional rules.
                "tool_choice other than \"none\" needs tools",
            ]
            if !l.autoToolChoice {
                rules.append(
                    "non-empty tools need tool_choice \"none\", \"required\" or a named function (absent or null is \"auto\", which needs --enable-auto-tool-choice)"
                )
            }
            rules += [
                "a named tool_choice names a function of tools",
                "tool_choice \"required\" with tools, or a named function, constrains the output itself: not with response_format json_object or json_schema or a structured_outputs constraint, and the tools' parameters must be JSON schemas the server compiles",
            ]
        } else {
            rules += [
                "best_of, when given, equals n (1 when n is absent)",
                "the number of prompts times n <= \(l.admissionLimit)",
            ]
        }
        return rules
    }

    /// Sampling fields shared by both generation endpoints (OpenAI's and vLLM's extras).
    private static func samplingProperties(_ l: Limits) -> [String: Any] {
        let room = max(1, l.maxModelLength - 1)
        let stopString: [String: Any] = ["type": "string", "minLength": 1, "maxLength": l.maxStopStringCharacters]
        return [
            "model": ["enum": (l.modelNames as [Any]) + [NSNull()]], "n": nullable(int(1, l.maxSequences)),
            "temperature": nullable(["type": "number", "minimum": 0, "maximum": floatLimit]),
            "top_p": nullable(["type": "number", "exclusiveMinimum": 0, "maximum": 1]),
            "top_k": nullable(int64(minimum: -1)), "min_p": nullable(["type": "number", "minimum": 0, "maximum": 1]),
            "seed": nullable(int64()),
            "presence_penalty": nullable(["type": "number", "minimum": -2, "maximum": 2]),
            "frequency_penalty": nullable(["type": "number", "minimum": -2, "maximum": 2]),
            "repetition_penalty": nullable(["type": "number", "exclusiveMinimum": 0, "maximum": floatLimit]),
            "logit_bias": nullable([
                "type": "object", "propertyNames": ["pattern": tokenIDPattern(l.vocabularySize)],
                "additionalProperties": ["type": "number", "minimum": -100, "maximum": 100],
            ]),
            "stop": nullable(["anyOf": [stopString, ["type": "array", "items": stopString, "maxItems": l.maxStopStrings]]]),
            "stop_token_ids": nullable(["type": "array", "items": tokenID(l.vocabularySize), "maxItems": l.maxStopTokenIDs]),
            "include_stop_str_in_output": nullable(boolean),
            "ignore_eos": nullable(boolean),
            "max_tokens": nullable(int(1, room)),
            "min_tokens": nullable(int(0, room)), "skip_special_tokens": nullable(boolean),
            "spaces_between_special_tokens": nullable(boolean), "stream": nullable(boolean),
            "stream_options": nullable(ref("StreamOptions")),
            "use_beam_search": ["anyOf": [boolean, null], "description": "beam search with width n (not streamed)"],
            "length_penalty": nullable(["type": "number", "minimum": -floatLimit, "maximum": floatLimit]),
            "priority": nullable(int64()), "user": nullable(string),
            "response_format": nullable(ref("ResponseFormat")), "structured_outputs": nullable(ref("StructuredOutputs")),
            "add_special_tokens": nullable(boolean),
            "request_id": nullable(["type": "string", "maxLength": l.maxRequestIDLength]), "echo": nullable(boolean),
            "prompt_logprobs": ["type": "null", "description": "not served (prompt log-probabilities are not computed)"],
        ]
    }

    /// The rules between sampling fields that JSON Schema states.
    private static var samplingRules: [[String: Any]] {
        [
            // Beam search is not streamed.
            notBoth("use_beam_search", ["const": true], "stream", ["const": true]),
            // One output constraint at most (structured_outputs may still disable_any_whitespace).
            notBoth(
                "response_format", ["type": "object"], "structured_outputs",
                [
                    "type": "object",
                    "anyOf": StructuredOutputFields.constraintFields.map { field -> [String: Any] in
                        ["required": [field], "properties": [field: ["not": null]]]
                    },
                ]),
        ]
    }

    static func document(_ l: Limits) -> [String: Any] {
        let modelName = l.modelNames.first ?? "model"
        let sampling = samplingProperties(l)
        let vocabulary = l.vocabularySize
        let promptTokens: [String: Any] = [
            "type": "array", "items": tokenID(vocabulary), "minItems": 1, "maxItems": max(1, l.maxModelLength - 1),
        ]
        let embeddingTokens: [String: Any] = [
            "type": "array", "items": tokenID(vocabulary), "minItems": 1, "maxItems": max(1, l.maxEmbeddingTokens),
        ]
        var completion = sampling
        completion["prompt"] = [
            // Empty prompts are refused (as vLLM refuses them).
            "anyOf": [
                ["type": "string", "minLength": 1],
                ["type": "array", "items": ["type": "string", "minLength": 1], "minItems": 1, "maxItems": l.admissionLimit],
                promptTokens,
                ["type": "array", "items": promptTokens, "minItems": 1, "maxItems": l.admissionLimit],
            ]
        ]
        completion["suffix"] = ["type": "null", "description": "not served"]
        completion["best_of"] = nullable(int(1, l.maxSequences))
        completion["logprobs"] = nullable(int(0, l.maxLogprobs))
        completion["return_tokens_as_token_ids"] = nullable(boolean)
        var chat = sampling
        let room = max(1, l.maxModelLength - 1)
        chat["messages"] = ["type": "array", "items": ref("ChatMessage"), "minItems": 1]
        chat["logprobs"] = nullable(boolean)
        chat["top_logprobs"] = nullable(int(0, l.maxLogprobs))
        chat["max_completion_tokens"] = nullable(int(1, room))
        chat["add_generation_prompt"] = nullable(boolean)
        chat["continue_final_message"] = nullable(boolean)
        // Refused unless the server runs with --trust-request-chat-template.
        let templateKwargs = nullable(
            l.trustsRequestTemplates ? ["type": "object"] : ["type": "object", "not": ["required": ["chat_template"]]])
        chat["chat_template"] =
            l.trustsRequestTemplates
            ? nullable(string) : ["type": "null", "description": "refused unless the server trusts request templates"]
        chat["chat_template_kwargs"] = templateKwargs
        chat["tools"] = nullable(array(ref("Tool")))
        // "auto" needs --enable-auto-tool-choice (and a --tool-call-parser).
        let namedChoice = object(
            ["type": ["const": "function"], "function": object(["name": ["type": "string", "minLength": 1]], required: ["name"])],
            required: ["function"])
        chat["tool_choice"] = nullable([
            "anyOf": [["type": "string", "enum": l.autoToolChoice ? ["none", "auto", "required"] : ["none", "required"]], namedChoice]
        ])
        chat["parallel_tool_calls"] = nullable(boolean)
        let usage: [String: Any] = [
            "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": [
                "prompt_tokens": int(0, Int(Int32.max)), "completion_tokens": int(0, Int(Int32.max)),
                "total_tokens": int(0, Int(Int32.max)),
            ],
        ]
        let finishReason = nullable(["type": "string", "enum": ["stop", "length", "abort", "tool_calls"]])
        let stopReason: [String: Any] = [
            "anyOf": [integer, string, null], "description": "the stop token id or stop string, null for EOS or length",
        ]
        let completionLogprobs = nullable(
            object(
                [
                    "text_offset": array(int(0, Int(Int32.max))), "token_logprobs": array(nullable(number)), "tokens": array(string),
                    "top_logprobs": array(nullable(["type": "object", "additionalProperties": number])),
                ], required: ["text_offset", "token_logprobs", "tokens", "top_logprobs"]))
        let tokenLogprob = object(["token": string, "logprob": number, "bytes": array(int(0, 255))], required: ["token", "logprob"])
        let chatLogprobs = nullable(
            object([
                "content": nullable(
                    array(
                        object(
                            ["token": string, "logprob": number, "bytes": array(int(0, 255)), "top_logprobs": array(tokenLogprob)],
                            required: ["token", "logprob", "top_logprobs"])))
            ]))
        let completionChoice = object(
            [
                "index": int(0, Int(Int32.max)), "text": string, "logprobs": completionLogprobs, "finish_reason": finishReason,
                "stop_reason": stopReason,
            ],
            required: ["index", "text", "logprobs", "finish_reason", "stop_reason"])
        let responseHead: [String: Any] = ["id": string, "created": integer, "model": ["type": "string", "enum": [modelName]]]
        func merged(_ a: [String: Any], _ b: [String: Any]) -> [String: Any] { a.merging(b) { $1 } }
        let jsonSchemaFormat = object([
            "name": string, "description": nullable(string),
            "schema": nullable(["type": "object", "description": "a JSON schema the output follows"]),
            "strict": nullable(boolean),
        ])
        let schemas: [String: Any] = [
            "ErrorResponse": [
                "type": "object", "required": ["error"],
                "properties": [
                    "error": object(
                        ["message": string, "type": string, "param": nullable(string), "code": int(400, 599)],
                        required: ["message", "type", "param", "code"])
                ],
            ],
            "StreamOptions": object(["include_usage": nullable(boolean), "continuous_usage_stats": nullable(boolean)]),
            "ResponseFormat": [
                "type": "object", "required": ["type"],
                "properties": [
                    "type": ["type": "string", "enum": ["text", "json_object", "json_schema"]],
                    "json_schema": nullable(jsonSchemaFormat),
                ],
                // json_schema needs its schema.
                "if": ["properties": ["type": ["const": "json_schema"]]],
                "then": [
                    "required": ["json_schema"],
                    "properties": [
                        "json_schema": ["type": "object", "required": ["schema"], "properties": ["schema": ["type": "object"]]]
                    ],
                ],
            ],
            "StructuredOutputs": [
                "type": "object",
                "description": "at most one of json (a JSON schema, or its JSON text), regex, choice, grammar (EBNF) and json_object: true",
                "properties": [
                    "json": ["anyOf": [["type": "object"], string, null]], "regex": nullable(string),
                    "choice": nullable(["type": "array", "items": string, "minItems": 1]), "grammar": nullable(string),
                    "json_object": nullable(boolean),
                    // JSON grammars write compact JSON (a response_format schema too).
                    "disable_any_whitespace": nullable(boolean),
                ],
                "allOf": structuredOutputPairs(),
            ],
            "Tool": object(
                [
                    "type": ["const": "function"],
                    "function": object(
                        [
                            "name": ["type": "string", "minLength": 1], "description": nullable(string),
                            "parameters": nullable(["type": "object", "description": "a JSON schema of the arguments"]),
                        ], required: ["name"]),
                ], required: ["function"]),
            // A call in an assistant message (arguments: a JSON object's text) or in a response.
            "ToolCall": object(
                [
                    "id": string, "type": ["const": "function"],
                    "function": object(["name": string, "arguments": string], required: ["name", "arguments"]),
                ], required: ["function"]),
            "ContentPart": object(
                ["type": ["type": "string", "enum": ["text", "input_text"]], "text": string], required: ["type", "text"]),
            "ChatMessage": [
                "type": "object", "required": ["role"],
                "properties": [
                    // Any role: templates define their own (Llama's "ipython", ...), as vLLM allows.
                    "role": string,
                    // Other fields (name, ...) go to the template as they are.
                    "content": ["anyOf": [string, array(ref("ContentPart")), null]],
                    // An assistant's calls (arguments given to the template parsed) and the id a
                    // tool message answers.
                    "tool_calls": nullable(array(ref("ToolCall"))),
                    "tool_call_id": nullable(string),
                ],
            ],
            "CompletionRequest": [
                "type": "object", "required": ["prompt"], "properties": completion,
                "allOf": samplingRules + [
                    // Prompt log-probabilities are not computed, so echo cannot carry them.
                    notBoth("echo", ["const": true], "logprobs", integer)
                ],
                "x-vllm-constraints": crossFieldRules(chat: false, l),
            ],
            "ChatCompletionRequest": [
                "type": "object", "required": ["messages"], "properties": chat,
                "allOf": samplingRules + [
                    // top_logprobs needs logprobs: true, as vLLM requires.
                    [
                        "if": ["required": ["top_logprobs"], "properties": ["top_logprobs": integer]],
                        "then": ["required": ["logprobs"], "properties": ["logprobs": ["const": true]]],
                    ],
                    notBoth("continue_final_message", ["const": true], "add_generation_prompt", ["const": true]),
                ],
                "x-vllm-constraints": crossFieldRules(chat: true, l),
            ],
            "Usage": usage,
            "CompletionResponse": object(
                merged(responseHead, ["object": ["const": "text_completion"], "usage": ref("Usage"), "choices": array(completionChoice)]),
                required: ["id", "object", "created", "model", "choices", "usage"]),
            "CompletionChunk": object(
                merged(responseHead, ["object": ["const": "text_completion"], "usage": ref("Usage"), "choices": array(completionChoice)]),
                required: ["id", "object", "created", "model", "choices"]),
            "ChatCompletionResponse": object(
                merged(
                    responseHead,
                    [
                        "object": ["const": "chat.completion"], "usage": ref("Usage"),
                        "choices": array(
                            object(
                                [
                                    "index": int(0, Int(Int32.max)), "finish_reason": finishReason, "logprobs": chatLogprobs,
                                    "stop_reason": stopReason,
                                    "message": object(
                                        [
                                            "role": ["const": "assistant"], "content": nullable(string),
                                            "reasoning_content": nullable(string), "reasoning": nullable(string),
                                            "tool_calls": array(
                                                object(
                                                    [
                                                        "id": string, "type": ["const": "function"],
                                                        "function": object(
                                                            ["name": string, "arguments": string], required: ["name", "arguments"]),
                                                    ], required: ["id", "type", "function"])),
                                        ],
                                        required: ["role", "content", "tool_calls"]),
                                ], required: ["index", "message", "logprobs", "finish_reason", "stop_reason"])),
                    ]),
                required: ["id", "object", "created", "model", "choices", "usage"]),
            "ChatCompletionChunk": object(
                merged(
                    responseHead,
                    [
                        "object": ["const": "chat.completion.chunk"], "usage": ref("Usage"),
                        "choices": array(
                            object(
                                [
                                    "index": int(0, Int(Int32.max)), "finish_reason": finishReason, "logprobs": chatLogprobs,
                                    "stop_reason": stopReason,
                                    "delta": object([
                                        "role": ["const": "assistant"], "content": string, "reasoning_content": string, "reasoning": string,
                                        // index always; id, type and name on a call's first piece only.
                                        "tool_calls": array(
                                            object(
                                                [
                                                    "index": int(0, Int(Int32.max)), "id": string, "type": ["const": "function"],
                                                    "function": object(["name": string, "arguments": string], required: ["arguments"]),
                                                ], required: ["index", "function"])),
                                    ]),
                                ], required: ["index", "delta", "logprobs", "finish_reason"])),
                    ]),
                required: ["id", "object", "created", "model", "choices"]),
            "ModelList": object(
                [
                    "object": ["const": "list"],
                    "data": array(
                        object(
                            [
                                "id": ["type": "string", "enum": l.modelNames], "object": ["const": "model"], "created": integer,
                                "owned_by": string, "root": string, "max_model_len": ["const": l.maxModelLength],
                            ], required: ["id", "object", "created", "owned_by", "root", "max_model_len"])),
                ], required: ["object", "data"]),
            "TokenizeRequest": [
                // A prompt (and no messages), or messages (and no prompt).
                "type": "object",
                "properties": [
                    "model": ["enum": (l.modelNames as [Any]) + [NSNull()]], "prompt": nullable(string),
                    "messages": nullable(["type": "array", "items": ref("ChatMessage"), "minItems": 1]),
                    "add_special_tokens": nullable(boolean), "add_generation_prompt": nullable(boolean),
                    "return_token_strs": nullable(boolean),
                    // The chat template sees these as chat completions do.
                    "chat_template_kwargs": templateKwargs, "tools": nullable(array(["type": "object"])),
                ],
                "oneOf": [
                    ["required": ["prompt"], "properties": ["prompt": string]],
                    ["required": ["messages"], "properties": ["messages": ["type": "array"]]],
                ],
                "x-vllm-constraints": [
                    "the chat template must render the messages", "each messages[].tool_calls[].function.arguments is JSON text",
                ],
            ],
            "TokenizeResponse": object(
                [
                    "count": int(0, Int(Int32.max)), "max_model_len": ["const": l.maxModelLength], "tokens": array(tokenID(vocabulary)),
                    "token_strs": array(string),
                ], required: ["count", "max_model_len", "tokens"]),
            "DetokenizeRequest": object(
                ["model": ["enum": (l.modelNames as [Any]) + [NSNull()]], "tokens": array(tokenID(vocabulary))], required: ["tokens"]),
            "DetokenizeResponse": object(["prompt": string], required: ["prompt"]),
            "Version": object(["version": string], required: ["version"]),
            "EmbeddingRequest": [
                "type": "object", "required": ["input"],
                "properties": [
                    "model": ["enum": (l.modelNames as [Any]) + [NSNull()]],
                    "input": [
                        "anyOf": [
                            string, ["type": "array", "items": string, "minItems": 1, "maxItems": l.admissionLimit], embeddingTokens,
                            ["type": "array", "items": embeddingTokens, "minItems": 1, "maxItems": l.admissionLimit],
                        ]
                    ],
                    "encoding_format": nullable(["type": "string", "enum": ["float", "base64"]]),
                    "dimensions": l.matryoshkaDimensions.map { nullable(int(1, $0)) } ?? [
                        "type": "null", "description": "the model is not a Matryoshka model",
                    ],
                    "user": nullable(string), "add_special_tokens": nullable(boolean), "normalize": nullable(boolean),
                ],
                "x-vllm-constraints": ["each input is 1 to \(l.maxEmbeddingTokens) tokens"],
            ],
            "EmbeddingResponse": object(
                merged(
                    responseHead,
                    [
                        "object": ["const": "list"], "usage": ref("Usage"),
                        "data": array(
                            object(
                                [
                                    "index": int(0, Int(Int32.max)), "object": ["const": "embedding"],
                                    "embedding": ["anyOf": [array(number), ["type": "string", "contentEncoding": "base64"]]],
                                ], required: ["index", "object", "embedding"])),
                    ]),
                required: ["id", "object", "created", "model", "data", "usage"]),
        ]
        // Every request body may be refused for its size or media type, and every protected
        // operation for its key.
        let auth = l.requiresAPIKey ? [401] : []
        let bodyErrors = [400] + auth + [413, 415]
        let open: [String: Any] = l.requiresAPIKey ? ["security": [] as [Any]] : [:]
        func operation(_ fields: [String: Any], isOpen: Bool = false) -> [String: Any] { isOpen ? fields.merging(open) { $1 } : fields }
        let paths: [String: Any] = [
            "/v1/completions": [
                "post": operation([
                    "summary": "Create a completion (stream: server-sent events)", "operationId": "createCompletion",
                    "requestBody": jsonBody(
                        ref("CompletionRequest"), example: ["prompt": "Once upon a time", "max_tokens": 8, "temperature": 0]),
                    "responses": streamingResponses(ref("CompletionResponse"), chunk: ref("CompletionChunk"), errors: bodyErrors + [503]),
                ])
            ],
            "/v1/chat/completions": [
                "post": operation([
                    "summary": "Create a chat completion (stream: server-sent events)", "operationId": "createChatCompletion",
                    "requestBody": jsonBody(
                        ref("ChatCompletionRequest"),
                        example: ["messages": [["role": "user", "content": "Tell me a story"]], "max_completion_tokens": 8]),
                    "responses": streamingResponses(
                        ref("ChatCompletionResponse"), chunk: ref("ChatCompletionChunk"), errors: bodyErrors + [503]),
                ])
            ],
            "/v1/embeddings": [
                "post": operation([
                    "summary": "Embed text or token ids", "operationId": "createEmbedding",
                    "requestBody": jsonBody(ref("EmbeddingRequest"), example: ["input": "Once upon a time"]),
                    "responses": responses(ref("EmbeddingResponse"), errors: bodyErrors + [503]),
                ])
            ],
            "/v1/models": [
                "get": operation([
                    "summary": "List the served models", "operationId": "listModels",
                    "responses": responses(ref("ModelList"), errors: auth),
                ])
            ],
            "/tokenize": [
                "post": operation([
                    "summary": "Tokenize a prompt or chat messages", "operationId": "tokenize",
                    "requestBody": jsonBody(ref("TokenizeRequest"), example: ["prompt": "Once upon a time"]),
                    "responses": responses(ref("TokenizeResponse"), errors: bodyErrors),
                ])
            ],
            "/detokenize": [
                "post": operation([
                    "summary": "Turn token ids into text", "operationId": "detokenize",
                    "requestBody": jsonBody(ref("DetokenizeRequest"), example: ["tokens": [1, 2]]),
                    "responses": responses(ref("DetokenizeResponse"), errors: bodyErrors),
                ])
            ],
            "/reset_prefix_cache": [
                "post": operation([
                    "summary": "Forget every cached prefix (only while no request runs)", "operationId": "resetPrefixCache",
                    "responses": errors(auth + [409]).merging(["200": ["description": "The prefix cache is empty"]]) { $1 },
                ])
            ],
            "/health": [
                "get": operation(
                    ["summary": "Liveness", "operationId": "health", "responses": ["200": ["description": "The server is up"]]],
                    isOpen: true)
            ],
            "/ping": [
                "get": operation(
                    ["summary": "Liveness (SageMaker)", "operationId": "ping", "responses": ["200": ["description": "The server is up"]]],
                    isOpen: true),
                "post": operation(
                    [
                        "summary": "Liveness (SageMaker)", "operationId": "pingPost",
                        "responses": ["200": ["description": "The server is up"]],
                    ], isOpen: true),
            ],
            "/version": [
                "get": operation(
                    ["summary": "Server version", "operationId": "version", "responses": responses(ref("Version"), errors: [])],
                    isOpen: true)
            ],
            "/metrics": [
                "get": operation(
                    [
                        "summary": "Prometheus metrics", "operationId": "metrics",
                        "responses": ["200": ["description": "Prometheus text format", "content": ["text/plain": ["schema": string]]]],
                    ], isOpen: true)
            ],
            "/openapi.json": [
                "get": operation(
                    [
                        "summary": "This document", "operationId": "openapi",
                        "responses": responses(["type": "object", "required": ["openapi", "info", "paths"]], errors: []),
                    ], isOpen: true)
            ],
        ]
        var document: [String: Any] = [
            "openapi": "3.1.0",
            "info": [
                "title": "swift-vllm OpenAI-compatible server", "version": vllmServerVersion,
                "description":
                    "OpenAI-compatible API serving \(modelName). Request bodies are at most \(l.maxRequestBodyBytes) bytes of application/json.",
                // The numbers behind `x-vllm-constraints`, for clients and fuzzers' hooks.
                "x-vllm-limits": [
                    "max_model_len": l.maxModelLength, "max_sequences": l.admissionLimit, "max_n": l.maxSequences,
                    "max_stop_characters": l.maxStopStringCharacters, "vocab_size": l.vocabularySize,
                    "max_request_body_bytes": l.maxRequestBodyBytes, "max_embedding_tokens": l.maxEmbeddingTokens,
                    "auto_tool_choice": l.autoToolChoice,
                ],
            ],
            "paths": paths,
            "components": ["schemas": schemas],
        ]
        if l.requiresAPIKey {
            document["components"] = ["schemas": schemas, "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]]]
            document["security"] = [["bearer": [] as [Any]]]
        }
        return document
    }

    /// `structured_outputs` takes at most one constraint: no two of its fields may both be set.
    private static func structuredOutputPairs() -> [[String: Any]] {
        let set: [(String, [String: Any])] = [
            ("json", ["not": null]), ("regex", string), ("choice", ["type": "array"]), ("grammar", string),
            ("json_object", ["const": true]),
        ]
        var rules: [[String: Any]] = []
        for i in set.indices {
            for j in set.indices where j > i { rules.append(notBoth(set[i].0, set[i].1, set[j].0, set[j].1)) }
        }
        return rules
    }
}
