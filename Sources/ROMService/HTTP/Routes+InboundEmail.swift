import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Intake
import Logging
import Storage

extension Routes {
    /// Inbound email from a provider's parsed-email webhook: signature checked over what was sent, stored once per
    /// provider message id, matched to a person by the `reply+<token>@…` address, quoted history stripped, then the
    /// same pipeline as SMS (answers scored, keywords acted on, the rest quarantined with the reason).
    static func inboundEmail(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/inbound/email/:gateway", .open) { request, context in
            let name = context.parameters.get("gateway") ?? ""
            guard let settings = env.configuration.gateways[name], case .smtp(let smtp) = settings.kind, let inbound = smtp.inbound else {
                throw APIError(status: .notFound, code: "unknown_gateway", message: "no gateway `\(name)` takes inbound email")
            }
            let raw = Array(try await request.body.collect(upTo: 2 * 1024 * 1024).readableBytesView)
            let contentType = request.headers[.contentType] ?? ""
            let fields = WebhookFields.parse(raw, contentType: contentType)
            let secrets = env.inboundSecrets[name]?.inbound ?? []
            let now = env.now()
            let verified: Bool
            switch inbound.signature {
            case .mailgun:
                verified = MailgunSignature.isValid(timestamp: fields["timestamp"], token: fields["token"], signature: fields["signature"], keys: secrets, now: now)
            case .standardWebhooks:
                verified = (try? StandardWebhooks.verify(body: raw, id: request.headers[HTTPField.Name("webhook-id")!],
                                                         timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
                                                         signature: request.headers[HTTPField.Name("webhook-signature")!],
                                                         keys: secrets.compactMap(StandardWebhooks.key(from:)), now: Int64(now.timeIntervalSince1970))) != nil
            }
            guard verified else {
                env.securityEvent("bad_signature", route: "/inbound/email/:gateway", gateway: name, source: context.remoteIP)
                throw APIError(status: .unauthorized, code: "bad_signature", message: "the request's signature does not verify")
            }
            if case .mailgun = inbound.signature, let token = fields["token"],
               try await !env.store.bindWebhookToken(gateway: name, token: token, bodyHash: Hex.encode(SHA256.hash(data: Data(raw))), window: 300, now: now) {
                // Mailgun signs timestamp + token only: the same token with another body is a replay of a captured signature.
                env.securityEvent("replayed_token", route: "/inbound/email/:gateway", gateway: name, source: context.remoteIP)
                throw APIError(status: .unauthorized, code: "replayed_token", message: "this signature was already used for another message")
            }
            guard !fields.isEmpty else {
                throw APIError(status: .badRequest, code: "invalid_message", message: "the body is not JSON, form-encoded or multipart form data")
            }
            // Providers without a message id field still get one id per distinct delivery.
            let eventID = fields[inbound.idField] ?? Hex.encode(SHA256.hash(data: Data(raw)))
            var person: String?
            var messagePrompts: [String] = []
            // Only a sender the provider authenticated (SPF or DKIM pass) can answer for a person (R35).
            let authenticated = inbound.senderAuthenticated(fields)
            if authenticated, let token = EmailReply.replyToken(in: fields[inbound.toField] ?? ""),
               let target = try await env.store.replyTarget(tokenHash: LinkSigner.hash(token)) {
                person = target.personID
                messagePrompts = target.promptIDs
            }
            let named = messagePrompts
            guard let received = try await env.store.receiveEmail(gateway: name, eventID: eventID, personID: person, rawBody: raw,
                                                                  contentType: contentType, now: now) else {
                return try jsonResponse(["status": "duplicate"])
            }
            let text = EmailReply.answerText(fields[inbound.textField] ?? "")
            if !authenticated {
                try await env.store.quarantine(replyID: received.replyID, reason: "sender_not_authenticated", now: now)
                return try jsonResponse(["status": "received"])
            }
            env.processLater(replyID: received.replyID) {
                try await ReplyPipeline(env: env).processText(text, reply: received, channel: "email", gateway: name, keywordRecorded: false,
                                                              messagePrompts: named, now: now)
            }
            return try jsonResponse(["status": "received"])
        }
    }
}
