public import Review

extension ReviewRenderer {
    /// The renderer with the service's own templates, public URL and instrument definitions.
    public init(configuration: Configuration) throws {
        try self.init(templates: configuration.templates, publicURL: configuration.settings.publicURL, instruments: configuration.instruments)
    }
}
