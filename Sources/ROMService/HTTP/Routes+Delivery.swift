import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Intake
import Logging
import Storage

extension Routes {
    /// Provider delivery receipts and the one-click unsubscribe endpoint.
    static func delivery(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/callbacks/status/:gateway", .open) { request, context in
            let name = context.parameters.get("gateway") ?? ""
            guard let settings = env.configuration.gateways[name], case .webhook(let webhook) = settings.kind, let receipts = webhook.receipts else {
                throw APIError(status: .notFound, code: "unknown_gateway", message: "no gateway `\(name)` takes delivery receipts")
            }
            let buffer = try await request.body.collect(upTo: 64 * 1024)
            let body = Array(buffer.readableBytesView)
            let secrets = env.inboundSecrets[name]?.receipts ?? []
            let verified: Bool
            switch receipts.signature {
            case .twilio:
                let url = env.configuration.settings.publicURL + request.uri.description
                let contentType = request.headers[.contentType] ?? ""
                let pairs = contentType.contains("json") ? [] : FormFields.pairs(String(decoding: body, as: UTF8.self))
                verified = secrets.contains { TwilioSignature.isValid(header: request.headers[HTTPField.Name("X-Twilio-Signature")!], url: url, parameters: pairs, authToken: $0) }
                    && (!contentType.contains("json") || TwilioSignature.jsonBodyMatches(url: url, body: body))
            case .standardWebhooks:
                verified = (try? StandardWebhooks.verify(body: body, id: request.headers[HTTPField.Name("webhook-id")!],
                                                         timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
                                                         signature: request.headers[HTTPField.Name("webhook-signature")!],
                                                         keys: secrets.compactMap(StandardWebhooks.key(from:)), now: Int64(env.now().timeIntervalSince1970))) != nil
            }
            guard !secrets.isEmpty, verified else {
                env.securityEvent("bad_signature", route: "/callbacks/status/:gateway", gateway: name, source: context.remoteIP)
                throw APIError(status: .unauthorized, code: "bad_signature", message: "the receipt's signature does not verify")
            }
            let fields = WebhookFields.parse(body, contentType: request.headers[.contentType] ?? "")
            guard let id = fields[receipts.idField], let status = fields[receipts.statusField] else {
                throw APIError(status: .badRequest, code: "invalid_receipt", message: "the receipt needs \(receipts.idField) and \(receipts.statusField)")
            }
            let changed: Int
            if let ours = receipts.map[status] {
                changed = try await env.store.applyReceipt(gateway: name, providerMessageID: id, status: ours, detail: "provider: \(status)", now: env.now())
            } else {
                changed = 0
            }
            return try jsonResponse(["updated": changed])
        }
        table.add(.get, "/unsubscribe/:token", .open, page: true) { _, context in
            let token = context.parameters.get("token") ?? ""
            guard try await env.store.unsubscribeTarget(hash: LinkSigner.hash(token)) != nil else {
                return HTML.response(HTML.page(title: "Link not recognised", body: "<h1>This link is not recognised</h1><p>It may have been copied incompletely.</p>"), status: .notFound)
            }
            // GET never changes anything: mail scanners open links. The button posts.
            return HTML.response(HTML.page(title: "Stop these emails", body: """
            <h1>Stop check-in emails?</h1><p>You will no longer get check-in emails from this service. Your care team will still be able to contact you.</p>
            <form method="post" action="/unsubscribe/\(HTML.escape(token))"><input type="hidden" name="List-Unsubscribe" value="One-Click">
            <button type="submit">Stop these emails</button></form>
            """))
        }
        table.add(.post, "/unsubscribe/:token", .open, page: true) { _, context in
            let token = context.parameters.get("token") ?? ""
            guard let (person, channel) = try await env.store.unsubscribeTarget(hash: LinkSigner.hash(token)) else {
                return HTML.response(HTML.page(title: "Link not recognised", body: "<h1>This link is not recognised</h1>"), status: .notFound)
            }
            try await env.store.recordConsent(personID: person, channel: channel, optedIn: false, source: "unsubscribe_link", inboundReplyID: nil, now: env.now())
            return HTML.response(HTML.page(title: "Unsubscribed", body: "<h1>You will not get these emails any more</h1><p>If this was a mistake, tell your care team.</p>"))
        }
    }
}
