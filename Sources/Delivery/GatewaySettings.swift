public import Scheduling

/// A configured way out: the sandbox, an SMS-provider webhook, or an SMTP server.
public struct GatewaySettings: Sendable, Equatable {
    public var name: String
    public var channel: Channel
    public var kind: Kind
    /// Sends per second through this gateway; nil means unlimited.
    public var rateLimit: Double?

    public enum Kind: Sendable, Equatable {
        /// Delivers nowhere: messages are kept and listed at /ops/sandbox.
        case sandbox
        case webhook(Webhook)
        case smtp(SMTP)
    }

    public init(name: String, channel: Channel, kind: Kind, rateLimit: Double?) {
        self.name = name
        self.channel = channel
        self.kind = kind
        self.rateLimit = rateLimit
    }

    /// An HTTP call to an SMS provider, described as data.
    public struct Webhook: Sendable, Equatable {
        public var url: String
        public var method: String
        public var headers: [String: String]
        /// Mustache template for the request body.
        public var body: String
        public var contentType: String
        public var auth: Auth?
        /// Standard Webhooks signing secrets (`whsec_…`); two during a rotation.
        public var signingSecrets: [SecretReference]
        /// Dotted path to the provider's message id in its JSON response, e.g. `sid` or `data.id`.
        public var messageIDPath: String?

        public init(url: String, method: String, headers: [String: String], body: String, contentType: String,
                    auth: Auth?, signingSecrets: [SecretReference], messageIDPath: String?) {
            self.url = url
            self.method = method
            self.headers = headers
            self.body = body
            self.contentType = contentType
            self.auth = auth
            self.signingSecrets = signingSecrets
            self.messageIDPath = messageIDPath
        }
    }

    /// A mail server.
    public struct SMTP: Sendable, Equatable {
        public enum TLSMode: String, Sendable, CaseIterable {
            case starttls
            case implicit
            case none
        }

        public var host: String
        public var port: Int
        public var tls: TLSMode
        public var username: String?
        public var password: SecretReference?
        public var from: String
        public var replyTo: String?

        public init(host: String, port: Int, tls: TLSMode, username: String?, password: SecretReference?, from: String, replyTo: String?) {
            self.host = host
            self.port = port
            self.tls = tls
            self.username = username
            self.password = password
            self.from = from
            self.replyTo = replyTo
        }
    }

    public enum Auth: Sendable, Equatable {
        case bearer(SecretReference)
        case basic(username: String, password: SecretReference)
    }
}

/// Where a secret lives: never in the YAML itself.
public enum SecretReference: Sendable, Equatable, CustomStringConvertible {
    case environment(String)
    case file(String)

    public var description: String {
        switch self {
        case .environment(let name): return "env:\(name)"
        case .file(let path): return "file:\(path)"
        }
    }
}
