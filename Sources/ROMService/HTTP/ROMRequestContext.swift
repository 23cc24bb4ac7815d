public import Hummingbird
import NIOCore
public import Storage

/// Per-request state: the caller's identity once authenticated.
public struct ROMRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the route guard for staff routes.
    public var identity: APIToken?
    /// True when the identity came from a browser session cookie.
    public var viaSession = false

    /// The peer's IP address, for per-source limits (nil in in-process tests).
    public var remoteIP: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteIP = source.channel.remoteAddress?.ipAddress
    }

    /// Inbound bodies are small: forms, webhooks, people JSON. Large imports go through the CLI.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
