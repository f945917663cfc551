// End-to-end: `fusebench noise` — learned noise per benchmark from a database of synthetic A/A runs
// (text and JSON), the count of runs still needed, this machine's runs found by default, and bad
// input (exit 3).
import Foundation
import Testing
import TestSupport
@testable import FuseBench

/// A database with `count` runs of both tiny ops (3 processes × 4 batches each), binary hash `h1`:
/// `gemm_16` quiet (levels within 0.4%), `bias_relu_small` alternating ±15% between runs.
private func noiseDatabase(count: Int) throws -> String {
    let db = try CLI.tempDir().appendingPathComponent("n.sqlite").path
    let store = try ResultStore(path: db)
    for i in 0..<count {
        let wobble = i % 2 == 0 ? 1.15 : 0.85
        let ops = [Synthetic.op("gemm_16", median: 1000 * (1 + 0.002 * Double(i % 3)), processes: 3, samples: 4, seed: UInt64(i)),
                   Synthetic.op("bias_relu_small", median: 500 * wobble, processes: 3, samples: 4, seed: UInt64(100 + i))]
        let id = try Synthetic.run(store, ops: ops, info: { $0.startedAt = Date(timeIntervalSince1970: 1_700_000_000 + 60 * Double(i)) })
        try store.setRunMeta(runID: id, key: RunMetaKey.binaryHash, value: "h1")
    }
    return db
}

private func tinySuiteFile() throws -> String {
    let suite = try CLI.tempDir().appendingPathComponent("tiny.toml")
    try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
    return suite.path
}

@Suite(.serialized) struct NoiseCLITests {
    @Test func noiseShowsLearnedNoiseAndTooNoisyOps() throws {
        let db = try noiseDatabase(count: 9)
        let suite = try tinySuiteFile()
        let text = try CLI.run(["noise", suite, "--db", db, "--machine", Synthetic.machine.key])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("Learned noise on machine \(Synthetic.machine.key)"))
        let noisyLine = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("tiny/bias_relu_small/reference") })
        #expect(noisyLine.contains("too noisy for the threshold"), "\(text.stdout)")
        let quietLine = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("tiny/gemm_16/reference") })
        #expect(!quietLine.contains("too noisy"), "\(text.stdout)")

        let json = try CLI.run(["noise", suite, "--db", db, "--machine", "synthetic cpu", "--format", "json", "--threshold", "50"])
        #expect(json.status == 0, "\(json.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(doc["machineKey"] as? String == Synthetic.machine.key)
        #expect(doc["minimumPairs"] as? Int == 5)
        #expect(doc["window"] as? Int == 50)
        #expect(doc["familySize"] as? Int == 4)
        let rows = try #require(doc["rows"] as? [[String: Any]])
        #expect(rows.map { $0["benchmark"] as? String } == ["tiny/gemm_16/reference", "tiny/gemm_16/optimized",
                                                            "tiny/bias_relu_small/reference", "tiny/bias_relu_small/optimized"])
        for row in rows {
            #expect(row["pairs"] as? Int == 8)
            #expect(row["threshold"] as? Double == 0.5)   // --threshold 50 overrides the suite's 5%
            #expect(row["typicalProcesses"] as? Int == 3)
            #expect(row["moreRunsNeeded"] as? Int == 0)
        }
        let quiet = try #require(rows[0]["sigmaAA"] as? Double), noisy = try #require(rows[2]["sigmaAA"] as? Double)
        #expect(quiet < 0.02 && noisy > 0.2, "quiet \(quiet), noisy \(noisy)")
        #expect(rows[0]["tooNoisy"] as? Bool == false)
        #expect(rows[2]["tooNoisy"] as? Bool == true)    // ±15% between runs: not even 50% resolves
    }

    @Test func noiseWithShortHistorySaysHowManyRunsAreNeeded() throws {
        let db = try noiseDatabase(count: 2)
        let suite = try tinySuiteFile()
        let r = try CLI.run(["noise", suite, "--db", db, "--machine", "m1", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(doc["rows"] as? [[String: Any]])
        // 1 pair of 5; the synthetic runs' binary is not this one, so its first run pairs with nothing.
        #expect(rows.allSatisfy { $0["pairs"] as? Int == 1 && $0["moreRunsNeeded"] as? Int == 5 && $0["sigmaAA"] is NSNull })
        let text = try CLI.run(["noise", suite, "--db", db, "--machine", "m1"])
        #expect(text.stdout.contains("needs 5 more A/A runs"), "\(text.stdout)")
    }

    @Test func noiseFindsThisMachinesRunsOfThisBinaryByDefault() throws {
        let dir = try CLI.tempDir()
        let suite = dir.appendingPathComponent("tiny.toml")
        try tinySuite.write(to: suite, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("real.sqlite").path
        // One real run (slow in a debug build): what matters is that `noise` finds it by default —
        // this machine's fingerprint key and this binary's hash as the runner recorded them.
        let run = try CLI.run(["run", suite.path, "--db", db, "--quiet", "--quick", "--counters", "none", "--filter", "gemm_16/optimized"])
        #expect(run.status == 0, "\(run.stderr)")
        let r = try CLI.run(["noise", suite.path, "--db", db, "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(doc["rows"] as? [[String: Any]])
        let measured = try #require(rows.first { $0["benchmark"] as? String == "tiny/gemm_16/optimized" })
        // No pair yet, but this build has a stored run here: each further run adds a pair.
        #expect(measured["pairs"] as? Int == 0)
        #expect(measured["moreRunsNeeded"] as? Int == 5)
        // An op the run did not measure: this build's first run of it would pair with nothing.
        let unmeasured = try #require(rows.first { $0["benchmark"] as? String == "tiny/bias_relu_small/optimized" })
        #expect(unmeasured["pairs"] as? Int == 0)
        #expect(unmeasured["moreRunsNeeded"] as? Int == 6)
    }

    @Test func noiseRefusesBadInput() throws {
        let db = try noiseDatabase(count: 2)
        let suite = try tinySuiteFile()
        let missing = try CLI.tempDir().appendingPathComponent("absent.sqlite").path
        let cases: [([String], String)] = [
            (["noise", suite, "--db", db, "--format", "xml"], "--format must be one of text, json"),
            (["noise", suite, "--db", db, "--threshold", "0"], "--threshold"),
            (["noise", suite, "--db", db, "--machine", "no such machine"], "--machine no such machine: no stored machine matches"),
            (["noise", suite, "--db", missing], "no results database there"),
            (["noise", "/nonexistent/suite.toml", "--db", db], "no such suite file"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status == 3, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
