/// Scores answers with one instrument definition. Pure: the same inputs always give the same score.
///
/// Build one per definition and reuse it: the option tables are prepared once.
public struct Scorer: Sendable {
    public let definition: InstrumentDefinition
    /// Allowed values per item (index 0 = item 1).
    private let allowed: [[Int]]
    /// `lowest + highest` option per item, for reversal; 0 when the item is not reversed.
    private let reverseSum: [Int]
    private let isReversed: [Bool]
    private let totalItems: [Int]
    private let transformTable: [Int: Double]

    /// Context keys a caller may pass, e.g. `work_not_applicable=true` for WSAS.
    public typealias Context = [String: Bool]

    public init(_ definition: InstrumentDefinition) {
        self.definition = definition
        var allowed: [[Int]] = []
        var reverseSum: [Int] = []
        var isReversed: [Bool] = []
        for number in 1...max(definition.items.count, 1) where number <= definition.items.count {
            let values = definition.options(forItem: number).map(\.value)
            allowed.append(values)
            let reversed = definition.reverseItems.contains(number)
            isReversed.append(reversed)
            reverseSum.append(reversed ? (values.min() ?? 0) + (values.max() ?? 0) : 0)
        }
        self.allowed = allowed
        self.reverseSum = reverseSum
        self.isReversed = isReversed
        self.totalItems = definition.total.items.isEmpty ? Array(1...max(definition.items.count, 1)) : definition.total.items
        self.transformTable = Dictionary(definition.transform.map { ($0.raw, $0.score) }, uniquingKeysWith: { first, _ in first })
    }

    /// Scores `answers` (one per item in published order, nil = unanswered), optionally against `baseline`.
    public func score(_ answers: [Int?], context: Context = [:], baseline: [Int?]? = nil) throws(ScoringError) -> Score {
        var score = try scoreOne(answers, context: context, form: .answers)
        guard let baseline else { return score }
        let before = try scoreOne(baseline, context: context, form: .baseline)
        compare(&score, with: before)
        return score
    }

    /// Risk flags from the answers alone, for a reply that could not be scored (wrong count, bad value elsewhere).
    ///
    /// A risk answer must reach a clinician even when the rest of the form is unusable.
    public func riskScan(_ answers: [Int?]) -> [RiskFlag] {
        var flags: [RiskFlag] = []
        for risk in definition.riskItems where risk.item <= answers.count {
            if let value = answers[risk.item - 1] {
                if value > risk.above { flags.append(RiskFlag(item: risk.item, value: value, flag: risk.flag)) }
            } else if let unanswered = risk.unansweredFlag {
                flags.append(RiskFlag(item: risk.item, value: nil, flag: unanswered))
            }
        }
        return flags
    }

    // MARK: - One form

