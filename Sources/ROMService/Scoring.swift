public import Foundation
public import Instruments
import Intake
public import Storage

/// Scoring at the edge: answers as typed, JSON out, and re-scoring of stored scores.
public enum Scoring {
    /// A scored form, with the paired NHS Talking Therapies result when asked for.
    public struct Output: Encodable, Sendable {
        public var score: ScoreReport
        public var paired: PairedReport?

        public func encode(to encoder: any Encoder) throws {
            try score.encode(to: encoder)
            if let paired {
                enum Key: String, CodingKey { case talkingTherapies = "talking_therapies" }
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(paired, forKey: .talkingTherapies)
            }
        }
    }

    /// The paired PHQ-9 + GAD-7 classification as JSON.
    public struct PairedReport: Encodable, Sendable {
        var caseAtStart: Bool
        var caseAtEnd: Bool
        var change: ChangeClass
        var recovered: Bool?
        var reliableRecovery: Bool?
        var explanation: [String]

        enum CodingKeys: String, CodingKey {
            case caseAtStart = "case_at_start", caseAtEnd = "case_at_end", change, recovered
            case reliableRecovery = "reliable_recovery", explanation
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(caseAtStart, forKey: .caseAtStart)
            try container.encode(caseAtEnd, forKey: .caseAtEnd)
            try container.encode(change, forKey: .change)
            try container.encode(recovered, forKey: .recovered)
            try container.encode(reliableRecovery, forKey: .reliableRecovery)
            try container.encode(explanation, forKey: .explanation)
        }
    }

    /// Parses `key=value` context pairs (`work_not_applicable=true`).
    public static func parseContext(_ pairs: [String]) throws(ScoringError) -> Scorer.Context {
        var context: Scorer.Context = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let flag = Bool(parts[1].lowercased()) else {
                throw .inconsistentInput(form: .answers, message: "context `\(pair)` must be key=true or key=false, e.g. work_not_applicable=true")
            }
            context[parts[0]] = flag
        }
        return context
    }

    /// Scores typed answers, optionally with a baseline and a paired PHQ-9/GAD-7 form.
    public static func score(catalog: InstrumentCatalog, instrument: String, answers: String, baseline: String?, context: [String],
                             pairedAnswers: String?, pairedBaseline: String?) throws(ScoringError) -> Output {
        let scorer = try catalog.scorer(instrument)
        let parsedContext = try parseContext(context)
        let parsed = try AnswerParsing.parseList(answers)
        let parsedBaseline = try baseline.map { text throws(ScoringError) in try AnswerParsing.parseList(text, form: .baseline) }
        let score = try scorer.score(parsed, context: parsedContext, baseline: parsedBaseline)
        var output = Output(score: ScoreReport(score), paired: nil)
        if pairedAnswers != nil || pairedBaseline != nil {
            guard let pairedAnswers, let pairedBaseline, parsedBaseline != nil else {
                throw .inconsistentInput(form: .answers, message: "the paired classification needs --baseline, --paired-answers and --paired-baseline")
            }
            let partnerID: String
            switch instrument {
            case "phq9": partnerID = "gad7"
            case "gad7": partnerID = "phq9"
            default: throw .inconsistentInput(form: .answers, message: "the paired NHS Talking Therapies classification pairs phq9 with gad7; use --instrument phq9 or gad7")
            }
            let partner = try catalog.scorer(partnerID)
            let partnerScore = try partner.score(try AnswerParsing.parseList(pairedAnswers), baseline: try AnswerParsing.parseList(pairedBaseline, form: .baseline))
            let (phq9, gad7) = instrument == "phq9" ? (score, partnerScore) : (partnerScore, score)
            if let outcome = TalkingTherapiesOutcome.classify(phq9: phq9, gad7: gad7, phq9Rules: try catalog.scorer("phq9").definition,
                                                              gad7Rules: try catalog.scorer("gad7").definition) {
                output.paired = PairedReport(caseAtStart: outcome.caseAtStart, caseAtEnd: outcome.caseAtEnd, change: outcome.change,
                                             recovered: outcome.recovered, reliableRecovery: outcome.reliableRecovery, explanation: outcome.explanation)
            }
        }
        return output
    }

    /// A JSON encoder with stable key order.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    /// Plain text for people at a terminal.
    public static func text(_ output: Output) -> String {
        let score = output.score
        var lines: [String] = []
        let total = score.total.map { formatNumber($0) } ?? "not scored"
        lines.append("\(score.instrument) v\(score.version): total \(total)\(score.band.map { ", band \($0)" } ?? "")\(score.prorated ? " (prorated)" : "")")
        if let caseness = score.caseness { lines.append("caseness: \(caseness ? "yes" : "no")") }
        for flag in score.riskFlags { lines.append("RISK: \(flag.flag) (item \(flag.item)\(flag.value.map { " = \($0)" } ?? " unanswered"))") }
        if let change = score.change { lines.append("change: \(change.rawValue) (\(formatNumber(score.scoreChange ?? 0)))") }
        if let recovered = score.recovered { lines.append("recovered: \(recovered ? "yes" : "no"); reliable recovery: \(score.reliableRecovery == true ? "yes" : "no")") }
        if let paired = output.paired {
            lines.append("NHS Talking Therapies pair: \(paired.change.rawValue), recovered: \(paired.recovered.map { $0 ? "yes" : "no" } ?? "n/a")")
        }
        lines.append("explanation:")
        lines += score.explanation.map { "  - \($0)" }
        if let paired = output.paired { lines += paired.explanation.map { "  - \($0)" } }
        return lines.joined(separator: "\n")
    }

    static func formatNumber(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }
}

