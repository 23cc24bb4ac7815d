import Foundation
public import Instruments

/// Which flags a reply raises: the one place these rules live, for every channel.
///
/// - Risk items (the instrument's `risk_items`, through the scorer's risk scan): urgent when answered above the
///   threshold; an unanswered risk item with an `unanswered_flag` is high.
/// - Reliable deterioration against the person's baseline, and the severe band: high, and *standing* — one open
///   flag per measure until a clinician actions it, not one per check-in.
/// - A phrase from `intake.risk_phrases` in free text: urgent `free_text_risk` (a safety net, not a classifier).
public enum FlagRules {
    /// Flags that describe a lasting state rather than a single answer.
    public static let standingKinds: Set<String> = ["reliable_deterioration", "severe_band"]

    /// The kind raised by a risk phrase in free text.
    public static let freeTextRisk = "free_text_risk"

    /// Flags from a score. `source` names the channel in the evidence.
    public static func flags(for score: Score, promptID: String?, source: String) -> [NewFlag] {
        var flags: [NewFlag] = []
        func evidence(_ extra: [String: Any]) -> String {
            json(["instrument": score.instrument, "version": score.version, "prompt": promptID ?? NSNull(), "source": source,
                  "total": score.total ?? NSNull()].merging(extra) { $1 })
        }
        for risk in score.riskFlags {
            flags.append(NewFlag(kind: risk.flag, severity: risk.value == nil ? "high" : "urgent",
                                 evidence: evidence(["item": risk.item, "value": risk.value ?? NSNull()])))
        }
        if score.change == .reliableDeterioration {
            flags.append(NewFlag(kind: "reliable_deterioration", severity: "high", evidence: evidence(["baseline_total": score.baselineTotal ?? NSNull()])))
        }
        if score.band == "severe" {
            flags.append(NewFlag(kind: "severe_band", severity: "high", evidence: evidence(["band": "severe"])))
        }
        return flags
    }

    /// Risk flags from answers that could not be scored (a saved draft, a form with a problem, a reply with the wrong
    /// number of answers): a risk answer reaches a clinician whatever the rest of the reply says.
    public static func riskScan(_ answers: [Int?], scorer: Scorer, promptID: String?, source: String) -> [NewFlag] {
        scorer.riskScan(answers).compactMap { risk in
            guard let value = risk.value else { return nil }
            return NewFlag(kind: risk.flag, severity: "urgent", evidence: json([
                "instrument": scorer.definition.id, "prompt": promptID ?? NSNull(), "item": risk.item, "value": value, "source": source,
            ]))
        }
    }

    /// An urgent flag when free text contains one of `phrases` (case, spacing and punctuation ignored).
    public static func freeTextRisk(_ text: String, phrases: RiskPhrases, replyID: String, source: String) -> NewFlag? {
        guard let phrase = phrases.firstMatch(in: text) else { return nil }
        return NewFlag(kind: freeTextRisk, severity: "urgent", evidence: json(["reply": replyID, "source": source, "phrase": phrase]))
    }

    /// The standing-flag rule: a standing kind is raised only when no flag of that kind for that measure is still
    /// open or acknowledged; every other flag is new evidence and always raised.
    public static func raises(_ flag: NewFlag, alreadyOpenForMeasure: Bool) -> Bool {
        !(standingKinds.contains(flag.kind) && alreadyOpenForMeasure)
    }

    /// Evidence as JSON with sorted keys.
    static func json(_ object: [String: Any]) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
