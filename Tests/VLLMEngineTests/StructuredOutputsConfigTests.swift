import Testing
import VLLMStructuredOutputs

@testable import VLLMEngine

/// `--structured-outputs-config`: vLLM's JSON, read strictly.
@Suite struct StructuredOutputsConfigTests {
    /// The error's text, or "" when `json` parses.
    private func error(_ json: String) -> String {
        do {
            _ = try StructuredOutputsConfig(json: json)
            return ""
        } catch {
            return String(describing: error)
        }
    }

    @Test func readsVLLMsOptions() throws {
        let config = try StructuredOutputsConfig(
            json:
                #"{"backend": "auto", "disable_fallback": true, "disable_any_whitespace": true, "disable_additional_properties": true, "reasoning_parser": "qwen3"}"#
        )
        #expect(config.disableAnyWhitespace && config.disableAdditionalProperties)
        #expect(config.reasoningParser == "qwen3")
        #expect(config.grammarOptions == GrammarOptions(anyWhitespace: false, disableAdditionalProperties: true))
        #expect(try StructuredOutputsConfig(json: #"{"backend": "swift-vllm"}"#) == StructuredOutputsConfig())
        #expect(try StructuredOutputsConfig(json: "{}").grammarOptions == GrammarOptions())
        #expect(try StructuredOutputsConfig(json: #"{"reasoning_parser": "", "reasoning_parser_plugin": ""}"#).reasoningParser == nil)
    }

    @Test func badConfigsAreErrorsThatSayWhy() {
        let xgrammar = error(#"{"backend": "xgrammar"}"#)
        #expect(xgrammar.contains("'xgrammar' is not in this build") && xgrammar.contains("swift-vllm"), "\(xgrammar)")
        for name in ["guidance", "outlines", "lm-format-enforcer"] {
            #expect(error(#"{"backend": "\#(name)"}"#).contains("not in this build"))
        }
        #expect(error(#"{"backend": "mine"}"#).contains("unknown backend 'mine'"))
        let unknown = error(#"{"disable_any_whitespace": true, "whitespace": false}"#)
        #expect(unknown.contains("unknown key 'whitespace'"), "\(unknown)")
        #expect(error(#"{"disable_any_whitespace": "yes"}"#).contains("'disable_any_whitespace' must be a boolean"))
        #expect(error(#"{"disable_additional_properties": 1}"#).contains("must be a boolean"))
        #expect(error(#"{"backend": 3}"#).contains("'backend' must be a string"))
        #expect(error(#"{"disable_any_whitespace": tru}"#).contains("not a JSON object"))
        #expect(error("[]").contains("not a JSON object"))
        #expect(error(#"{"reasoning_parser_plugin": "my.py"}"#).contains("plugins"))
        #expect(error(#"{"enable_in_reasoning": true}"#).contains("enable_in_reasoning"))
    }
}
