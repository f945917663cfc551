// The digits CNN model (data/digits/cnn.json, written by tools/train-digits-cnn): a small JSON
// reader that keeps the line of every value, and the validating loader whose errors name the file
// and the line at fault (`EdgeError`). The forward passes are in CNNLayouts.swift.
import Foundation

// MARK: - JSON with line numbers

/// A JSON value and the (1-based) line it starts on. Accepts the non-JSON literals Python's `json`
/// writes for non-finite floats (`NaN`, `Infinity`, `-Infinity`) so they are reported as
/// non-finite weights at their line rather than as a syntax error.
struct LinedJSON {
    enum Value {
        case number(Double)
        case string(String)
        case bool(Bool)
        case null
        case array([LinedJSON])
        case object([(key: String, value: LinedJSON)])
    }
    var value: Value
    var line: Int

    /// Member `key` of an object (nil when absent or not an object).
    subscript(key: String) -> LinedJSON? {
        if case .object(let members) = value { return members.first(where: { $0.key == key })?.value }
        return nil
    }
    var number: Double? { if case .number(let v) = value { return v }; return nil }
    var string: String? { if case .string(let s) = value { return s }; return nil }
    var array: [LinedJSON]? { if case .array(let a) = value { return a }; return nil }
    var isObject: Bool { if case .object = value { return true }; return false }

    /// Parses `data`; a syntax error names the line.
    static func parse(_ data: Data, path: String) throws -> LinedJSON {
        var p = Parser(bytes: Array(data), path: path)
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.error("unexpected text after the JSON value") }
        return v
    }

    private struct Parser {
        let bytes: [UInt8]
        let path: String
        var i = 0
        var line = 1

        func error(_ message: String) -> EdgeError { EdgeError(file: path, line: line, "not valid JSON: \(message)") }

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\n"): line += 1; i += 1
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): i += 1
                default: return
                }
            }
        }

        mutating func expect(_ c: UInt8) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { throw error("expected '\(Character(UnicodeScalar(c)))'") }
            i += 1
        }

        mutating func value() throws -> LinedJSON {
            skipSpace()
            guard i < bytes.count else { throw error("unexpected end of file") }
            let start = line
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(key: String, value: LinedJSON)] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return LinedJSON(value: .object(members), line: start) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key string") }
                    let key = try string()
                    try expect(UInt8(ascii: ":"))
                    members.append((key, try value()))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end of file in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return LinedJSON(value: .object(members), line: start) }
                    throw error("expected ',' or '}' in an object")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [LinedJSON] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return LinedJSON(value: .array(items), line: start) }
                while true {
                    items.append(try value())
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end of file in an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return LinedJSON(value: .array(items), line: start) }
                    throw error("expected ',' or ']' in an array")
                }
            case UInt8(ascii: "\""):
                return LinedJSON(value: .string(try string()), line: start)
            default:
                // Numbers and the literals true / false / null / NaN / Infinity / -Infinity.
                let s = i
                while i < bytes.count, !" \t\r\n,]}".utf8.contains(bytes[i]) { i += 1 }
                let token = String(decoding: bytes[s..<i], as: UTF8.self)
                switch token {
                case "true": return LinedJSON(value: .bool(true), line: start)
                case "false": return LinedJSON(value: .bool(false), line: start)
                case "null": return LinedJSON(value: .null, line: start)
                case "NaN": return LinedJSON(value: .number(.nan), line: start)
                case "Infinity": return LinedJSON(value: .number(.infinity), line: start)
                case "-Infinity": return LinedJSON(value: .number(-.infinity), line: start)
                default:
                    guard token.first.map({ $0 == "-" || $0.isNumber }) == true, let v = Double(token) else {
                        i = s
                        throw error("unexpected '\(token.prefix(20))'")
                    }
                    return LinedJSON(value: .number(v), line: start)
                }
            }
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            var out: [UInt8] = []
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\n") { throw error("newline in a string") }
                if c == UInt8(ascii: "\\"), i + 1 < bytes.count {
                    i += 1
                    switch bytes[i] {
                    case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                    case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
                    case UInt8(ascii: "u"):
                        guard i + 4 < bytes.count, let code = UInt32(String(decoding: bytes[(i + 1)...(i + 4)], as: UTF8.self), radix: 16),
                              let scalar = UnicodeScalar(code) else { throw error("bad \\u escape") }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                        i += 4
                    default: out.append(bytes[i])  // \" \\ \/ (and \b \f \r, kept as the letter: unused here)
                    }
                    i += 1
                    continue
                }
                out.append(c)
                i += 1
            }
            throw error("unterminated string")
        }
    }
}

