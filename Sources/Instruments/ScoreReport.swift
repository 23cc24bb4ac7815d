/// A score as JSON: the fields `rom score`, the API and stored scores share.
public struct ScoreReport: Sendable, Equatable, Codable {
    public var instrument: String
    public var version: String
    public var valid: Bool
    public var total: Double?
    public var band: String?
    public var prorated: Bool
    public var caseness: Bool?
    public var riskFlags: [RiskFlag]
    public var subscales: [SubscaleScore]
    public var baselineTotal: Double?
    public var scoreChange: Double?
    public var change: ChangeClass?
    public var recovered: Bool?
    public var reliableRecovery: Bool?
    public var explanation: [String]

    enum CodingKeys: String, CodingKey {
        case instrument, version, valid, total, band, prorated, caseness
        case riskFlags = "risk_flags"
        case subscales
        case baselineTotal = "baseline_total"
        case scoreChange = "score_change"
        case change, recovered
        case reliableRecovery = "reliable_recovery"
        case explanation
    }

    public init(_ score: Score) {
        instrument = score.instrument
        version = score.version
        valid = score.valid
        total = score.total
        band = score.band
        prorated = score.prorated
        caseness = score.caseness
        riskFlags = score.riskFlags
        subscales = score.subscales
        baselineTotal = score.baselineTotal
        scoreChange = score.scoreChange
        change = score.change
        recovered = score.recovered
        reliableRecovery = score.reliableRecovery
        explanation = score.explanation
    }

    /// Writes every key, with `null` for absent values, so consumers see a fixed shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instrument, forKey: .instrument)
        try container.encode(version, forKey: .version)
        try container.encode(valid, forKey: .valid)
        try container.encode(total, forKey: .total)
        try container.encode(band, forKey: .band)
        try container.encode(prorated, forKey: .prorated)
        try container.encode(caseness, forKey: .caseness)
        try container.encode(riskFlags, forKey: .riskFlags)
        try container.encode(subscales, forKey: .subscales)
        try container.encode(baselineTotal, forKey: .baselineTotal)
        try container.encode(scoreChange, forKey: .scoreChange)
        try container.encode(change, forKey: .change)
        try container.encode(recovered, forKey: .recovered)
        try container.encode(reliableRecovery, forKey: .reliableRecovery)
        try container.encode(explanation, forKey: .explanation)
    }
}
