import Foundation
import Mustache
public import Scheduling

/// Renders prompt messages from the service's templates: given name and link only.
public struct MessageComposer: Sendable {
    private let library: MustacheLibrary
    /// The plain-text templates that are only text and `{{name}}` (see `FlatTemplate`); the rest render through `library`.
    private let flat: [String: FlatTemplate]

    /// Template names the composer needs.
    public static let required = ["sms", "sms_reply", "email_subject", "email_text", "email_html"]

    public init(templates: [String: String]) throws {
        var library = MustacheLibrary()
        var flat: [String: FlatTemplate] = [:]
        for (name, text) in templates {
            // Only the HTML email is HTML: SMS and plain-text email must not turn "'" into "&#39;".
            if name.hasSuffix("html") {
                try library.register(text, named: name)
            } else {
                try library.register("{{% CONTENT_TYPE: TEXT}}" + text, named: name)
                flat[name] = FlatTemplate(text)
            }
        }
        self.library = library
        self.flat = flat
    }

    /// The message for one check-in on one channel. With `replyCodes`, the SMS asks for a reply by SMS naming those
    /// codes (`sms_reply` template); otherwise it carries the link (`sms`).
    public func compose(personID: String, givenName: String, channel: Channel, recipient: String, link: String,
                        unsubscribeLink: String?, idempotencyKey: String, replyCodes: [String] = []) -> OutboundMessage {
        let codes = replyCodes.count <= 1 ? replyCodes.joined() : replyCodes.dropLast().joined(separator: ", ") + " and " + replyCodes.last!
        let values: [String: String] = ["given_name": givenName, "link": link, "unsubscribe_link": unsubscribeLink ?? "", "codes": codes]
        func render(_ name: String) -> String? {
            (flat[name].map { $0.render(values) { $0 } } ?? library.render(values, withTemplate: name)).map(TextBytes.trimmed)
        }
        switch channel {
        case .sms:
            return OutboundMessage(personID: personID, channel: .sms, recipient: recipient, subject: nil, text: render(replyCodes.isEmpty ? "sms" : "sms_reply") ?? link,
                                   html: nil, link: link, idempotencyKey: idempotencyKey)
        case .email:
            return OutboundMessage(personID: personID, channel: .email, recipient: recipient, subject: render("email_subject"),
                                   text: render("email_text") ?? link, html: render("email_html"), link: link, idempotencyKey: idempotencyKey,
                                   unsubscribeURL: unsubscribeLink)
        }
    }
}