    private func scoreOne(_ answers: [Int?], context: Context, form: ScoringError.Form) throws(ScoringError) -> Score {
        let definition = self.definition
        let itemCount = definition.items.count
        let expected = definition.itemCount.map { $0.min...$0.max } ?? itemCount...itemCount
        guard expected.contains(answers.count) else {
            throw .wrongItemCount(form: form, instrument: definition.title, expected: expected, got: answers.count,
                                  note: countNote(got: answers.count))
        }
        for (index, answer) in answers.enumerated() {
            if let answer, !allowed[index].contains(answer) {
                throw .outOfRange(form: form, item: index + 1, value: answer, allowed: allowed[index])
            }
        }

        var steps: [ScoringStep] = [.definition(id: definition.id, version: definition.version)]
        var notApplicable: [Int] = []
        for rule in definition.notApplicable where context[rule.context] == true {
            if rule.item <= answers.count, answers[rule.item - 1] != nil {
                throw .inconsistentInput(
                    form: form,
                    message: "item \(rule.item) is answered but marked not applicable (\(rule.context)); leave it unanswered or drop \(rule.context)"
                )
            }
            notApplicable.append(rule.item)
            steps.append(.notApplicable(item: rule.item, context: rule.context))
        }

        // Risk first: raised whatever the rest of the form says.
        var riskFlags: [RiskFlag] = []
        for risk in definition.riskItems where risk.item <= answers.count && !notApplicable.contains(risk.item) {
            if let value = answers[risk.item - 1] {
                if value > risk.above {
                    riskFlags.append(RiskFlag(item: risk.item, value: value, flag: risk.flag))
                    steps.append(.risk(item: risk.item, value: value, flag: risk.flag))
                }
            } else if let unanswered = risk.unansweredFlag {
                riskFlags.append(RiskFlag(item: risk.item, value: nil, flag: unanswered))
                steps.append(.risk(item: risk.item, value: nil, flag: unanswered))
            }
        }

        // Items in the total: those defined for it, present in this form, and applicable.
        var raw = 0
        var answered = 0
        var scoredCount = 0
        for number in totalItems where number <= answers.count && !notApplicable.contains(number) {
            scoredCount += 1
            guard let value = answers[number - 1] else { continue }
            answered += 1
            if isReversed[number - 1] {
                let reversed = reverseSum[number - 1] - value
                steps.append(.reversed(item: number, from: value, to: reversed))
                raw += reversed
            } else {
                raw += value
            }
        }
        let missing = scoredCount - answered
        let policy = definition.missing
        var score = Score(
            instrument: definition.id, version: definition.version, valid: false, total: nil, band: nil,
            prorated: false, caseness: nil, riskFlags: riskFlags, subscales: [], answered: answered, missing: missing,
            baselineTotal: nil, scoreChange: nil, change: nil, recovered: nil, reliableRecovery: nil, steps: steps
        )
        if missing > policy.maxMissing || answered == 0 {
            score.steps.append(.tooManyMissing(missing: missing, of: scoredCount, allowed: policy.maxMissing))
            score.subscales = subscaleScores(answers, notApplicable: notApplicable)
            return score
        }
        if missing > 0 {
            score.steps.append(.missingAllowed(missing: missing, of: scoredCount, allowed: policy.maxMissing))
        }

        var total: Double
        switch definition.total.kind {
        case .sum:
            if missing > 0 && policy.method == .prorateSum {
                let exact = Double(raw) * Double(scoredCount) / Double(answered)
                score.steps.append(.prorated(raw: raw, items: scoredCount, answered: answered, exact: exact))
                score.prorated = true
                if policy.rounding == .halfUp {
                    // Exact rational half-up: floor((2·raw·n + a) / 2a), no floating-point ties.
                    let numerator = 2 * raw * scoredCount + answered
                    let rounded = Double(floorDivide(numerator, 2 * answered))
                    score.steps.append(.roundedHalfUp(from: exact, to: rounded))
                    total = rounded
                } else {
                    total = exact
                }
            } else {
                score.steps.append(.summed(raw: raw, items: answered))
                total = Double(raw)
            }
        case .meanTimes10, .mean:
            let times10 = definition.total.kind == .meanTimes10
            // Multiply before dividing so a complete CORE-10 gives its sum exactly.
            let mean = Double(times10 ? raw * 10 : raw) / Double(answered)
            total = mean
            score.prorated = missing > 0
            score.steps.append(.mean(raw: raw, answered: answered, times10: times10, value: mean))
            if policy.rounding == .halfUp {
                let rounded = (mean + 0.5).rounded(.down)
                score.steps.append(.roundedHalfUp(from: mean, to: rounded))
                total = rounded
            }
        }

        if !transformTable.isEmpty {
            guard total == total.rounded(), let converted = transformTable[Int(total)] else {
                score.steps.append(.tooManyMissing(missing: missing, of: scoredCount, allowed: 0))
                return score
            }
            score.steps.append(.transformed(raw: Int(total), score: converted))
            total = converted
        }

        score.valid = true
        score.total = total
        if let band = band(for: total) {
            score.band = band.id
            score.steps.append(.band(id: band.id, label: band.label, min: band.min, total: total))
        }
        if let caseness = definition.caseness {
            let isCase = isCase(total, threshold: caseness.threshold)
            score.caseness = isCase
            score.steps.append(.caseness(threshold: caseness.threshold, direction: definition.direction, isCase: isCase))
        }
        score.subscales = subscaleScores(answers, notApplicable: notApplicable)
        return score
    }

