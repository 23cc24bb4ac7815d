import Delivery
import Foundation
import HTTPTypes
import Hummingbird
public import Instruments
import Logging
import Scheduling
public import Storage

/// The service user's check-in form at `/c/{token}`: server-rendered, no JavaScript, nothing third-party.
///
/// GET and HEAD only show the form (mail scanners open links); the POST consumes the token atomically together
/// with the answers, scores and flags.
extension Routes {
    static func checkin(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let show: @Sendable (Request, ROMRequestContext) async throws -> Response = { _, context in
            let token = context.parameters.get("token") ?? ""
            guard let person = try await env.store.checkinPerson(tokenHash: LinkSigner.hash(token), now: env.now()) else {
                return HTML.response(linkEndedPage(env), status: .gone)
            }
            let prompts = try await orderedPrompts(person, env)
            guard !prompts.isEmpty else { return HTML.response(nothingToAnswerPage(env)) }
            // Answers saved earlier are filled back in.
            let saved = try await env.store.draft(tokenHash: LinkSigner.hash(token)).map(parseForm) ?? [:]
            return HTML.response(formPage(token: token, prompts: prompts, catalog: env.configuration.instruments, error: nil, previous: saved))
        }
        table.add(.get, "/c/:token", .open, page: true, show)
        table.add(.head, "/c/:token", .open, page: true, show)
        table.add(.post, "/c/:token", .open, page: true) { request, context in
            let token = context.parameters.get("token") ?? ""
            let hash = LinkSigner.hash(token)
            let now = env.now()
            let body = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
            guard let person = try await env.store.checkinPerson(tokenHash: hash, now: now) else {
                return HTML.response(alreadyReceivedPage(env), status: .ok)
            }
            let prompts = try await orderedPrompts(person, env)
            let form = parseForm(String(decoding: body, as: UTF8.self))
            if form["action"] == "save" {
                return try await saveDraft(form: String(decoding: body, as: UTF8.self), fields: form, hash: hash, person: person, prompts: prompts, env: env, now: now)
            }
            let answers: [CheckinAnswer]
            switch try await scoreForm(form, prompts: prompts, person: person, env: env) {
            case .success(let scored): answers = scored
            case .failure(let problem):
                return HTML.response(formPage(token: token, prompts: prompts, catalog: env.configuration.instruments, error: problem.message, previous: form),
                                     status: .unprocessableContent)
            }
            switch try await env.store.submitCheckin(tokenHash: hash, personID: person, rawBody: body, answers: answers, now: now) {
            case .alreadyUsed:
                return HTML.response(alreadyReceivedPage(env))
            case .accepted(_, let flagged):
                if flagged > 0 { env.logger.notice("check-in raised flags", metadata: ["flags": "\(flagged)"]) }
                return HTML.response(thanksPage(env))
            }
        }
    }

    /// "Save and finish later": keeps what is answered so far for this link, without using it up. A risk item already
    /// answered above its threshold is flagged now, not when (or if) the form is sent.
    static func saveDraft(form raw: String, fields: [String: String], hash: String, person: String, prompts: [OpenPrompt],
                          env: ServiceEnvironment, now: Date) async throws -> Response {
        var risks: [(promptID: String, flag: NewFlag)] = []
        for prompt in prompts {
            guard let definition = env.configuration.instruments.definition(prompt.instrument) else { continue }
            for risk in definition.riskItems {
                guard let value = fields["a.\(prompt.id).\(risk.item)"].flatMap({ Int($0) }), value > risk.above else { continue }
                let evidence = "{\"instrument\":\"\(prompt.instrument)\",\"prompt\":\"\(prompt.id)\",\"item\":\(risk.item),\"value\":\(value),\"source\":\"saved_draft\"}"
                risks.append((prompt.id, NewFlag(kind: risk.flag, severity: "urgent", evidence: evidence)))
            }
        }
        // Only this form's answer fields are kept.
        let kept = raw.split(separator: "&").filter { $0.hasPrefix("a.") }.joined(separator: "&")
        try await env.store.saveDraft(tokenHash: hash, personID: person, fields: kept, riskFlags: risks, now: now)
        let until = prompts.map(\.closesAt).max()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.dateFormat = "EEEE d MMMM"
        formatter.timeZone = TimeZone(identifier: env.configuration.settings.defaultTimeZone)
        return HTML.response(HTML.page(title: "Saved", body: """
        <h1>Your answers are saved</h1><p>Open the same link again to finish\(until.map { " before " + HTML.escape(formatter.string(from: $0)) } ?? ""). \
        Press “Send my answers” when you have finished.</p>
        <p><strong>If you need help now:</strong> \(HTML.escape(env.configuration.settings.crisisText))</p>
        """))
    }

