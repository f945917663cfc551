// Tests for parsing the PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID layout.
import Counters
import Testing

@Suite struct GroupReadTests {
    @Test func parsesAHandBuiltBuffer() throws {
        // nr, time_enabled, time_running, {value, id} × nr
        let words: [UInt64] = [3, 2_000, 1_000, 111, 7, 222, 8, 333, 9]
        let bytes = words.withUnsafeBytes { Array($0) }
        let r = try #require(bytes.withUnsafeBytes { GroupRead.parse(bytes: $0, expectedCount: 3) })
        #expect(r.values == [111, 222, 333])
        #expect(r.ids == [7, 8, 9])
        #expect(r.timeEnabled == 2_000)
        #expect(r.timeRunning == 1_000)
        #expect(r.words == words)
        #expect(GroupRead.wordCount(members: 3) == words.count)
    }

    @Test func rejectsMalformedBuffers() {
        #expect(GroupRead.parse(words: [3, 10, 10, 1, 1, 2, 2]) == nil)           // truncated
        #expect(GroupRead.parse(words: [2, 10, 10, 1, 1, 2, 2], expectedCount: 3) == nil)
        #expect(GroupRead.parse(words: [1, 10]) == nil)
        #expect(GroupRead.parse(words: [UInt64.max, 1, 1]) == nil)
        #expect(GroupRead.parse(words: [0, 5, 5])?.values == [])
    }
}
