// `fusebench reindex`: writes the stored series points (Store/SeriesPoints.swift) of ended runs that
// lack them — runs stored by a fusebench older than schema v17, or rows written straight into the
// database by a tool. Every read-write open does this when it finds points missing; this command does
// it now and says how much it wrote.
import ArgumentParser
import FuseBench
import Foundation

/// `fusebench reindex [--db]`.
struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Store the series points of ended runs that lack them (history, change points and the dashboard read them).",
        discussion: """
            A run's points (per op variant: the batches its history decides from, and its median \
            instructions per iteration) are written when it ends; runs stored before schema v17 get theirs \
            at the first read-write open, or now with this command. Reading works without them (from the \
            samples), only slower. Exit 0 done, 3 error (nothing is lost: a run without points keeps its samples).
            """)

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        guard database.isPostgres || FileManager.default.fileExists(atPath: database.path) else {
            throw UsageError("\(database.path): no results database there (pass --db)")
        }
        // Count first, through a reading open (opening for writing may already fill some in).
        let missing = try database.openForReading().missingPointCount()
        let store = try database.open()
        try store.indexMissingPoints()
        let left = try store.missingPointCount()
        print("\(database.displayPath): \(max(0, missing - left)) missing series point(s) written; \(max(0, left)) still missing")
        if left > 0 { throw ExitCode(3) }
    }
}
