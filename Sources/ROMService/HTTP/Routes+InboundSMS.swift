import Delivery
public import Foundation
import HTTPTypes
import Hummingbird
import Instruments
import Intake
import Logging
import Storage

extension Routes {
    /// Inbound SMS from a provider: signature checked over the raw bytes, stored once per provider id, keywords
    /// acted on in the same transaction; then the reply pipeline (answers placed and scored, anything else to the team
    /// inbox with its reason).
    static func inboundSMS(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/inbound/sms/:gateway", .open) { request, context in
            let name = context.parameters.get("gateway") ?? ""
            guard let settings = env.configuration.gateways[name], case .webhook(let webhook) = settings.kind, let inbound = webhook.inbound else {
                throw APIError(status: .notFound, code: "unknown_gateway", message: "no gateway `\(name)` takes inbound SMS")
            }
            let raw = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
            let contentType = request.headers[.contentType] ?? ""
            let fields = WebhookFields.parse(raw, contentType: contentType)
            let secrets = env.inboundSecrets[name]?.inbound ?? []
            let verified: Bool
            switch inbound.signature {
            case .twilio:
                // The URL Twilio called, rebuilt from the configured public address, never from Host headers (R14).
                let url = env.configuration.settings.publicURL + request.uri.description
                let pairs = contentType.contains("json") ? [] : FormFields.pairs(String(decoding: raw, as: UTF8.self))
                verified = secrets.contains { TwilioSignature.isValid(header: request.headers[HTTPField.Name("X-Twilio-Signature")!], url: url, parameters: pairs, authToken: $0) }
                    && (!contentType.contains("json") || TwilioSignature.jsonBodyMatches(url: url, body: raw))
            case .standardWebhooks:
                do {
                    try StandardWebhooks.verify(body: raw, id: request.headers[HTTPField.Name("webhook-id")!],
                                                timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
                                                signature: request.headers[HTTPField.Name("webhook-signature")!],
                                                keys: secrets.compactMap(StandardWebhooks.key(from:)), now: Int64(env.now().timeIntervalSince1970))
                    verified = true
                } catch {
                    verified = false
                }
            }
            guard verified else {
                env.securityEvent("bad_signature", route: "/inbound/sms/:gateway", gateway: name, source: context.remoteIP)
                throw APIError(status: .unauthorized, code: "bad_signature", message: "the request's signature does not verify")
            }
            guard let eventID = fields[inbound.idField], let from = fields[inbound.fromField] else {
                throw APIError(status: .badRequest, code: "invalid_message", message: "the message needs \(inbound.idField) and \(inbound.fromField)")
            }
            let reply = SMSReply.parse(fields[inbound.bodyField] ?? "")
            let keyword: Bool? = reply == .optOut ? false : reply == .optIn ? true : nil
            let now = env.now()
            guard let received = try await env.store.receiveSMS(gateway: name, eventID: eventID, from: from, rawBody: raw, contentType: contentType,
                                                                optIn: keyword, now: now) else {
                return try jsonResponse(["status": "duplicate"])
            }
            // Stored (and any STOP recorded) before the answer; parsing and scoring follow, so the provider gets its
            // acknowledgement fast. A stop in between leaves the row `received` for the sweeper.
            let text = fields[inbound.bodyField] ?? ""
            env.processLater(replyID: received.replyID) {
                try await ReplyPipeline(env: env).processText(text, reply: received, channel: "sms", gateway: name, keywordRecorded: keyword != nil, now: now)
            }
            return try jsonResponse(["status": "received"])
        }
    }
}
