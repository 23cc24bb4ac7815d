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
    /// acted on in the same transaction, answers scored when they match the person's only open prompt, anything
    /// else quarantined with its reason.
    static func inboundSMS(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/inbound/sms/:gateway", .open) { request, context in
            let name = context.parameters.get("gateway") ?? ""
            guard let settings = env.configuration.gateways[name], case .webhook(let webhook) = settings.kind, let inbound = webhook.inbound else {
                throw APIError(status: .notFound, code: "unknown_gateway", message: "no gateway `\(name)` takes inbound SMS")
            }
            let raw = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
            let contentType = request.headers[.contentType] ?? ""
            let fields = inboundFields(raw, contentType: contentType)
            let secrets = env.inboundSecrets[name]?.inbound ?? []
            let verified: Bool
            switch inbound.signature {
            case .twilio:
                // The URL Twilio called, rebuilt from the configured public address, never from Host headers (R14).
                let url = env.configuration.settings.publicURL + request.uri.description
                let pairs = contentType.contains("json") ? [] : formPairs(String(decoding: raw, as: UTF8.self))
                verified = secrets.contains { TwilioSignature.isValid(header: request.headers[HTTPField.Name("X-Twilio-Signature")!], url: url, parameters: pairs, authToken: $0) }
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
                env.logger.notice("inbound SMS signature refused", metadata: ["event": "security.bad_signature", "gateway": "\(name)"])
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
            env.background.start {
                do {
                    try await process(reply, received, gateway: name, keyword: keyword, env: env, now: now)
                } catch {
                    env.logger.error("stored SMS not processed yet; the sweeper will retry", metadata: ["reply": "\(received.replyID)", "error": "\(error)"])
                }
            }
            return try jsonResponse(["status": "received"])
        }
    }

    /// Processes SMS and email replies that were stored but not processed (the service stopped in between), so no
    /// answer — above all no risk answer — is lost. Runs at start-up and on every sweep. Returns how many it processed.
    @discardableResult
    public static func reprocessPendingSMS(_ env: ServiceEnvironment, receivedBefore: Date? = nil) async throws -> Int {
        var count = 0
        for source in ["sms", "email"] {
            let pending = try await env.store.pendingReplies(source: source, receivedBefore: receivedBefore)
            count += pending.count
            for message in pending {
                let fields = inboundFields(message.rawBody, contentType: message.contentType)
                let text: String
                switch env.configuration.gateways[message.gateway]?.kind {
                case .webhook(let webhook) where source == "sms" && webhook.inbound != nil:
                    text = fields[webhook.inbound!.bodyField] ?? ""
                case .smtp(let smtp) where source == "email" && smtp.inbound != nil:
                    text = EmailReply.answerText(fields[smtp.inbound!.textField] ?? "")
                default:
                    try await env.store.quarantine(replyID: message.replyID, reason: "gateway \(message.gateway) no longer configured", now: env.now())
                    continue
                }
                try await process(SMSReply.parse(text), ReceivedSMS(replyID: message.replyID, personID: message.personID), channel: source,
                                  gateway: message.gateway, keyword: nil, env: env, now: env.now())
            }
        }
        return count
    }

    /// The shared pipeline after a reply is stored raw: parse → correlate → score → flag (or quarantine with the reason).
    /// `channel` is `sms` or `email`; auto-replies go out only by SMS, through the gateway the message came in on.
    static func process(_ reply: SMSReply, _ received: ReceivedSMS, channel: String = "sms", gateway: String, keyword: Bool?,
                        env: ServiceEnvironment, now: Date) async throws {
        guard let person = received.personID else {
            // Never reply to a number we do not know: it may not be the person's, and nothing is disclosed.
            return try await env.store.quarantine(replyID: received.replyID, reason: channel == "sms" ? "unknown_number" : "unknown_reply_address", now: now)
        }
        if keyword != nil { return }
        let settings = env.configuration.settings
        /// Quarantines with the reason and tells the person, once a day at most, how to answer.
        func unusable(_ reason: String) async throws {
            try await env.store.quarantine(replyID: received.replyID, reason: reason, now: now)
            guard channel == "sms" else { return }
            try await env.store.queueReply(personID: person, replyID: received.replyID, kind: "how_to_answer", channel: "sms", gateway: gateway,
                                           text: settings.howToAnswerText, within: 86_400, now: now)
        }
        switch reply {
        case .optOut, .optIn:
            // SMS keywords are recorded as the message is stored; here when reprocessing, and for email.
            try await env.store.recordConsent(personID: person, channel: channel, optedIn: reply == .optIn, source: "sms_keyword",
                                              inboundReplyID: received.replyID, now: now)
            return try await env.store.markProcessed(replyID: received.replyID, reason: reply == .optIn ? "opt_in" : "opt_out", now: now)
        case .help:
            guard channel == "sms" else { return try await env.store.quarantine(replyID: received.replyID, reason: "help_requested", now: now) }
            try await env.store.queueReply(personID: person, replyID: received.replyID, kind: "help", channel: "sms", gateway: gateway,
                                           text: settings.helpText, within: 3_600, now: now)
            return try await env.store.markProcessed(replyID: received.replyID, reason: "help", now: now)
        case .freeTextOptOut:
            // A person reads it and acts; no automatic message to someone who may be asking us to stop.
            return try await env.store.quarantine(replyID: received.replyID, reason: "free_text_opt_out", now: now)
        case .unreadable(let reason):
            return try await unusable("unreadable: \(reason)")
        case .answers(let code, let values, let compact):
            let open = try await env.store.openPrompts(personID: person, now: now)
            // A code names its prompt; without one, the reply answers the only open reply-by-SMS prompt.
            // An email reply answers the message its address names, so without a code it needs one open prompt.
            let candidates = code.map { code in open.filter { $0.replyCode == code } } ?? (channel == "email" ? open : open.filter { $0.replyCode != nil })
            guard candidates.count == 1, let prompt = candidates.first, let scorer = try? env.configuration.instruments.scorer(prompt.instrument) else {
                if let code { return try await unusable("unknown code \(code)") }
                return try await unusable(candidates.isEmpty ? "no_open_prompt" : "ambiguous: \(candidates.count) open prompts")
            }
            if compact && scorer.definition.options.contains(where: { $0.value > 9 }) {
                return try await unusable("digits run for answers above 9")
            }
            let baseline = try await env.store.baselineAnswers(personID: person, instrument: prompt.instrument).flatMap { try? AnswerParsing.parseList($0, form: .baseline) }
            let score: Score
            do {
                score = try scorer.score(values.map { $0 }, baseline: prompt.kind == "baseline" ? nil : baseline)
            } catch {
                // A risk answer in an unusable reply still reaches a clinician through quarantine review.
                return try await unusable("\(error.code): \(error.description)")
            }
            let answer = try scoredAnswer(score, answers: values.map { $0 }, promptID: prompt.id)
            try await env.store.storeScoredReply(replyID: received.replyID, personID: person, source: channel, answer: answer, now: now)
        }
    }

    /// Form fields in the order sent, for signature checks that cover every parameter.
    static func formPairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