// MARK: - Model

/// One 2-D convolution with "same" zero padding and stride 1, on 8×8 feature maps.
/// `weight` is OIHW: [outChannels][inChannels][kernel][kernel], row-major.
public struct CNNConvLayer: Sendable {
    /// Input and output channels.
    public var inChannels: Int
    public var outChannels: Int
    /// Kernel height = width (odd); padding = kernel / 2.
    public var kernel: Int
    /// Whether a ReLU follows.
    public var relu: Bool
    /// OIHW weights.
    public var weight: [Float]
    /// [outChannels].
    public var bias: [Float]
    /// Zero padding on each side (kernel / 2: output size = input size).
    public var padding: Int { kernel / 2 }
}

/// The digits CNN: convolutions on 1×8×8 inputs, one 2×2 max-pool, then dense layers to 10 classes.
///
/// Supported structure (what `load` validates): `conv2d`+ (stride 1, odd kernel, padding =
/// kernel / 2, out_channels a multiple of 8 — the SIMD width of the NHWC variants), exactly one
/// `maxpool2d` with size = stride = 2, then `dense`+ ending in 10 outputs. The first dense
/// layer's input is the pooled map flattened in CHW order (index = c·16 + y·4 + x).
public struct CNNModel: Sendable {
    /// Spatial size of the input and of every convolution's output.
    public static let side = 8
    /// Spatial size after the 2×2 max-pool.
    public static let pooledSide = 4
    /// Convolutions in order.
    public var convs: [CNNConvLayer]
    /// Dense layers after the pool (the first one reads the CHW-flattened pool output).
    public var dense: [DenseLayer]
    /// x = pixel · inputScale.
    public var inputScale: Float
    /// Training seed.
    public var seed: Int
    /// Test top-1 recorded by the training script (fraction), and its correct / total counts.
    public var recordedTestAccuracy: Double
    public var recordedTestCorrect: Int
    public var recordedTestCount: Int
    /// Path it was loaded from.
    public var path: String

    /// Multiply-accumulates per image (convolutions and dense layers).
    public var macsPerImage: Int {
        convs.reduce(0) { $0 + $1.outChannels * $1.inChannels * $1.kernel * $1.kernel * Self.side * Self.side }
            + dense.reduce(0) { $0 + $1.inputs * $1.outputs }
    }

    /// Number of weights and biases.
    public var parameterCount: Int {
        convs.reduce(0) { $0 + $1.weight.count + $1.bias.count } + dense.reduce(0) { $0 + $1.weight.count + $1.bias.count }
    }

    /// Loads and validates `cnn.json`; errors name the file and the line at fault.
    /// - Parameter limit: largest file read (`EdgeError.fileLimit`; tests pass a smaller one).
    public static func load(path: String, limit: Int = EdgeError.fileLimit) throws -> CNNModel {
        try parse(EdgeError.readModelFile(path, limit: limit), path: path)
    }

