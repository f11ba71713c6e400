import Testing

@testable import VLLMCUDA

/// The serial definition of `moe_group`'s arrays (`ExpertGrouping(topIDs:experts:)`), which `vllm-dev kernel-check` compares the
/// kernel's with, on entries worked out by hand.
@Suite struct ExpertGroupingTests {
    @Test func groupsEntriesByExpertInEntryOrder() {
        let grouping = ExpertGrouping(topIDs: [2, 0, 2, 1, 0, 2], experts: 4)
        #expect(grouping.expertStart == [0, 2, 3, 6, 6])
        #expect(grouping.tileStart == [0, 1, 2, 3, 3])  // expert 3 has no entries and no tile
        #expect(grouping.slotEntry == [1, 4, 3, 0, 2, 5])
        #expect(grouping.entrySlot == [3, 0, 4, 2, 1, 5])
    }

    @Test func countsTilesOfSixteenRows() {
        let grouping = ExpertGrouping(topIDs: [Int32](repeating: 1, count: 17) + [0], experts: 2)
        #expect(grouping.expertStart == [0, 1, 18])
        #expect(grouping.tileStart == [0, 1, 3])
        #expect(grouping.slotEntry == [17] + Array(0..<17))
    }
}
