public import Foundation
public import Instruments

/// A measure's scores over time as inline SVG: bands shaded, the caseness line, the baseline marked, and missed
/// check-ins shown as gaps (the line breaks; a cross on the axis) — never joined across.
public struct TrendChart: Sendable {
    public var definition: InstrumentDefinition
    public var maximum: Double
    public var points: [ScorePoint]
    public var baselineID: String?
    public var missed: [Date]
    public var end: Date

    public init(definition: InstrumentDefinition, maximum: Double, points: [ScorePoint], baselineID: String?, missed: [Date], end: Date) {
        self.definition = definition
        self.maximum = maximum
        self.points = points
        self.baselineID = baselineID
        self.missed = missed
        self.end = end
    }

    static let width = 640.0, height = 220.0, left = 44.0, right = 12.0, top = 12.0, bottom = 28.0
    static let bandFills = ["#e8f1f8", "#fdf3d8", "#fbe3cf", "#f7d4d0", "#f0c0c0", "#e9a9a9"]

    public func svg() -> String {
        let w = Self.width, h = Self.height
        let plotW = w - Self.left - Self.right, plotH = h - Self.top - Self.bottom
        let dated = points.filter { $0.total != nil && $0.valid }
        let start = min(dated.first?.at ?? end, missed.min() ?? end, end.addingTimeInterval(-28 * 86_400))
        let span = max(end.timeIntervalSince(start), 86_400)
        let top = max(maximum, dated.compactMap(\.total).max() ?? 0, 1)
        func x(_ date: Date) -> Double { Self.left + plotW * date.timeIntervalSince(start) / span }
        func y(_ value: Double) -> Double { Self.top + plotH * (1 - min(max(value, 0), top) / top) }
        // One decimal without String(format:), which costs microseconds per call on Linux and a chart makes thousands.
        func f(_ value: Double) -> String {
            let tenths = Int((value * 10).rounded())
            let sign = tenths < 0 ? "-" : ""
            return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" "
        out += "aria-label=\"\(escape(definition.title)) scores over time\" class=\"trend\">"
        // Bands, lowest first.
        for (index, band) in definition.bands.enumerated() {
            let upper = index + 1 < definition.bands.count ? definition.bands[index + 1].min : top
            guard band.min < top else { continue }
            let fill = definition.direction == .higherIsWorse ? Self.bandFills[min(index, Self.bandFills.count - 1)]
                                                               : Self.bandFills[max(0, min(definition.bands.count - 1 - index, Self.bandFills.count - 1))]
            out += "<rect class=\"band\" x=\"\(f(Self.left))\" y=\"\(f(y(upper)))\" width=\"\(f(plotW))\" height=\"\(f(y(band.min) - y(upper)))\" fill=\"\(fill)\">"
            out += "<title>\(escape(band.label))</title></rect>"
            out += "<text x=\"\(f(Self.left + plotW - 4))\" y=\"\(f(y(upper) + 11))\" font-size=\"9\" text-anchor=\"end\" fill=\"#505a5f\">\(escape(band.label))</text>"
        }
        // Axis ticks at every band boundary and the top.
        for value in Set(definition.bands.map(\.min) + [top]).sorted() where value <= top {
            out += "<text x=\"\(f(Self.left - 4))\" y=\"\(f(y(value) + 3))\" font-size=\"10\" text-anchor=\"end\" fill=\"#0b0c0c\">\(formatValue(value))</text>"
        }
        out += "<line x1=\"\(f(Self.left))\" y1=\"\(f(y(0)))\" x2=\"\(f(Self.left + plotW))\" y2=\"\(f(y(0)))\" stroke=\"#0b0c0c\"/>"
        if let caseness = definition.caseness, caseness.threshold <= top {
            out += "<line class=\"caseness\" x1=\"\(f(Self.left))\" y1=\"\(f(y(caseness.threshold)))\" x2=\"\(f(Self.left + plotW))\" y2=\"\(f(y(caseness.threshold)))\" "
            out += "stroke=\"#d4351c\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>Caseness threshold \(formatValue(caseness.threshold))</title></line>"
        }
        // The line breaks wherever a check-in was missed between two scores.
        var segments: [[ScorePoint]] = []
        for point in dated {
            if let last = segments.last?.last, !missed.contains(where: { $0 > last.at && $0 < point.at }) {
                segments[segments.count - 1].append(point)
            } else {
                segments.append([point])
            }
        }
        for segment in segments where segment.count > 1 {
            let path = segment.map { "\(f(x($0.at))),\(f(y($0.total!)))" }.joined(separator: " ")
            out += "<polyline class=\"scores\" points=\"\(path)\" fill=\"none\" stroke=\"#005eb8\" stroke-width=\"2\"/>"
        }
        for point in dated {
            let isBaseline = point.responseID == baselineID
            out += "<circle class=\"\(isBaseline ? "baseline" : "score")\" cx=\"\(f(x(point.at)))\" cy=\"\(f(y(point.total!)))\" r=\"\(isBaseline ? 5 : 3.5)\" "
            out += "fill=\"\(isBaseline ? "#ffffff" : "#005eb8")\" stroke=\"#005eb8\" stroke-width=\"2\"><title>\(isBaseline ? "Baseline: " : "")\(formatValue(point.total!))</title></circle>"
            if isBaseline {
                out += "<text x=\"\(f(x(point.at)))\" y=\"\(f(y(point.total!) - 8))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#005eb8\">baseline</text>"
            }
        }
        for date in missed {
            let cx = x(date), cy = y(0) - 6
            out += "<path class=\"missed\" d=\"M\(f(cx - 4)),\(f(cy - 4)) L\(f(cx + 4)),\(f(cy + 4)) M\(f(cx - 4)),\(f(cy + 4)) L\(f(cx + 4)),\(f(cy - 4))\" "
            out += "stroke=\"#505a5f\" stroke-width=\"2\"><title>Missed check-in</title></path>"
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "d MMM yy"
        out += "<text x=\"\(f(Self.left))\" y=\"\(f(h - 8))\" font-size=\"10\" fill=\"#0b0c0c\">\(formatter.string(from: start))</text>"
        out += "<text x=\"\(f(Self.left + plotW))\" y=\"\(f(h - 8))\" font-size=\"10\" text-anchor=\"end\" fill=\"#0b0c0c\">\(formatter.string(from: end))</text>"
        return out + "</svg>"
    }

    func formatValue(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
