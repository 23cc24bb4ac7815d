public import Crypto
public import Foundation
import Mustache
public import Scheduling

/// Sends SMS through a provider's HTTP API described in `gateways.yaml`: URL, headers, a Mustache body, auth,
/// Standard Webhooks signing, an idempotency header, a rate limit, and the provider's message id from the response.
public struct WebhookGateway: Gateway {
    public let name: String
    public let channel: Channel
    let settings: GatewaySettings.Webhook
    let template: MustacheTemplate
    /// The body as text and variables, when it is no more than that (see `FlatTemplate`), with its escaping.
    let flat: FlatTemplate?
    let escape: @Sendable (String) -> String
    let authorization: String?
    let signingKeys: [StandardWebhooks.Key]
    let curl: CurlMultiLoop
    let limiter: RateLimiter?
    let timeouts: (connect: Int, total: Int)
    let caBundle: String?

    /// Resolves secrets now, so a missing one fails at start-up with its name, not at the first send.
    public init(name: String, settings: GatewaySettings.Webhook, rateLimit: Double?, curl: CurlMultiLoop, environment: [String: String],
                connectTimeoutMilliseconds: Int = 5_000, timeoutMilliseconds: Int = 30_000, caBundle: String? = nil) throws {
        self.name = name
        self.channel = .sms
        self.settings = settings
        self.template = try MustacheTemplate(string: TemplateContentTypes.prefixed(settings.body, contentType: settings.contentType))
        self.flat = FlatTemplate(settings.body)
        self.escape = TemplateContentTypes.Kind(contentType: settings.contentType).escape
        switch settings.auth {
        case .bearer(let secret):
            authorization = "Bearer " + (try secret.resolve(environment: environment))
        case .basic(let username, let password):
            authorization = "Basic " + Data("\(username):\(try password.resolve(environment: environment))".utf8).base64EncodedString()
        case nil:
            authorization = nil
        }
        signingKeys = try settings.signingSecrets.map { reference in
            guard let key = StandardWebhooks.key(from: try reference.resolve(environment: environment)) else {
                throw SecretError(message: "signing secret \(reference) for gateway \(name) is not base64 (whsec_…)")
            }
            return StandardWebhooks.Key(key)
        }
        self.curl = curl
        self.limiter = rateLimit.map { RateLimiter(perSecond: $0) }
        self.timeouts = (connectTimeoutMilliseconds, timeoutMilliseconds)
        self.caBundle = caBundle
    }

    /// The request body for a message (also used by benchmarks and tests).
    public func body(for message: OutboundMessage) -> [UInt8] {
        let values: [String: String] = ["to": message.recipient, "text": message.text, "link": message.link ?? "",
                                        "idempotency_key": message.idempotencyKey]
        return Array((flat?.render(values, escape: escape) ?? template.render(values)).utf8)
    }

    public func send(_ message: OutboundMessage, now: Date) async -> SendOutcome {
        await limiter?.acquire()
        let body = body(for: message)
        var headers: [(String, String)] = [("Content-Type", settings.contentType), ("Idempotency-Key", "\"\(message.idempotencyKey)\"")]
        headers += settings.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let authorization { headers.append(("Authorization", authorization)) }
        if !signingKeys.isEmpty {
            headers += StandardWebhooks.headers(id: message.idempotencyKey, timestamp: Int64(now.timeIntervalSince1970), body: body,
                                                keys: signingKeys.map(\.key))
        }
        let request = CurlRequest(url: settings.url, payload: .http(method: settings.method, headers: headers, body: body),
                                  connectTimeoutMilliseconds: timeouts.connect, timeoutMilliseconds: timeouts.total, caBundle: caBundle)
        let response: CurlResponse
        do {
            response = try await curl.perform(request)
        } catch let error as CurlError {
            // Connect errors, timeouts and cut responses: maybe sent, so retried with the same key (R9).
            return .transient(reason: error.reasonCode, retryAfter: nil)
        } catch {
            return .transient(reason: "send_failed", retryAfter: nil)
        }
        return Self.classify(response, messageIDPath: settings.messageIDPath, now: now)
    }

    /// 2xx accepted; 408, 429 and 5xx transient (honouring Retry-After); any other status permanent.
    public static func classify(_ response: CurlResponse, messageIDPath: String?, now: Date) -> SendOutcome {
        switch response.status {
        case 200..<300:
            return .accepted(providerMessageID: messageIDPath.flatMap { extractID(from: response.body, path: $0) })
        case 408, 429, 500..<600:
            return .transient(reason: "HTTP \(response.status)", retryAfter: parseRetryAfter(response.header("retry-after"), now: now))
        default:
            return .permanent(reason: "HTTP \(response.status)")
        }
    }

    /// Walks a dotted path (`sid`, `data.id`, `messages.0.id`) through a JSON body.
    public static func extractID(from body: [UInt8], path: String) -> String? {
        guard var node = try? JSONSerialization.jsonObject(with: Data(body)) else { return nil }
        for part in path.split(separator: ".") {
            if let object = node as? [String: Any], let next = object[String(part)] {
                node = next
            } else if let array = node as? [Any], let index = Int(part), array.indices.contains(index) {
                node = array[index]
            } else {
                return nil
            }
        }
        if let text = node as? String { return text }
        if let number = node as? NSNumber { return number.stringValue }
        return nil
    }
}

extension StandardWebhooks {
    /// A signing key that can cross concurrency domains.
    public struct Key: @unchecked Sendable {
        public let key: SymmetricKey
        public init(_ key: SymmetricKey) { self.key = key }
    }
}

/// Spaces sends to at most `perSecond` per gateway.
public actor RateLimiter {
    private let interval: Duration
    private var next: ContinuousClock.Instant = .now

    public init(perSecond: Double) {
        self.interval = .nanoseconds(Int64(1e9 / max(perSecond, 0.001)))
    }

    /// Waits for the next send's turn. The turn is taken when the caller is actually let go, not reserved in advance:
    /// callers that all wake late (a stalled machine) go one interval apart, instead of together in a burst that a
    /// provider counting per second would refuse.
    public func acquire() async {
        while true {
            let now = ContinuousClock.now
            if now >= next {
                next = now + interval
                return
            }
            try? await Task.sleep(until: next, clock: .continuous)
        }
    }
}