    // MARK: - Against a baseline

    private func compare(_ score: inout Score, with baseline: Score) {
        score.steps.append(.baseline(total: baseline.total))
        guard let now = score.total, let before = baseline.total else { return }
        score.baselineTotal = before
        let delta = now - before
        score.scoreChange = delta
        if let rule = definition.reliableChange, let result = classify(from: before, to: now) {
            score.change = result
            score.steps.append(.change(delta: delta, threshold: rule.threshold, result: result))
        } else {
            score.steps.append(.noChangeRule(instrument: definition.title))
        }
        guard let caseness = definition.caseness else { return }
        let baselineCase = isCase(before, threshold: caseness.threshold)
        let followUpCase = isCase(now, threshold: caseness.threshold)
        let recovered: Bool? = baselineCase ? !followUpCase : nil
        score.recovered = recovered
        score.steps.append(.recovery(baselineCase: baselineCase, followUpCase: followUpCase, recovered: recovered))
        if let recovered, score.change != nil {
            score.reliableRecovery = recovered && score.change == .reliableImprovement
        }
    }

    // MARK: - Helpers

    /// The reliable-change class of a move from `before` to `after` (improvement in the instrument's better
    /// direction, at least the rule's threshold); nil when the instrument has no reliable-change rule.
    public func classify(from before: Double, to after: Double) -> ChangeClass? {
        guard let rule = definition.reliableChange else { return nil }
        let delta = after - before
        let improvement = definition.direction == .higherIsWorse ? -delta : delta
        if improvement >= rule.threshold { return .reliableImprovement }
        if -improvement >= rule.threshold { return .reliableDeterioration }
        return .noReliableChange
    }

    /// The highest total the instrument can produce (for chart scales).
    public var maximumTotal: Double {
        if let highest = definition.transform.map(\.score).max() { return highest }
        let top = Double(definition.options.map(\.value).max() ?? 0)
        switch definition.total.kind {
        case .sum:
            let count = definition.total.items.isEmpty ? (definition.itemCount?.max ?? definition.items.count) : definition.total.items.count
            return top * Double(count)
        case .meanTimes10: return top * 10
        case .mean: return top
        }
    }

    /// The band with the highest lower bound at or below `total`.
    public func band(for total: Double) -> Band? {
        var found: Band?
        for band in definition.bands where total >= band.min {
            found = band
        }
        return found
    }

    /// Caseness is `≥ threshold` when higher is worse, `< threshold` when higher is better.
    public func isCase(_ total: Double, threshold: Double) -> Bool {
        definition.direction == .higherIsWorse ? total >= threshold : total < threshold
    }

    private func subscaleScores(_ answers: [Int?], notApplicable: [Int]) -> [SubscaleScore] {
        guard !definition.subscales.isEmpty else { return [] }
        return definition.subscales.map { subscale in
            var raw = 0
            var answered = 0
            var count = 0
            for number in subscale.items where number <= answers.count && !notApplicable.contains(number) {
                count += 1
                guard let value = answers[number - 1] else { continue }
                answered += 1
                raw += isReversed[number - 1] ? reverseSum[number - 1] - value : value
            }
            guard answered > 0, count - answered <= subscale.maxMissing else {
                return SubscaleScore(id: subscale.id, value: nil)
            }
            let value: Double
            switch subscale.kind {
            case .sum: value = Double(raw) * Double(count) / Double(answered)
            case .mean: value = Double(raw) / Double(answered)
            case .meanTimes10: value = Double(raw) / Double(answered) * 10
            }
            return SubscaleScore(id: subscale.id, value: value)
        }
    }

    private func countNote(got: Int) -> String? {
        if definition.id == "phq9" && got == 10 {
            return "Item 10 (how difficult have these problems made things) is not scored: leave it out"
        }
        return nil
    }
}

/// Floor division for integers of either sign.
func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}
