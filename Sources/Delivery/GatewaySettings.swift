import Foundation
public import Scheduling

/// A configured way out: the sandbox, an SMS-provider webhook, or an SMTP server.
public struct GatewaySettings: Sendable, Equatable {
    public var name: String
    public var channel: Channel
    public var kind: Kind
    /// Sends per second through this gateway; nil means unlimited.
    public var rateLimit: Double?
    /// Connect and total timeouts, and a CA bundle to trust instead of the system's.
    public var transport = Transport()

    public struct Transport: Sendable, Equatable {
        public var connectTimeoutMilliseconds = 5_000
        public var timeoutMilliseconds = 30_000
        public var caBundle: String?

        public init() {}
    }

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
        /// How delivery receipts at `/callbacks/status/{gateway}` are read.
        public var receipts: Receipts?
        /// How replies at `/inbound/sms/{gateway}` are verified and read.
        public var inbound: Inbound?

        public init(url: String, method: String, headers: [String: String], body: String, contentType: String,
                    auth: Auth?, signingSecrets: [SecretReference], messageIDPath: String?, receipts: Receipts? = nil) {
            self.receipts = receipts
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

    /// Field names and status mapping for a provider's delivery receipts.
    public struct Receipts: Sendable, Equatable {
        public var idField: String
        public var statusField: String
        /// Provider status → `accepted`, `delivered` or `failed`; unmapped statuses are ignored.
        public var map: [String: String]
        /// Secrets that sign receipts: required, so nobody can mark a message delivered or failed.
        public var signingSecrets: [SecretReference]
        /// How receipts are signed: Twilio's `X-Twilio-Signature`, or Standard Webhooks (the default).
        public var signature: Inbound.Signature

        public init(idField: String, statusField: String, map: [String: String], signingSecrets: [SecretReference],
                    signature: Inbound.Signature = .standardWebhooks) {
            self.idField = idField
            self.statusField = statusField
            self.map = map
            self.signingSecrets = signingSecrets
            self.signature = signature
        }
    }

    /// Verification and field names for inbound SMS from a provider.
    public struct Inbound: Sendable, Equatable {
        public enum Signature: String, Sendable, CaseIterable {
            /// `X-Twilio-Signature`, HMAC-SHA1 with the auth token over the public URL and sorted parameters.
            case twilio
            /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (v1, HMAC-SHA256).
            case standardWebhooks = "standard_webhooks"
        }

        public var signature: Signature
        public var secrets: [SecretReference]
        public var idField: String
        public var fromField: String
        public var bodyField: String

        public init(signature: Signature, secrets: [SecretReference], idField: String, fromField: String, bodyField: String) {
            self.signature = signature
            self.secrets = secrets
            self.idField = idField
            self.fromField = fromField
            self.bodyField = bodyField
        }
    }

    /// Verification and field names for inbound email, as parsed-email webhooks (Mailgun, SendGrid, Postmark) post it.
    public struct InboundEmail: Sendable, Equatable {
        public enum Signature: String, Sendable, CaseIterable {
            /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (v1, HMAC-SHA256).
            case standardWebhooks = "standard_webhooks"
            /// Mailgun: `timestamp`, `token`, `signature` fields; HMAC-SHA256(key, timestamp + token) in hex.
            case mailgun
        }

        public var signature: Signature
        public var secrets: [SecretReference]
        public var idField: String
        public var toField: String
        public var textField: String
        /// Fields carrying the provider's SPF and DKIM verdicts (Mailgun: `X-Mailgun-Spf`, `X-Mailgun-Dkim-Check-Result`;
        /// SendGrid: `SPF`, `dkim`). A reply is matched only when one of them says pass; nil turns the check off.
        public var spfField: String? = "X-Mailgun-Spf"
        public var dkimField: String? = "X-Mailgun-Dkim-Check-Result"

        /// True when the provider reported SPF or DKIM passing for this message (or the check is off).
        public func senderAuthenticated(_ fields: [String: String]) -> Bool {
            let checks = [spfField, dkimField].compactMap { $0 }
            guard !checks.isEmpty else { return true }
            // SendGrid writes dkim as `{@example.org : pass}`; Mailgun writes `Pass`.
            return checks.contains { field in fields[field].map { $0.lowercased().contains("pass") } ?? false }
        }

        public init(signature: Signature, secrets: [SecretReference], idField: String, toField: String, textField: String) {
            self.signature = signature
            self.secrets = secrets
            self.idField = idField
            self.toField = toField
            self.textField = textField
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
        /// Reply-To; `{token}` in it (e.g. `reply+{token}@in.example.org`) becomes each message's reply token, so an
        /// emailed answer names the message it answers.
        public var replyTo: String?
        /// Replies posted back by the provider's inbound-parse webhook at `/inbound/email/{gateway}`.
        public var inbound: InboundEmail?

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

extension SecretReference {
    /// The secret's value, trimmed of a trailing line break; throws naming the variable or file when it is missing.
    public func resolve(environment: [String: String]) throws -> String {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw SecretError(message: "environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SecretError(message: "cannot read secret file \(path)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// A secret that cannot be read.
public struct SecretError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