    /// Parses model JSON (see `load`); `path` is used in error messages.
    public static func parse(_ data: Data, path: String) throws -> CNNModel {
        let root = try LinedJSON.parse(data, path: path)
        guard root.isObject else { throw EdgeError(file: path, line: root.line, "the model must be a JSON object") }
        func fail(_ node: LinedJSON?, _ message: String) -> EdgeError {
            EdgeError(file: path, line: node?.line ?? root.line, message)
        }
        func member(_ obj: LinedJSON, _ key: String, in what: String) throws -> LinedJSON {
            guard let v = obj[key] else { throw fail(obj, "\(what)missing key '\(key)'") }
            return v
        }
        func int(_ obj: LinedJSON, _ key: String, in what: String = "") throws -> Int {
            let v = try member(obj, key, in: what)
            guard let d = v.number, d.isFinite, d == d.rounded(), let i = Int(exactly: d) else {
                throw fail(v, "\(what)'\(key)' must be an integer")
            }
            return i
        }
        func str(_ obj: LinedJSON, _ key: String, in what: String = "") throws -> String {
            let v = try member(obj, key, in: what)
            guard let s = v.string else { throw fail(v, "\(what)'\(key)' must be a string") }
            return s
        }
        func double(_ obj: LinedJSON, _ key: String) throws -> Double {
            let v = try member(obj, key, in: "")
            guard let d = v.number else { throw fail(v, "'\(key)' must be a number") }
            return d
        }
        /// Flattens a nested array of numbers of exactly `shape` (row-major), checking finiteness.
        func tensor(_ node: LinedJSON, shape: [Int], what: String) throws -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(shape.reduce(1, *))
            func walk(_ n: LinedJSON, _ depth: Int, _ index: [Int]) throws {
                let at = index.map { "[\($0)]" }.joined()
                if depth == shape.count {
                    guard let d = n.number else { throw fail(n, "\(what)\(at) is not a number") }
                    let f = Float(d)
                    guard f.isFinite else { throw fail(n, "\(what)\(at) is not finite (\(d.isFinite ? "\(f)" : "\(d)"))") }
                    out.append(f)
                    return
                }
                guard let items = n.array else { throw fail(n, "wrong shape: \(what)\(at) must be an array of \(shape[depth])") }
                guard items.count == shape[depth] else {
                    throw fail(n, "wrong shape: \(what)\(at) has \(items.count) entries, expected \(shape[depth]) (shape \(shape.map(String.init).joined(separator: "×")))")
                }
                for (k, item) in items.enumerated() { try walk(item, depth + 1, index + [k]) }
            }
            try walk(node, 0, [])
            return out
        }

        let format = try str(root, "format")
        guard format == "fusebench-cnn-v1" else { throw fail(root["format"], "unknown format '\(format)' (expected fusebench-cnn-v1)") }
        let arch = try str(root, "architecture")
        guard arch == "cnn" else { throw fail(root["architecture"], "architecture '\(arch)' is not 'cnn'") }
        let shapeNode = try member(root, "input_shape", in: "")
        guard let dims = shapeNode.array?.compactMap(\.number), dims == [1, 8, 8] else {
            throw fail(shapeNode, "wrong shape: input_shape must be [1, 8, 8] (one channel of 8×8 pixels)")
        }
        let scale = try double(root, "input_scale")
        guard scale.isFinite, scale > 0 else { throw fail(root["input_scale"], "input_scale must be positive and finite") }
        let layersNode = try member(root, "layers", in: "")
        guard let layers = layersNode.array, !layers.isEmpty else { throw fail(layersNode, "'layers' must be a non-empty array") }