    struct FormProblem: Error { var message: String }

    /// Scores a submitted form's answers for each open prompt (`a.<prompt>.<item>` fields), against the person's
    /// baseline; a problem names the measure and what to fix. Shared by the form and `rom demo`.
    static func scoreForm(_ form: [String: String], prompts: [OpenPrompt], person: String, env: ServiceEnvironment) async throws -> Result<[CheckinAnswer], FormProblem> {
        var answers: [CheckinAnswer] = []
        for prompt in prompts {
            guard let scorer = try? env.configuration.instruments.scorer(prompt.instrument) else { continue }
            let definition = scorer.definition
            let count = definition.itemCount?.max ?? definition.items.count
            var values: [Int?] = (1...count).map { item in form["a.\(prompt.id).\(item)"].flatMap { Int($0) } }
            if definition.itemCount != nil {
                while values.count > (definition.itemCount?.min ?? 1), values.last == .some(nil) { values.removeLast() }
            }
            guard values.contains(where: { $0 != nil }) else {
                return .failure(FormProblem(message: "Please answer the questions about \(definition.title), or as many as you can."))
            }
            let baseline = try await env.store.baselineAnswers(personID: person, instrument: prompt.instrument)
                .flatMap { try? AnswerParsing.parseList($0, form: .baseline) }
            let score: Score
            do {
                score = try scorer.score(values, baseline: prompt.kind == "baseline" ? nil : baseline)
            } catch {
                return .failure(FormProblem(message: "\(definition.title): \(error)"))
            }
            answers.append(try scoredAnswer(score, answers: values, promptID: prompt.id))
        }
        return .success(answers)
    }

    /// A person's open prompts in the order of their pathway's measures.
    static func orderedPrompts(_ person: String, _ env: ServiceEnvironment) async throws -> [OpenPrompt] {
        let prompts = try await env.store.openPrompts(personID: person, now: env.now())
        let measures = try await env.store.person(id: person).flatMap { env.configuration.pathways[$0.person.pathway]?.measures } ?? []
        func rank(_ prompt: OpenPrompt) -> Int { measures.firstIndex(of: prompt.instrument) ?? measures.count }
        return prompts.enumerated().sorted { ($0.element.closesAt, rank($0.element), $0.offset) < ($1.element.closesAt, rank($1.element), $1.offset) }.map(\.element)
    }

    /// A scored answer ready to store, the same for the form, the API and SMS: answers as stored, the score as JSON, its flags.
    public static func scoredAnswer(_ score: Score, answers: [Int?], promptID: String) throws -> CheckinAnswer {
        CheckinAnswer(
            promptID: promptID, instrument: score.instrument,
            answers: answers.map { $0.map(String.init) ?? "-" }.joined(separator: ","),
            score: NewScore(instrument: score.instrument, definitionVersion: score.version, valid: score.valid, total: score.total, band: score.band,
                            result: String(decoding: try JSONEncoder().encode(ScoreReport(score)), as: UTF8.self)),
            flags: flags(for: score, promptID: promptID))
    }

    /// Flags from a score: risk items (urgent), reliable deterioration and the severe band (high).
    static func flags(for score: Score, promptID: String) -> [NewFlag] {
        var flags: [NewFlag] = []
        func evidence(_ extra: String) -> String {
            "{\"instrument\":\"\(score.instrument)\",\"version\":\"\(score.version)\",\"prompt\":\"\(promptID)\",\"total\":\(score.total.map { "\($0)" } ?? "null")\(extra)}"
        }
        for risk in score.riskFlags {
            flags.append(NewFlag(kind: risk.flag, severity: risk.value == nil ? "high" : "urgent",
                                 evidence: evidence(",\"item\":\(risk.item),\"value\":\(risk.value.map(String.init) ?? "null")")))
        }
        if score.change == .reliableDeterioration {
            flags.append(NewFlag(kind: "reliable_deterioration", severity: "high",
                                 evidence: evidence(",\"baseline_total\":\(score.baselineTotal.map { "\($0)" } ?? "null")")))
        }
        if score.band == "severe" {
            flags.append(NewFlag(kind: "severe_band", severity: "high", evidence: evidence(",\"band\":\"severe\"")))
        }
        return flags
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
