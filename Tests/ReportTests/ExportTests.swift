import Analysis
import BenchModel
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Report
import Store
import TestSupport
import Testing

/// Schema checks of every export format on a synthetic run.
@Suite struct ExportTests {
    /// A run with two ops × two variants (3 processes × 4 batches each = 48 samples).
    static func fixture() throws -> (ResultStore, RunReport) {
        let store = try ResultStore.inMemory()
        let id = try Synthetic.run(store, ops: [
            Synthetic.op("gemm_16", median: 10_000, processes: 3, samples: 4, seed: 1),
            Synthetic.op("bias_relu_small", median: 40_000, processes: 3, samples: 4, seed: 2),
        ], label: "export-test", checks: ["gemm_16/optimized": true, "bias_relu_small/optimized": true])
        return (store, try RunReport(store: store, runID: id))
    }

    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test func gbenchSchema() throws {
        let (_, report) = try Self.fixture()
        let doc = try #require(try Self.json(Exporter.export(report, format: .gbench)) as? [String: Any])
        let context = try #require(doc["context"] as? [String: Any])
        for key in ["date", "host_name", "executable", "num_cpus", "mhz_per_cpu", "cpu_scaling_enabled", "caches",
                    "library_build_type"] {
            #expect(context[key] != nil, "context lacks \(key)")
        }
        #expect(context["num_cpus"] as? Int == 2)
        let caches = try #require(context["caches"] as? [[String: Any]])
        #expect(caches.count == 4)
        #expect(caches.contains { $0["type"] as? String == "Data" && $0["level"] as? Int == 1 && $0["size"] as? Int == 32 * 1024 })
        #expect(caches.contains { $0["type"] as? String == "Unified" && $0["level"] as? Int == 3 && $0["size"] as? Int == 16 << 20 })

        let benchmarks = try #require(doc["benchmarks"] as? [[String: Any]])
        for b in benchmarks {
            for key in ["name", "run_name", "run_type", "iterations", "real_time", "cpu_time", "time_unit", "repetitions", "threads",
                        "family_index", "per_family_instance_index"] {
                #expect(b[key] != nil, "\(b["name"] ?? "?") lacks \(key)")
            }
            #expect(b["time_unit"] as? String == "ns")
            #expect(["iteration", "aggregate"].contains(b["run_type"] as? String ?? ""))
        }
        let iterations = benchmarks.filter { $0["run_type"] as? String == "iteration" }
        #expect(iterations.count == 48)
        #expect(iterations.allSatisfy { $0["iterations"] as? Int == 1000 && $0["repetition_index"] != nil })
        let aggregates = benchmarks.filter { $0["run_type"] as? String == "aggregate" }
        #expect(aggregates.count == 4 * 4)
        #expect(Set(aggregates.compactMap { $0["aggregate_name"] as? String }) == ["mean", "median", "stddev", "cv"])
        let median = try #require(aggregates.first { $0["name"] as? String == "tiny/gemm_16/reference_median" })
        #expect(median["run_name"] as? String == "tiny/gemm_16/reference")
        let realTime = try #require(median["real_time"] as? Double)
        #expect(abs(realTime - 10_000) < 100)
        #expect(aggregates.first { $0["aggregate_name"] as? String == "cv" }?["aggregate_unit"] as? String == "percentage")
        // FLOPS counter on gemm iterations.
        #expect(iterations.first { ($0["name"] as? String)?.hasPrefix("tiny/gemm_16") == true }?["FLOPS"] is Double)
    }

    /// Benchmark names are `SUITE/OP/VARIANT` as text in every JSON export (google/benchmark writes
    /// its names unescaped; `alpha\/gemm` is valid JSON but breaks grep and plain-text tools).
    @Test func jsonExportsWriteNamesWithoutEscapedSlashes() throws {
        let (_, report) = try Self.fixture()
        for format in [ExportFormat.gbench, .bmf, .gab] {
            let text = try Exporter.export(report, format: format)
            #expect(!text.contains("\\/"), "\(format) escapes slashes")
            #expect(text.contains("/gemm_16/optimized"), "\(format) lacks the SUITE/OP/VARIANT name")
        }
    }

