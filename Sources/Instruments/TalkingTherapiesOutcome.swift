/// The NHS Talking Therapies paired PHQ-9 + GAD-7 outcome for one person's first and last scores.
///
/// Published rules (references/instruments.md §4): caseness is PHQ-9 ≥ 10 or GAD-7 ≥ 8; recovery is
/// caseness at the start and neither measure at caseness at the end, and is not applicable
/// (nil) when the start was below caseness; reliable improvement is a PHQ-9 drop ≥ 6 or a GAD-7
/// drop ≥ 4; reliable recovery is recovery and reliable improvement together. The cross-measure
/// rules marked ASSUMED are settings in `Policy`.
public struct TalkingTherapiesOutcome: Sendable, Equatable {
    public var caseAtStart: Bool
    public var caseAtEnd: Bool
    public var change: ChangeClass
    public var recovered: Bool?
    public var reliableRecovery: Bool?
    public var explanation: [String]

    /// Cross-measure combination rules that no retrieved source confirms.
    public struct Policy: Sendable, Equatable {
        /// Reliable improvement also needs no reliable deterioration on the other measure
        /// (UNVERIFIED: recalled from NHS Digital methodology).
        public var improvementRequiresNoDeteriorationOnOther: Bool
        /// A reliable deterioration on either measure classifies the pair as deteriorated even if the
        /// other improved (ASSUMED, safety first: a worsening is never hidden by an improvement).
        public var deteriorationOnEitherWins: Bool

        public init(improvementRequiresNoDeteriorationOnOther: Bool = true, deteriorationOnEitherWins: Bool = true) {
            self.improvementRequiresNoDeteriorationOnOther = improvementRequiresNoDeteriorationOnOther
            self.deteriorationOnEitherWins = deteriorationOnEitherWins
        }
    }

    /// Classifies a pair from scored PHQ-9 and GAD-7 forms that each carry their baseline comparison.
    ///
    /// Returns nil when either measure lacks a valid total or a baseline.
    public static func classify(phq9: Score, gad7: Score, phq9Rules: InstrumentDefinition,
                                gad7Rules: InstrumentDefinition, policy: Policy = Policy()) -> TalkingTherapiesOutcome? {
        guard let depressionNow = phq9.total, let depressionBefore = phq9.baselineTotal,
              let anxietyNow = gad7.total, let anxietyBefore = gad7.baselineTotal,
              let depressionCut = phq9Rules.caseness?.threshold, let anxietyCut = gad7Rules.caseness?.threshold,
              let depressionChange = phq9.change, let anxietyChange = gad7.change
        else { return nil }
        var explanation: [String] = []
        let caseAtStart = depressionBefore >= depressionCut || anxietyBefore >= anxietyCut
        let caseAtEnd = depressionNow >= depressionCut || anxietyNow >= anxietyCut
        explanation.append("Caseness is PHQ-9 ≥ \(format(depressionCut)) or GAD-7 ≥ \(format(anxietyCut)): "
            + "start \(caseAtStart ? "at" : "below") caseness (PHQ-9 \(format(depressionBefore, places: 2)), GAD-7 \(format(anxietyBefore, places: 2))), "
            + "end \(caseAtEnd ? "at" : "below") caseness (PHQ-9 \(format(depressionNow, places: 2)), GAD-7 \(format(anxietyNow, places: 2))).")
        let improved = depressionChange == .reliableImprovement || anxietyChange == .reliableImprovement
        let deteriorated = depressionChange == .reliableDeterioration || anxietyChange == .reliableDeterioration
        explanation.append("PHQ-9 \(depressionChange.rawValue), GAD-7 \(anxietyChange.rawValue).")
        let change: ChangeClass
        if deteriorated && (policy.deteriorationOnEitherWins || !improved) {
            change = .reliableDeterioration
            explanation.append("Reliable deterioration: at least one measure rose reliably"
                + (improved ? " (the other improved; ASSUMED policy: deterioration is never hidden)." : "."))
        } else if improved && !(deteriorated && policy.improvementRequiresNoDeteriorationOnOther) {
            change = .reliableImprovement
            explanation.append("Reliable improvement: at least one measure dropped reliably and neither deteriorated reliably.")
        } else {
            change = .noReliableChange
            explanation.append("No reliable change on the pair.")
        }
        var recovered: Bool?
        var reliableRecovery: Bool?
        if caseAtStart {
            recovered = !caseAtEnd
            reliableRecovery = !caseAtEnd && change == .reliableImprovement
            explanation.append(recovered == true ? "Recovered: at caseness at the start and below on both measures at the end."
                                                 : "Not recovered: still at caseness on at least one measure.")
        } else {
            explanation.append("Not at caseness at the start: left out of the recovery denominator.")
        }
        return TalkingTherapiesOutcome(caseAtStart: caseAtStart, caseAtEnd: caseAtEnd, change: change,
                                       recovered: recovered, reliableRecovery: reliableRecovery, explanation: explanation)
    }
}
