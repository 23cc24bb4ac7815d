public import Hummingbird
import NIOCore
public import Storage

/// Who is calling: an API token, or a staff member signed in with password and code.
public struct Caller: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case token(id: String)
        case user(id: String, email: String)
    }
    public var role: Role
    public var team: String?
    public var credential: Credential

    public init(role: Role, team: String?, credential: Credential) {
        self.role = role
        self.team = team
        self.credential = credential
    }

    /// The name audit rows carry: the account's email for a person, the token's id for a script or system.
    public var actor: String {
        switch credential {
        case .token(let id): id
        case .user(_, let email): email
        }
    }
}

/// Per-request state: the caller's identity once authenticated.
public struct ROMRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the route guard for staff routes.
    public var identity: Caller?
    /// True when the identity came from a browser session cookie.
    public var viaSession = false

    /// The peer's IP address, for per-source limits (nil in in-process tests).
    public var remoteIP: String?
    /// The client's address as the route table decided it (the peer, or `X-Forwarded-For` from a trusted proxy);
    /// `local` in in-process tests.
    public var clientAddress = "local"

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteIP = source.channel.remoteAddress?.ipAddress
    }

    /// The audit name of whoever is calling.
    public var actor: String { identity?.actor ?? "?" }

    /// Inbound bodies are small: forms, webhooks, people JSON. Large imports go through the CLI.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
