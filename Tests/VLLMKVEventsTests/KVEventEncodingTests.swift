import Testing
import VLLMEngine

@testable import VLLMKVEvents

@Suite struct KVEventEncodingTests {
    /// The bytes Python's `msgpack.packb` writes for the same batch (vLLM's map-shaped events in
    /// an array-shaped batch), made with msgpack 1.1.
    @Test func batchEncodesAsPythonMsgpackDoes() {
        let batch = KVEventBatch(
            timestamp: 1.5,
            events: [
                .blockStored(
                    hash: 11_844_985_071_706_452_084, parentHash: nil, tokenIDs: [1, 2, 300, -5, 70000], blockSize: 16, salt: nil),
                .blockRemoved(hash: 7), .allBlocksCleared,
            ])
        let hex = batch.messagePack.encoded.map { String(format: "%02x", $0) }.joined()
        #expect(
            hex
                == "93cb3ff8000000000000938ba474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657391cfa461d72a50de3074b1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f696473950102cd012cfbce00011170aa626c6f636b5f73697a6510a76c6f72615f6964c0a66d656469756da3475055a96c6f72615f6e616d65c0aa65787472615f6b65797391c0a967726f75705f69647800b26b765f63616368655f737065635f6b696e64ae66756c6c5f617474656e74696f6e84a474797065ac426c6f636b52656d6f766564ac626c6f636b5f6861736865739107a66d656469756da3475055a967726f75705f6964780081a474797065b0416c6c426c6f636b73436c656172656400"
        )
    }

    @Test func configParsesVLLMsJSONAndRejectsTheRest() throws {
        let config = try KVEventsConfig(
            json:
                #"{"enable_kv_cache_events": true, "endpoint": "ipc:///tmp/x", "replay_endpoint": "tcp://*:5558", "topic": "kv-events", "buffer_steps": 5}"#
        )
        #expect(config.publishes && config.endpoint == "ipc:///tmp/x" && config.replayEndpoint == "tcp://*:5558")
        #expect(config.topic == "kv-events" && config.bufferSteps == 5)
        #expect(try !KVEventsConfig(json: "{}").publishes)
        for bad in [#"{"enable": true}"#, #"{"publisher": "kafka"}"#, #"{"buffer_steps": 0}"#, #"{"topic": 3}"#, "[]"] {
            #expect(throws: KVEventsError.self, "\(bad)") { try KVEventsConfig(json: bad) }
        }
    }
}
