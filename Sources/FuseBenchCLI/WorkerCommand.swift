import ArgumentParser
import FuseBench
import Foundation
import ProcessIO

/// `fusebench worker`: measures one op as the parent process asks (JSON request on stdin, JSON
/// lines on stdout, which only the protocol writes to: anything else printed to stdout goes to
/// stderr). See `WorkerProtocol`. Used by `run --processes N` and `gate --against`.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Measure one op for a parent fusebench (JSON over pipes).", shouldDisplay: false)

    func run() throws {
        // Kernels may print (a plug-in's printf, a Swift kernel's print): the JSON lines go to a
        // private copy of stdout, and fd 1 itself now leads to stderr, so nothing else can land
        // in the parent's protocol stream.
        let protocolFD: Int32
        do {
            protocolFD = try FileDescriptorIO.divertStandardOutput()
        } catch {
            throw RunError("worker: \(error)")
        }
        let input: [UInt8]
        do {
            input = try FileDescriptorIO.readToEnd(STDIN_FILENO, limit: 16 << 20)
        } catch {
            throw RunError("worker: reading the request failed: \(error)")
        }
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let emit: (WorkerMessage) -> Void = { m in
            var line = (try? encoder.encode(m)) ?? Data(#"{"type":"error","error":"cannot encode message"}"#.utf8)
            line.append(UInt8(ascii: "\n"))
            // The parent gone (EPIPE) or stdout broken: nobody can read the answer any more.
            do { try FileDescriptorIO.writeAll(protocolFD, [UInt8](line)) } catch { Foundation.exit(ExitStatus.error) }
        }
        do {
            let request = try decoder.decode(WorkerRequest.self, from: Data(input))
            WorkerServer.serve(request, environment: ProcessInfo.processInfo.environment, emit: emit)
        } catch {
            emit(WorkerMessage(type: .hello, hello: WorkerHello.current))
            emit(WorkerMessage(type: .error, error: "unreadable worker request: \(error)"))
        }
    }
}