        var convs: [CNNConvLayer] = []
        var dense: [DenseLayer] = []
        var channels = 1
        var pooled = false
        var flatIn = 0
        for (li, l) in layers.enumerated() {
            guard l.isObject else { throw fail(l, "layers[\(li)] must be an object") }
            let type = try str(l, "type", in: "layers[\(li)]: ")
            let name = l["name"]?.string.map { " (\($0))" } ?? ""
            let what = "layers[\(li)]\(name): "
            func activation() throws -> Bool {
                let a = l["activation"]?.string ?? "none"
                guard a == "relu" || a == "none" else { throw fail(l["activation"], "\(what)unknown activation '\(a)' (relu or none)") }
                return a == "relu"
            }
            switch type {
            case "conv2d":
                guard !pooled else { throw fail(l, "\(what)a conv2d after the max-pool is not supported (conv2d layers, then maxpool2d, then dense layers)") }
                let cin = try int(l, "in_channels", in: what), cout = try int(l, "out_channels", in: what)
                let k = try int(l, "kernel", in: what)
                guard cin == channels else {
                    throw fail(l["in_channels"], "\(what)wrong shape: in_channels = \(cin), expected \(channels) (\(li == 0 ? "the 1-channel input" : "out_channels of the previous conv2d"))")
                }
                guard cout > 0, cout % 8 == 0 else { throw fail(l["out_channels"], "\(what)out_channels = \(cout) must be a positive multiple of 8 (the NHWC variants' SIMD width)") }
                guard k > 0, k % 2 == 1, k <= 7 else { throw fail(l["kernel"], "\(what)kernel = \(k) must be odd, 1…7") }
                let stride = l["stride"] == nil ? 1 : try int(l, "stride", in: what)
                guard stride == 1 else { throw fail(l["stride"], "\(what)stride = \(stride): only stride 1 is supported") }
                let pad = l["padding"] == nil ? k / 2 : try int(l, "padding", in: what)
                guard pad == k / 2 else { throw fail(l["padding"], "\(what)padding = \(pad): only 'same' padding (kernel / 2 = \(k / 2)) is supported") }
                let w = try tensor(try member(l, "weight", in: what), shape: [cout, cin, k, k], what: "\(what)weight")
                let b = try tensor(try member(l, "bias", in: what), shape: [cout], what: "\(what)bias")
                convs.append(CNNConvLayer(inChannels: cin, outChannels: cout, kernel: k, relu: try activation(), weight: w, bias: b))
                channels = cout
            case "maxpool2d":
                guard !convs.isEmpty, !pooled else { throw fail(l, "\(what)expected exactly one maxpool2d, after the conv2d layers") }
                let size = try int(l, "size", in: what)
                let stride = l["stride"] == nil ? size : try int(l, "stride", in: what)
                guard size == 2, stride == 2 else { throw fail(l, "\(what)only a 2×2 max-pool with stride 2 is supported (got size \(size), stride \(stride))") }
                pooled = true
                flatIn = channels * pooledSide * pooledSide
            case "dense":
                guard pooled else { throw fail(l, "\(what)dense layers come after the maxpool2d") }
                let inputs = try int(l, "in", in: what), outputs = try int(l, "out", in: what)
                guard inputs == flatIn else {
                    throw fail(l["in"], "\(what)wrong shape: in = \(inputs), expected \(flatIn) (\(dense.isEmpty ? "\(channels)×4×4 pooled features" : "out of the previous dense layer"))")
                }
                guard outputs > 0 else { throw fail(l["out"], "\(what)out must be positive") }
                let w = try tensor(try member(l, "weight", in: what), shape: [outputs, inputs], what: "\(what)weight")
                let b = try tensor(try member(l, "bias", in: what), shape: [outputs], what: "\(what)bias")
                dense.append(DenseLayer(inputs: inputs, outputs: outputs, relu: try activation(), weight: w, bias: b))
                flatIn = outputs
            default:
                throw fail(l["type"], "\(what)unknown layer type '\(type)' (conv2d, maxpool2d, dense)")
            }
        }
        guard !convs.isEmpty, pooled, !dense.isEmpty else {
            throw fail(layersNode, "the model needs conv2d layers, one maxpool2d and dense layers, in that order")
        }
        guard flatIn == 10 else { throw fail(layers.last, "wrong shape: the last layer has \(flatIn) outputs, expected 10 classes") }
        return CNNModel(convs: convs, dense: dense, inputScale: Float(scale), seed: try int(root, "seed"),
                        recordedTestAccuracy: try double(root, "test_accuracy"), recordedTestCorrect: try int(root, "test_correct"),
                        recordedTestCount: try int(root, "test_count"), path: path)
    }
}

/// Which runtime a model file is for: its `"architecture"` key (`"cnn"`), absent for the MLP.
public enum EdgeArchitecture: String, Sendable {
    case mlp
    case cnn

    /// Reads the `architecture` key of the model at `path`. A file that cannot be read or parsed is
    /// reported as `mlp`, so the MLP loader reports its own (located) error as before.
    public static func of(modelPath path: String) throws -> EdgeArchitecture {
        guard let data = try? EdgeError.readModelFile(path),
              let root = try? LinedJSON.parse(data, path: path), let node = root["architecture"] else { return .mlp }
        guard let name = node.string, let arch = EdgeArchitecture(rawValue: name) else {
            throw EdgeError(file: path, line: node.line, "unknown architecture \(node.string.map { "'\($0)'" } ?? "(not a string)") (mlp or cnn)")
        }
        return arch
    }
}
