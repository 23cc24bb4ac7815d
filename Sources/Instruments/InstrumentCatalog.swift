/// The instruments a service has loaded, by id, each with its prepared scorer.
public struct InstrumentCatalog: Sendable {
    private let scorers: [String: Scorer]

    public init(_ definitions: [InstrumentDefinition]) {
        var scorers: [String: Scorer] = [:]
        for definition in definitions { scorers[definition.id] = Scorer(definition) }
        self.scorers = scorers
    }

    /// Sorted instrument ids.
    public var ids: [String] { scorers.keys.sorted() }

    public var definitions: [InstrumentDefinition] { ids.compactMap { scorers[$0]?.definition } }

    public func definition(_ id: String) -> InstrumentDefinition? { scorers[id]?.definition }

    /// The scorer for `id`, or `unknown_instrument` naming the ones that exist.
    public func scorer(_ id: String) throws(ScoringError) -> Scorer {
        guard let scorer = scorers[id] else { throw .unknownInstrument(id: id, known: ids) }
        return scorer
    }
}