/// `rom rescore`: recompute stored scores with the current definition, keeping the old ones.
public enum Rescoring {
    public struct Change: Sendable, Encodable {
        public var responseID: String
        public var fromVersion: String
        public var toVersion: String
        public var fromTotal: Double?
        public var toTotal: Double?
        public var fromBand: String?
        public var toBand: String?

        enum CodingKeys: String, CodingKey {
            case responseID = "response_id", fromVersion = "from_version", toVersion = "to_version"
            case fromTotal = "from_total", toTotal = "to_total", fromBand = "from_band", toBand = "to_band"
        }
    }

    public struct Report: Sendable, Encodable {
        public var instrument: String
        public var version: String
        public var examined: Int
        public var rescored: Int
        public var changed: [Change]
        public var failed: [String]
    }

    /// Re-scores every current score of `instrument` made with another definition version.
    public static func run(store: SQLStore, catalog: InstrumentCatalog, instrument: String, now: Date) async throws -> Report {
        let scorer = try catalog.scorer(instrument)
        let version = scorer.definition.version
        let current = try await store.currentScores(instrument: instrument)
        var replacements: [(old: StoredScore, new: NewScore)] = []
        var changed: [Change] = []
        var failed: [String] = []
        for old in current where old.definitionVersion != version {
            do {
                let answers = try AnswerParsing.parseList(old.answers)
                let context = try Scoring.parseContext(old.context.split(separator: ",").map(String.init))
                let score = try scorer.score(answers, context: context)
                let json = String(decoding: try JSONEncoder().encode(ScoreReport(score)), as: UTF8.self)
                replacements.append((old, NewScore(instrument: instrument, definitionVersion: version, valid: score.valid,
                                                   total: score.total, band: score.band, result: json)))
                if score.total != old.total || score.band != old.band {
                    changed.append(Change(responseID: old.responseID, fromVersion: old.definitionVersion, toVersion: version,
                                          fromTotal: old.total, toTotal: score.total, fromBand: old.band, toBand: score.band))
                }
            } catch {
                failed.append("\(old.responseID): \(error)")
            }
        }
        if !replacements.isEmpty {
            try await store.supersede(replacements, now: now)
            try await store.audit(AuditEvent(at: now, actor: "cli", action: "scores.rescore", personID: nil,
                                             detail: "\(instrument) → v\(version): \(replacements.count) rescored, \(changed.count) changed", requestID: nil))
        }
        return Report(instrument: instrument, version: version, examined: current.count, rescored: replacements.count, changed: changed, failed: failed)
    }
}