    @Test func bmfSchema() throws {
        let (_, report) = try Self.fixture()
        let doc = try #require(try Self.json(Exporter.export(report, format: .bmf)) as? [String: [String: [String: Double]]])
        #expect(Set(doc.keys) == ["tiny/gemm_16/reference", "tiny/gemm_16/optimized",
                                  "tiny/bias_relu_small/reference", "tiny/bias_relu_small/optimized"])
        for (name, measures) in doc {
            let latency = try #require(measures["latency"], "\(name) lacks latency")
            let value = try #require(latency["value"]), lower = try #require(latency["lower_value"]), upper = try #require(latency["upper_value"])
            #expect(lower <= value && value <= upper, "\(name): \(lower) ≤ \(value) ≤ \(upper)")
            #expect(lower > 0)
            #expect(upper / lower < 1.05, "tight synthetic noise gives a tight interval")
        }
        #expect(abs(doc["tiny/bias_relu_small/reference"]!["latency"]!["value"]! - 40_000) < 400)
        #expect(doc["tiny/gemm_16/reference"]?["throughput"]?["value"] != nil)
    }

    @Test func gabSchema() throws {
        let (_, report) = try Self.fixture()
        let list = try #require(try Self.json(Exporter.export(report, format: .gab)) as? [[String: Any]])
        #expect(list.count == 4)
        for e in list {
            #expect(Set(e.keys) == ["name", "unit", "value", "range", "extra"])
            #expect(e["name"] is String)
            #expect(e["unit"] as? String == "ns")
            #expect((e["value"] as? Double ?? 0) > 0)
            #expect((e["range"] as? String)?.hasPrefix("± ") == true)
            #expect((e["extra"] as? String)?.contains("run \(report.info.id)") == true)
        }
        #expect(list.map { $0["name"] as? String ?? "" } == ["tiny/gemm_16/reference", "tiny/gemm_16/optimized",
                                                             "tiny/bias_relu_small/reference", "tiny/bias_relu_small/optimized"])
    }

    /// Parses JUnit XML and returns (testcase name (`SUITE/OP/VARIANT`) → failure type or nil,
    /// testsuites attributes); checks each classname is the name's `SUITE.OP`.
    static func parseJUnit(_ xml: String) throws -> (cases: [String: String?], tests: Int, failures: Int) {
        #if canImport(FoundationXML) || os(macOS)
        let doc = try XMLDocument(xmlString: xml, options: [])
        let root = try #require(doc.rootElement())
        #expect(root.name == "testsuites")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        var cases: [String: String?] = [:]
        for tc in suites[0].elements(forName: "testcase") {
            let name = tc.attribute(forName: "name")?.stringValue ?? "?"
            let classname = tc.attribute(forName: "classname")?.stringValue ?? "?"
            #expect(BenchmarkKey.parse(name).map { "\($0.suite).\($0.op)" } == classname, "\(name) in class \(classname)")
            #expect(Double(tc.attribute(forName: "time")?.stringValue ?? "") != nil, "\(name): time is a number")
            cases.updateValue(tc.elements(forName: "failure").first?.attribute(forName: "type")?.stringValue, forKey: name)
        }
        return (cases, Int(root.attribute(forName: "tests")?.stringValue ?? "") ?? -1,
                Int(root.attribute(forName: "failures")?.stringValue ?? "") ?? -1)
        #else
        // No XML parser: structural checks only.
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"))
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == xml.components(separatedBy: "</testcase>").count - 1)
        var cases: [String: String?] = [:]
        for line in xml.split(separator: "\n") where line.contains("<testcase ") {
            func attr(_ n: String) -> String {
                guard let r = line.range(of: "\(n)=\"") else { return "?" }
                return String(line[r.upperBound...].prefix { $0 != "\"" })
            }
            let failure = line.range(of: "<failure type=\"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
            cases.updateValue(failure, forKey: attr("name"))
        }
        func rootAttr(_ n: String) -> Int {
            guard let r = xml.range(of: "<testsuites"), let a = xml[r.upperBound...].range(of: "\(n)=\"") else { return -1 }
            return Int(xml[a.upperBound...].prefix { $0 != "\"" }) ?? -1
        }
        return (cases, rootAttr("tests"), rootAttr("failures"))
        #endif
    }

    @Test func junitWithoutBaselineHasNoFailures() throws {
        let (_, report) = try Self.fixture()
        let xml = try Exporter.export(report, format: .junit)
        let parsed = try Self.parseJUnit(xml)
        #expect(parsed.tests == 4 && parsed.failures == 0)
        #expect(parsed.cases.count == 4)
        #expect(parsed.cases.values.allSatisfy { $0 == nil })
        #expect(parsed.cases.keys.contains("tiny/gemm_16/optimized"))
    }

    @Test func junitFailsRegressionsAgainstABaselineAndRejectedVariants() throws {
        let store = try ResultStore.inMemory()
        let base = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 10_000, seed: 1),
                                                  Synthetic.op("bias_relu_small", median: 40_000, seed: 2)])
        // Head: gemm_16 30% slower; bias_relu_small unchanged but its optimized variant rejected
        // (and, like the runner does, not timed).
        var relu = Synthetic.op("bias_relu_small", median: 40_000, seed: 5)
        relu.values["optimized"] = nil
        let head = try Synthetic.run(store, ops: [Synthetic.op("gemm_16", median: 13_000, seed: 3), relu],
                                     checks: ["bias_relu_small/optimized": false])
        let comparison = try CompareReport(store: store, baseIDs: [base], headIDs: [head])
        let xml = try Exporter.export(try RunReport(store: store, runID: head), format: .junit, comparison: comparison)
        #expect(xml.contains("<failure type=\"regression\""))
        #expect(xml.contains("&lt;bad&gt;"), "reason is escaped")
        let parsed = try Self.parseJUnit(xml)
        #expect(parsed.cases["tiny/gemm_16/reference"] == .some("regression"))
        #expect(parsed.cases["tiny/gemm_16/optimized"] == .some("regression"))
        #expect(parsed.cases["tiny/bias_relu_small/reference"] == .some(nil))
        #expect(parsed.cases["tiny/bias_relu_small/optimized"] == .some("accuracy"))
        #expect(parsed.tests == 4)
        #expect(parsed.failures == 3)
    }

    @Test func markdownAndCSVRowCounts() throws {
        let (_, report) = try Self.fixture()
        let md = try Exporter.export(report, format: .markdown)
        #expect(md.hasPrefix("### fusebench run \(report.info.id) (complete)"))
        let lines = md.split(separator: "\n")
        let tableRows = lines.filter { $0.hasPrefix("|") }
        #expect(tableRows.count == 2 + 4, "header, separator, one row per op variant")
        #expect(tableRows.dropFirst(2).allSatisfy { $0.hasPrefix("| tiny/") })
        #expect(Set(tableRows.map { $0.filter { $0 == "|" }.count }).count == 1, "every row has the same number of cells")

        let csv = try Exporter.export(report, format: .csv)
        let rows = csv.split(separator: "\n")
        #expect(rows.count == 1 + 48)
        let header = rows[0].split(separator: ",")
        #expect(header.first == "run_id")
        #expect(header.contains("run_uuid"))
        #expect(rows.dropFirst().allSatisfy { $0.contains(",\(report.info.uuid)") })
        #expect(rows.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == header.count })
        #expect(rows.filter { $0.contains(",tiny/gemm_16/optimized,") }.count == 12)
    }
}
