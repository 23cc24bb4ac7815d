import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Instruments
import Logging
import Scheduling
import Storage
import Intake

/// The service user's check-in form at `/c/{token}`: server-rendered, no JavaScript, nothing third-party.
///
/// GET and HEAD only show the form (mail scanners open links); the POST goes through the reply pipeline, which keeps
/// the raw body and every answer (late ones inside the grace, unsolicited ones after it) and uses the link up.
extension Routes {
    static func checkin(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let pipeline = ReplyPipeline(env: env)
        let show: @Sendable (Request, ROMRequestContext) async throws -> Response = { _, context in
            let token = context.parameters.get("token") ?? ""
            let now = env.now()
            guard let person = try await env.store.checkinPerson(tokenHash: LinkSigner.hash(token), now: now) else {
                return HTML.response(linkEndedPage(env), status: .gone)
            }
            let prompts = try await pipeline.formPrompts(personID: person, now: now)
            guard !prompts.isEmpty else { return HTML.response(nothingToAnswerPage(env)) }
            // Answers saved earlier are filled back in.
            let saved = try await env.store.draft(tokenHash: LinkSigner.hash(token)).map(FormFields.parse) ?? [:]
            return HTML.response(formPage(token: token, prompts: prompts, catalog: env.configuration.instruments, error: nil, previous: saved))
        }
        table.add(.get, "/c/:token", .open, page: true, show)
        table.add(.head, "/c/:token", .open, page: true, show)
        table.add(.post, "/c/:token", .open, page: true) { request, context in
            let token = context.parameters.get("token") ?? ""
            let hash = LinkSigner.hash(token)
            let now = env.now()
            let body = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
            guard let link = try await env.store.checkinLink(tokenHash: hash) else {
                return HTML.response(linkEndedPage(env), status: .notFound)
            }
            switch try await pipeline.submitForm(tokenHash: hash, link: link, body: body, now: now) {
            case .received: return HTML.response(thanksPage(env))
            case .closed: return HTML.response(closedPage(env))
            case .duplicate: return HTML.response(alreadyReceivedPage(env))
            case .nothingToKeep: return HTML.response(linkEndedPage(env), status: .gone)
            case .saved(let until): return HTML.response(savedPage(env, until: until))
            case .problem(let message):
                let prompts = try await pipeline.formPrompts(personID: link.personID, now: now)
                return HTML.response(formPage(token: token, prompts: prompts, catalog: env.configuration.instruments, error: message,
                                              previous: FormFields.parse(String(decoding: body, as: UTF8.self))), status: .unprocessableContent)
            }
        }
    }

    static func savedPage(_ env: ServiceEnvironment, until: Date?) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.dateFormat = "EEEE d MMMM"
        formatter.timeZone = TimeZone(identifier: env.configuration.settings.defaultTimeZone)
        return HTML.page(title: "Saved", body: """
        <h1>Your answers are saved</h1><p>Open the same link again to finish\(until.map { " before " + HTML.escape(formatter.string(from: $0)) } ?? ""). \
        Press “Send my answers” when you have finished.</p>
        <p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p>
        """)
    }

    static let formStyle = """
    fieldset{border:0;margin:0 0 24px;padding:0}legend{font-weight:bold;margin-bottom:8px}
    .radio{display:flex;align-items:center;margin:6px 0;min-height:44px}
    .radio input{width:32px;height:32px;margin:0 12px 0 0;flex:none}.radio label{font-weight:normal;margin:0;flex:1;min-height:44px;display:flex;align-items:center}
    button.secondary{background:#fff;color:#005eb8;border:2px solid #005eb8;margin-left:8px}
    .instrument{border-top:4px solid #005eb8;padding-top:12px;margin-top:24px}.attribution{font-size:14px;color:#505a5f}
    """

    static func formPage(token: String, prompts: [OpenPrompt], catalog: InstrumentCatalog, error: String?, previous: [String: String]) -> String {
        var body = "<h1>Your check-in</h1><p>These questions help you and your care team see how things have been. There are no right or wrong answers.</p>"
        if let error { body += "<div class=\"error\" role=\"alert\"><p>\(HTML.escape(error))</p></div>" }
        body += "<form method=\"post\" action=\"/c/\(HTML.escape(token))\" novalidate>"
        for prompt in prompts {
            guard let definition = catalog.definition(prompt.instrument) else { continue }
            body += "<section class=\"instrument\"><h2>\(HTML.escape(definition.title))</h2>"
            if let stem = definition.stem { body += "<p>\(HTML.escape(stem))</p>" }
            let count = definition.itemCount?.max ?? definition.items.count
            for number in 1...count {
                let item = definition.items[number - 1]
                let text = item.text ?? (definition.itemCount != nil ? "Your goal \(number) (leave blank if you have fewer goals)" : "Question \(number)")
                let name = "a.\(prompt.id).\(number)"
                body += "<fieldset><legend>\(number). \(HTML.escape(text))</legend>"
                for option in definition.options(forItem: number) {
                    let id = "\(name).\(option.value)".replacingOccurrences(of: ".", with: "-")
                    let checked = previous[name] == String(option.value) ? " checked" : ""
                    body += "<div class=\"radio\"><input type=\"radio\" id=\"\(id)\" name=\"\(name)\" value=\"\(option.value)\"\(checked)><label for=\"\(id)\">\(HTML.escape(option.label))</label></div>"
                }
                body += "</fieldset>"
            }
            body += "<p class=\"attribution\">\(HTML.escape(definition.licence.attribution))</p></section>"
        }
        body += "<button type=\"submit\" name=\"action\" value=\"send\">Send my answers</button> "
        body += "<button type=\"submit\" name=\"action\" value=\"save\" class=\"secondary\">Save and finish later</button></form>"
        return HTML.page(title: "Your check-in", body: "<style>\(formStyle)</style>" + body)
    }

    static func thanksPage(_ env: ServiceEnvironment) -> String {
        HTML.page(title: "Thank you", body: """
        <h1>Thank you, your answers have been sent</h1><p>Your care team will look at them before your next appointment.</p>
        <div class="error" role="note"><p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p></div>
        """)
    }

    /// After the check-in closed: the answers were kept and passed to the care team, and the page says so.
    static func closedPage(_ env: ServiceEnvironment) -> String {
        HTML.page(title: "Check-in closed", body: """
        <h1>This check-in had closed</h1><p>Thank you. Your answers have been kept and passed to your care team, \
        but they arrived after the time to answer had ended, so your team will see them as extra answers. \
        You will get a new link before your next appointment.</p>
        <div class="error" role="note"><p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p></div>
        """)
    }

    static func alreadyReceivedPage(_ env: ServiceEnvironment) -> String {
        HTML.page(title: "Already received", body: """
        <h1>We already have your answers</h1><p>Thank you. There is nothing more to do with this link.</p>
        <p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p>
        """)
    }

    static func linkEndedPage(_ env: ServiceEnvironment) -> String {
        HTML.page(title: "Link ended", body: """
        <h1>This link has ended</h1><p>It has been used already, or the time to answer has passed. You will get a new link before your next appointment.</p>
        <p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p>
        """)
    }

    static func nothingToAnswerPage(_ env: ServiceEnvironment) -> String {
        HTML.page(title: "Nothing to answer", body: """
        <h1>There is nothing to answer just now</h1><p>You have answered everything for now. Thank you.</p>
        <p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p>
        """)
    }
}
