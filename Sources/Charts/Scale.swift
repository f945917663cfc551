// Scales of the Charts module: map data values to pixels and choose "nice" tick values.
import Foundation

/// Data values to positions along one axis.
public protocol ChartScale: Sendable {
    /// Position of `value` (pixels).
    func map(_ value: Double) -> Double
    /// Tick values inside the domain.
    func ticks() -> [Double]
    /// Whether `value` can be placed (finite, and > 0 on a log scale).
    func accepts(_ value: Double) -> Bool
}

/// A linear scale from `domain` to `range` (pixels; may be reversed, e.g. y growing downwards).
public struct LinearScale: ChartScale, Equatable {
    public private(set) var domain: ClosedRange<Double>
    public var range: (Double, Double)
    /// About how many ticks to aim for.
    public var tickCount: Int

    /// A scale over the finite `values` (NaN/±inf ignored), widened to nice tick bounds. All-equal
    /// values get a domain of ±10% (or ±1 around zero); no finite value gives 0...1.
    public init(values: [Double], range: (Double, Double), tickCount: Int = 5, includeZero: Bool = false) {
        var finite = values.filter(\.isFinite)
        if includeZero { finite.append(0) }
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if lo == hi {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad
            hi += pad
        }
        self.init(domain: lo...hi, range: range, tickCount: tickCount)
        nice()
    }

    /// A scale over exactly `domain`.
    public init(domain: ClosedRange<Double>, range: (Double, Double), tickCount: Int = 5) {
        self.domain = domain
        self.range = range
        self.tickCount = max(1, tickCount)
    }

    public static func == (a: LinearScale, b: LinearScale) -> Bool {
        a.domain == b.domain && a.range == b.range && a.tickCount == b.tickCount
    }

    /// Tick spacing: 1, 2 or 5 × 10^k, giving about `tickCount` ticks over `span`.
    public static func niceStep(span: Double, count: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(1, count))
        let mag = pow(10, floor(log10(raw)))
        let f = raw / mag
        let nice: Double = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10
        return nice * mag
    }

    /// Widens the domain to multiples of the tick step.
    public mutating func nice() {
        let step = Self.niceStep(span: domain.upperBound - domain.lowerBound, count: tickCount)
        let lo = floor(domain.lowerBound / step) * step, hi = ceil(domain.upperBound / step) * step
        if lo.isFinite, hi.isFinite, lo < hi { domain = lo...hi }
    }

    public func map(_ value: Double) -> Double {
        let span = domain.upperBound - domain.lowerBound
        guard span > 0 else { return (range.0 + range.1) / 2 }
        return range.0 + (value - domain.lowerBound) / span * (range.1 - range.0)
    }

    public func ticks() -> [Double] {
        let step = Self.niceStep(span: domain.upperBound - domain.lowerBound, count: tickCount)
        // Round each tick to the step's decimals so 3 × 0.1 is 0.3, not 0.30000000000000004.
        let decimals = max(0, min(15, Int(-floor(log10(step))) + 1))
        let p = pow(10, Double(decimals))
        var out: [Double] = []
        var i = ceil(domain.lowerBound / step - 1e-9)
        while i * step <= domain.upperBound + step * 1e-9, out.count < 100 {
            let v = (i * step * p).rounded() / p
            out.append(v == 0 ? 0 : v)
            i += 1
        }
        return out
    }

    public func accepts(_ value: Double) -> Bool { value.isFinite }
}

/// A base-10 logarithmic scale (values ≤ 0, NaN and ±inf are not placed).
public struct LogScale: ChartScale, Equatable {
    public private(set) var domain: ClosedRange<Double>
    public var range: (Double, Double)

    /// A scale over the positive finite `values`, widened to whole decades. All-equal values get
    /// one decade around them; no usable value gives 1...10.
    public init(values: [Double], range: (Double, Double)) {
        let ok = values.filter { $0.isFinite && $0 > 0 }
        var lo = ok.min() ?? 1, hi = ok.max() ?? 10
        lo = pow(10, floor(log10(lo)))
        hi = pow(10, ceil(log10(hi)))
        if lo >= hi { hi = lo * 10 }
        self.init(domain: lo...hi, range: range)
    }

    /// A scale over exactly `domain` (both bounds > 0).
    public init(domain: ClosedRange<Double>, range: (Double, Double)) {
        let lo = domain.lowerBound > 0 && domain.lowerBound.isFinite ? domain.lowerBound : 1
        let hi = domain.upperBound > lo && domain.upperBound.isFinite ? domain.upperBound : lo * 10
        self.domain = lo...hi
        self.range = range
    }

    public static func == (a: LogScale, b: LogScale) -> Bool { a.domain == b.domain && a.range == b.range }

    public func map(_ value: Double) -> Double {
        let l0 = log10(domain.lowerBound), l1 = log10(domain.upperBound)
        guard value > 0, l1 > l0 else { return range.0 }
        return range.0 + (log10(value) - l0) / (l1 - l0) * (range.1 - range.0)
    }

    /// Powers of ten in the domain; with fewer than three decades also 2× and 5×.
    public func ticks() -> [Double] {
        let d0 = Int(floor(log10(domain.lowerBound) + 1e-9)), d1 = Int(ceil(log10(domain.upperBound) - 1e-9))
        let mults: [Double] = d1 - d0 < 3 ? [1, 2, 5] : [1]
        var out: [Double] = []
        for d in d0...max(d0, d1) {
            for m in mults {
                let v = m * pow(10, Double(d))
                if v >= domain.lowerBound * (1 - 1e-9), v <= domain.upperBound * (1 + 1e-9) { out.append(v) }
            }
        }
        return out
    }

    public func accepts(_ value: Double) -> Bool { value.isFinite && value > 0 }
}

/// Short tick labels: `0`, `2.5`, `1k`, `2.5M`, `0.001`, `1e-06`.
public enum TickLabel {
    /// A compact label for `v`.
    public static func format(_ v: Double) -> String {
        guard v.isFinite else { return "" }
        if v == 0 { return "0" }
        let a = abs(v)
        func trim(_ s: String) -> String {
            guard s.contains(".") else { return s }
            var t = s
            while t.hasSuffix("0") { t.removeLast() }
            if t.hasSuffix(".") { t.removeLast() }
            return t
        }
        switch a {
        case 1e12...: return String(format: "%g", v)
        case 1e9...: return trim(String(format: "%.2f", v / 1e9)) + "G"
        case 1e6...: return trim(String(format: "%.2f", v / 1e6)) + "M"
        case 1e4...: return trim(String(format: "%.2f", v / 1e3)) + "k"
        case 1e-3...: return trim(String(format: "%.4f", v))
        default: return String(format: "%g", v)
        }
    }
}
