public import Foundation
public import Scheduling

/// Sends email over SMTP through libcurl: STARTTLS required unless configured otherwise, one message per prompt
/// with a Message-ID that is the same on every retry, and one-click unsubscribe headers.
public struct SMTPGateway: Gateway {
    public let name: String
    public let channel: Channel
    let settings: GatewaySettings.SMTP
    let password: String?
    let curl: CurlMultiLoop
    let limiter: RateLimiter?
    let timeouts: (connect: Int, total: Int)
    let caBundle: String?
    /// The bare sender address and its domain, worked out once rather than per message.
    let fromAddress: String
    let messageIDDomain: String

    public init(name: String, settings: GatewaySettings.SMTP, rateLimit: Double?, curl: CurlMultiLoop, environment: [String: String],
                connectTimeoutMilliseconds: Int = 5_000, timeoutMilliseconds: Int = 30_000, caBundle: String? = nil) throws {
        self.name = name
        self.channel = .email
        self.settings = settings
        self.password = try settings.password?.resolve(environment: environment)
        self.curl = curl
        self.limiter = rateLimit.map { RateLimiter(perSecond: $0) }
        self.timeouts = (connectTimeoutMilliseconds, timeoutMilliseconds)
        self.caBundle = caBundle
        self.fromAddress = MIMEMessage.address(settings.from)
        self.messageIDDomain = fromAddress.split(separator: "@").last.map(String.init) ?? "rom.invalid"
    }

    /// `<key@sender-domain>` without the brackets.
    public func messageID(for key: String) -> String {
        "\(key)@\(messageIDDomain)"
    }

    /// The RFC 5322 message for an outbound message, dated `date`.
    public func mime(for message: OutboundMessage, date: Date) -> MIMEMessage {
        MIMEMessage(from: settings.from, to: message.recipient, replyTo: settings.replyTo.map { address in
            message.replyToken.map { address.replacingOccurrences(of: "{token}", with: $0) } ?? address.replacingOccurrences(of: "+{token}", with: "")
        }, subject: message.subject ?? "",
                    text: message.text, html: message.html, messageID: messageID(for: message.idempotencyKey), date: date,
                    unsubscribeURL: message.unsubscribeURL)
    }

    public var usesReplyTokens: Bool { settings.replyTo?.contains("{token}") ?? false }

    public var url: String {
        let scheme = settings.tls == .implicit ? "smtps" : "smtp"
        return "\(scheme)://\(settings.host):\(settings.port)/rom"
    }

    public func send(_ message: OutboundMessage, now: Date) async -> SendOutcome {
        await limiter?.acquire()
        let security: SMTPEnvelope.Security
        switch settings.tls {
        case .starttls: security = .requireStartTLS
        case .implicit: security = .implicitTLS
        case .none: security = .none
        }
        let envelope = SMTPEnvelope(from: fromAddress, recipients: [message.recipient],
                                    message: mime(for: message, date: message.dated ?? now).rendered(), security: security,
                                    username: settings.username, password: password)
        let request = CurlRequest(url: url, payload: .smtp(envelope), connectTimeoutMilliseconds: timeouts.connect,
                                  timeoutMilliseconds: timeouts.total, caBundle: caBundle)
        do {
            let response = try await curl.perform(request)
            return .accepted(providerMessageID: "<\(messageID(for: message.idempotencyKey))>:\(response.status)")
        } catch let error as CurlError {
            // Reasons are codes: the server's text often repeats the recipient's address, which must not reach logs.
            if error.isTLSRequiredFailure { return .permanent(reason: "starttls_not_offered: the server does not offer STARTTLS; refusing to send in clear") }
            if error.isTLSFailure { return .permanent(reason: "tls_failed (curl \(error.code))") }
            // 55 is a refused recipient or sender ("RCPT failed: 550"); 5xx replies are permanent, 4xx transient.
            if let reply = error.smtpReplyCode, reply >= 500, error.code == 55 || error.code == 67 { return .permanent(reason: error.reasonCode) }
            return .transient(reason: error.reasonCode, retryAfter: nil)
        } catch {
            return .transient(reason: "send_failed", retryAfter: nil)
        }
    }
}
