public import Foundation
public import Scheduling

/// One message ready to leave the service: the person's given name and a link, nothing clinical.
public struct OutboundMessage: Sendable, Equatable {
    public var personID: String
    public var channel: Channel
    /// E.164 number or email address.
    public var recipient: String
    public var subject: String?
    public var text: String
    public var html: String?
    public var link: String?
    /// The same on every retry of the same prompt (and the email Message-ID derives from it).
    public var idempotencyKey: String
    /// One-click unsubscribe for email (RFC 8058).
    public var unsubscribeURL: String?
    /// Fills `{token}` in an SMTP gateway's Reply-To, so a reply names this message.
    public var replyToken: String?
    /// When the message was first attempted: an email's `Date`, kept on every retry so a copy resent after an
    /// ambiguous drop is the same message byte for byte (R11). Nil: the send time.
    public var dated: Date?

    public init(personID: String, channel: Channel, recipient: String, subject: String?, text: String, html: String?,
                link: String?, idempotencyKey: String, unsubscribeURL: String? = nil) {
        self.unsubscribeURL = unsubscribeURL
        self.personID = personID
        self.channel = channel
        self.recipient = recipient
        self.subject = subject
        self.text = text
        self.html = html
        self.link = link
        self.idempotencyKey = idempotencyKey
    }
}

/// What a gateway said about one send.
public enum SendOutcome: Sendable, Equatable {
    /// Taken for delivery; the provider's id when it gave one.
    case accepted(providerMessageID: String?)
    /// Worth retrying (connect error, timeout, 408, 429, 5xx), after `retryAfter` when the provider said.
    case transient(reason: String, retryAfter: TimeInterval?)
    /// Will not work however often it is tried (other 4xx, refused recipient).
    case permanent(reason: String)
}

/// A way out of the service: the sandbox, an SMS provider's webhook, or SMTP.
public protocol Gateway: Sendable {
    var name: String { get }
    var channel: Channel { get }
    func send(_ message: OutboundMessage, now: Date) async -> SendOutcome
    /// True when messages carry a reply token (an SMTP Reply-To with `{token}`), so the dispatcher stores one.
    var usesReplyTokens: Bool { get }
}

extension Gateway {
    public var usesReplyTokens: Bool { false }
}
