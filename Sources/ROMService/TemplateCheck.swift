import Delivery
import Foundation
import Scheduling

/// `rom templates check`: renders each message with the longest values the service allows and checks it (R24, R25).
public enum TemplateCheck {
    /// Words that would reveal mental-health care or clinical content in a message.
    public static let denied = ["phq", "gad", "core-10", "core10", "k10", "wsas", "depress", "anxiety", "anxious", "mental", "psych",
                                "score", "crisis team", "suicid", "self-harm", "cmht", "diagnos", "medication", "therapy", "questionnaire"]

    public struct Report: Sendable {
        public var lines: [String]
        public var problems: [String]
    }

    public static func run(_ configuration: Configuration) -> Report {
        var lines: [String] = []
        var problems: [String] = []
        for name in MessageComposer.required where configuration.templates[name] == nil {
            problems.append("templates/\(name).mustache is missing")
        }
        guard let composer = try? MessageComposer(templates: configuration.templates) else {
            return Report(lines: lines, problems: problems + ["templates do not parse"])
        }
        // Given names are at most 40 characters (people import); a long, GSM-7 name and a long non-Latin one.
        let names = [String(repeating: "W", count: 40), "Zoë-Ålesund O'Brien-Featherstonehaugh", String(repeating: "Ж", count: 40)]
        let link = LinkSigner(secret: "check", publicURL: configuration.settings.publicURL).checkin(key: "pr_" + String(repeating: "x", count: 25)).url
        let unsubscribe = LinkSigner(secret: "check", publicURL: configuration.settings.publicURL).unsubscribe(personID: "p", channel: "email").url
        for name in names {
            let sms = composer.compose(personID: "p", givenName: name, channel: .sms, recipient: "+447700900000", link: link, unsubscribeLink: nil, idempotencyKey: "k")
            let count = SMSSegments.count(sms.text)
            lines.append("sms with \(count.encoding.rawValue) name of \(name.count): \(count.units) units, \(count.segments) segment\(count.segments == 1 ? "" : "s")")
            if count.segments > 1 && count.encoding == .gsm7 {
                problems.append("the SMS needs \(count.segments) segments with a \(name.count)-character name (\(count.units) of 160 GSM-7 characters); shorten templates/sms.mustache")
            } else if count.segments > 1 {
                lines.append("  note: a name outside GSM-7 switches the SMS to UCS-2 (\(count.units) of 70 units): \(count.segments) segments")
            }
            // Reply-by-SMS: two prompts with long codes.
            let reply = composer.compose(personID: "p", givenName: name, channel: .sms, recipient: "+447700900000", link: link, unsubscribeLink: nil,
                                         idempotencyKey: "k", replyCodes: ["P998", "P999"])
            let replyCount = SMSSegments.count(reply.text)
            if replyCount.segments > 1 && replyCount.encoding == .gsm7 {
                problems.append("the reply-by-SMS message needs \(replyCount.segments) segments with a \(name.count)-character name (\(replyCount.units) of 160 GSM-7 characters); shorten templates/sms_reply.mustache")
            }
            let email = composer.compose(personID: "p", givenName: name, channel: .email, recipient: "a@example.org", link: link,
                                         unsubscribeLink: unsubscribe, idempotencyKey: "k")
            for (label, text) in [("sms", sms.text), ("reply-by-SMS", reply.text), ("email subject", email.subject ?? ""), ("email text", email.text), ("email html", email.html ?? "")] {
                let lower = text.lowercased()
                for word in denied where lower.contains(word) {
                    problems.append("\(label) contains `\(word)`, which could reveal mental-health care; messages carry only the name and the link")
                }
            }
        }
        // Automatic SMS replies: one segment, nothing clinical.
        for (label, text) in [("sms_replies.help", configuration.settings.helpText), ("sms_replies.how_to_answer", configuration.settings.howToAnswerText)] {
            let count = SMSSegments.count(text)
            lines.append("\(label): \(count.units) units, \(count.segments) segment\(count.segments == 1 ? "" : "s")")
            if count.segments > 1 { problems.append("\(label) in rom.yaml needs \(count.segments) SMS segments; keep it within one") }
            let lower = text.lowercased()
            for word in denied where lower.contains(word) {
                problems.append("\(label) in rom.yaml contains `\(word)`, which could reveal mental-health care")
            }
        }
        return Report(lines: lines, problems: Array(Set(problems)).sorted())
    }
}
