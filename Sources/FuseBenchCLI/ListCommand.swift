import ArgumentParser
import FuseBench
import Foundation

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List ops (kernel kinds), counter events, or suites.")

    enum What: String, ExpressibleByArgument, CaseIterable { case ops, events, suites }

    @Argument(help: "ops | events | suites")
    var what: What = .ops

    func run() throws {
        switch what {
        case .ops:
            let rows = KernelRegistry.shared.all.sorted { $0.kind < $1.kind }.map { f in
                [f.kind, f.variants.joined(separator: ", "), f.shapeKeys.joined(separator: ","), f.dtypes.joined(separator: ","), f.summary]
            }
            print(Format.table(header: ["kind", "variants (first = reference)", "shape", "dtype", "what"], rows: rows))
            print("\nkernels built for: \(ISA.built.names.joined(separator: ",")) · CPU has: \(ISA.host.names.joined(separator: ",")) · optimized path: \(ISA.kernelPath.rawValue)")
        case .events:
            switch CounterSession.probe(syscalls: LinuxPerf(), encoder: LibpfmEncoder(), environment: ProcessInfo.processInfo.environment) {
            case .available(let slots): print("hardware counters: available, \(slots) events per group count together (probed)")
            case .unavailable(let reason): print("hardware counters: unavailable — \(reason)")
            }
            for (pmu, events) in EventCatalog.list() {
                print("\n\(pmu) (\(events.count) events)")
                for e in events { print("  \(e)") }
            }
        case .suites:
            var rows: [[String]] = []
            for path in SuiteResolver.all() {
                do {
                    let s = try SuiteLoader.load(path: path)
                    rows.append([s.name, path, String(s.ops.count), s.description])
                } catch {
                    rows.append(["(invalid)", path, "–", "\(error)"])
                }
            }
            print(Format.table(header: ["suite", "file", "ops", "description"], rows: rows))
        }
    }
}
