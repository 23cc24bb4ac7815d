public import Hummingbird
public import Storage

/// Per-request state: the caller's identity once authenticated.
public struct ROMRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the route guard for staff routes.
    public var identity: APIToken?
    /// True when the identity came from a browser session cookie.
    public var viaSession = false

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// Inbound bodies are small: forms, webhooks, people JSON. Large imports go through the CLI.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
