import Crypto
import Delivery
public import Foundation
public import Instruments
public import Intake
import Logging
import Scheduling
public import Storage

/// The one path from a reply to the clinician, for every channel: the check-in form, inbound SMS and email, the
/// responses API, paper forms, `rom demo`, the start-up and sweeper reprocessing, and the team inbox.
///
/// Each channel stores the raw reply first (or in the same transaction as its answers), then comes here: decode →
/// correlate (`Correlation`) → score with the one baseline rule → flag (`FlagRules`) → store. Nothing a person sends is
/// dropped: answers after closing count as late inside the pathway's grace and are kept as unsolicited after it, and
/// whatever cannot be used goes to the team inbox with its reason, risk phrases and risk answers flagged at once.
public struct ReplyPipeline: Sendable {
    let env: ServiceEnvironment

    /// Prompts closed longer ago than this are not looked up for a reply (a code names a prompt at most this old).
    static let lookback: TimeInterval = 120 * 86_400

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    // MARK: Scoring

    /// Scores answers meant for `placement`'s prompt (or for none). The one baseline rule: compare with the person's
    /// baseline (their first valid score of the measure) unless the answers are for a baseline prompt.
    public func answer(_ values: [Int?], instrument: String, context: Scorer.Context = [:], placement: Correlation.Placement?,
                       personID: String, source: String) async throws -> Result<CheckinAnswer, ScoringError> {
        let scorer: Scorer
        do { scorer = try env.configuration.instruments.scorer(instrument) } catch { return .failure(error) }
        let baseline: [Int?]?
        if placement?.meantFor?.kind == "baseline" {
            baseline = nil
        } else {
            baseline = try await env.store.baselineAnswers(personID: personID, instrument: instrument).flatMap { try? AnswerParsing.parseList($0, form: .baseline) }
        }
        let score: Score
        do { score = try scorer.score(values, context: context, baseline: baseline) } catch { return .failure(error) }
        let result = String(decoding: try JSONEncoder().encode(ScoreReport(score)), as: UTF8.self)
        var answer = CheckinAnswer(
            promptID: "", instrument: instrument, answers: values.map { $0.map(String.init) ?? "-" }.joined(separator: ","),
            score: NewScore(instrument: instrument, definitionVersion: score.version, valid: score.valid, total: score.total, band: score.band, result: result),
            flags: FlagRules.flags(for: score, promptID: placement?.meantFor?.id, source: source))
        switch placement {
        case .onTime(let prompt)?: answer.promptID = prompt.id
        case .late(let prompt)?:
            answer.promptID = prompt.id
            answer.late = true
        case .unsolicited(let reason, let prompt)?:
            answer.unsolicitedReason = reason
            answer.aboutPromptID = prompt?.id
        case nil: break
        }
        return .success(answer)
    }

    /// The person's prompts a reply may concern, their pathway's grace, and the pathway (one read of the person).
    func prompts(personID: String, now: Date) async throws -> (prompts: [OpenPrompt], grace: TimeInterval, pathway: Pathway?) {
        let pathway = try await env.store.person(id: personID).flatMap { env.configuration.pathways[$0.person.pathway] }
        let grace = TimeInterval(pathway?.checkIn.grace.seconds ?? CheckInWindow.defaultGrace.seconds)
        return (try await env.store.recentPrompts(personID: personID, closedAfter: now.addingTimeInterval(-Self.lookback)), grace, pathway)
    }

    // MARK: The check-in form

    /// What a form submission came to, for the page the person sees.
    public enum FormOutcome: Sendable, Equatable {
        /// Stored against open prompts (some may be late).
        case received(late: Int)
        /// The check-in had closed (after the grace, or replanned): stored as unsolicited answers for the care team.
        case closed
        /// The very same submission was received before.
        case duplicate
        /// Something to fix on a link that still works; what was answered is saved and any risk answer flagged.
        case problem(String)
        /// A dead link with nothing in it to keep.
        case nothingToKeep
        /// Saved for later.
        case saved(until: Date?)
    }

    /// The prompts the person's form shows now: open, or closed inside the grace, in the pathway's order of measures.
    public func formPrompts(personID: String, now: Date) async throws -> [OpenPrompt] {
        let (prompts, grace, pathway) = try await prompts(personID: personID, now: now)
        let measures = pathway?.measures ?? []
        func rank(_ prompt: OpenPrompt) -> Int { measures.firstIndex(of: prompt.instrument) ?? measures.count }
        return Correlation.answerable(prompts, now: now, grace: grace).enumerated()
            .sorted { ($0.element.closesAt, rank($0.element), $0.offset) < ($1.element.closesAt, rank($1.element), $1.offset) }.map(\.element)
    }

    /// A check-in form POST for the person behind `link`. The raw body is kept whatever happens; every answer counts
    /// for its prompt or is kept as unsolicited; a risk answer is flagged even when the form has a problem.
    public func submitForm(tokenHash: String, link: CheckinLink, body: [UInt8], now: Date) async throws -> FormOutcome {
        let person = link.personID
        let fields = FormFields.parse(String(decoding: body, as: UTF8.self))
        let live = !link.used && link.expiresAt > now
        let (prompts, grace, _) = try await prompts(personID: person, now: now)
        let byPrompt = FormFields.answersByPrompt(fields)
        if fields["action"] == "save" && live {
            return try await saveDraft(tokenHash: tokenHash, personID: person, byPrompt: byPrompt, prompts: prompts, grace: grace, now: now)
        }
        // On a live link every open measure shown must have an answer (late ones may be left); a dead link keeps
        // whatever was sent.
        if live {
            let shown = Correlation.answerable(prompts, now: now, grace: grace)
            let unanswered = shown.filter { (byPrompt[$0.id] ?? [:]).isEmpty }
            for prompt in unanswered where prompt.isOpen(at: now) || unanswered.count == shown.count {
                let title = env.configuration.instruments.definition(prompt.instrument)?.title ?? prompt.instrument
                return try await problem("Please answer the questions about \(title), or as many as you can.", tokenHash: tokenHash, personID: person,
                                         byPrompt: byPrompt, prompts: prompts, grace: grace, now: now)
            }
        }
        var answers: [CheckinAnswer] = []
        var unscorable: [(reason: String, flags: [NewFlag])] = []
        for (promptID, items) in byPrompt.sorted(by: { $0.key < $1.key }) where !items.isEmpty {
            let placement = Correlation.place(promptID: promptID, in: prompts, now: now, grace: grace)
            guard let prompt = placement.meantFor, let definition = env.configuration.instruments.definition(prompt.instrument) else {
                unscorable.append(("form answers for unknown prompt \(promptID)", []))
                continue
            }
            let values = FormFields.list(items, count: definition.itemCount?.max ?? definition.items.count, variableMinimum: definition.itemCount?.min)
            switch try await answer(values, instrument: prompt.instrument, placement: placement, personID: person, source: "form") {
            case .success(let scored): answers.append(scored)
            case .failure(let error):
                if live {
                    return try await problem("\(definition.title): \(error)", tokenHash: tokenHash, personID: person, byPrompt: byPrompt,
                                             prompts: prompts, grace: grace, now: now)
                }
                let scorer = try env.configuration.instruments.scorer(prompt.instrument)
                unscorable.append(("\(definition.title): \(error.code)", FlagRules.riskScan(values, scorer: scorer, promptID: prompt.id, source: "form")))
            }
        }
        guard !answers.isEmpty || !unscorable.isEmpty else { return .nothingToKeep }
        let eventID = "form:\(tokenHash):" + Hex.encode(SHA256.hash(data: Data(body)))
        if !unscorable.isEmpty && answers.isEmpty {
            // Kept raw in the team inbox with what was wrong; a risk answer in it is flagged now.
            let stored = try await env.store.receiveForm(eventID: eventID, personID: person, rawBody: body, now: now)
            guard let stored else { return .duplicate }
            try await env.store.quarantine(replyID: stored, reason: unscorable.map(\.reason).joined(separator: "; "),
                                           flags: unscorable.flatMap(\.flags), now: now)
            return .closed
        }
        switch try await env.store.submitCheckin(tokenHash: tokenHash, eventID: eventID, personID: person, rawBody: body, answers: answers,
                                                 flags: unscorable.flatMap(\.flags), now: now) {
        case .duplicate: return .duplicate
        case .accepted(_, let flags, let late, let unsolicited):
            if flags > 0 { env.logger.notice("check-in raised flags", metadata: ["flags": "\(flags)"]) }
            return unsolicited == answers.count ? .closed : .received(late: late)
        }
    }

    /// A form with something to fix: what was answered is saved as a draft (nothing lost), and a risk answer in it is
    /// flagged at once.
    func problem(_ message: String, tokenHash: String, personID: String, byPrompt: [String: [Int: Int]], prompts: [OpenPrompt],
                 grace: TimeInterval, now: Date) async throws -> FormOutcome {
        _ = try await saveDraft(tokenHash: tokenHash, personID: personID, byPrompt: byPrompt, prompts: prompts, grace: grace, now: now)
        return .problem(message)
    }

    /// "Save and finish later": keeps what is answered so far for this link, without using it up. A risk item already
    /// answered above its threshold is flagged now, not when (or if) the form is sent.
    func saveDraft(tokenHash: String, personID: String, byPrompt: [String: [Int: Int]], prompts: [OpenPrompt], grace: TimeInterval,
                   now: Date) async throws -> FormOutcome {
        var risks: [(promptID: String, flag: NewFlag)] = []
        var kept: [String] = []
        let answerable = Correlation.answerable(prompts, now: now, grace: grace)
        for prompt in answerable {
            guard let items = byPrompt[prompt.id], let scorer = try? env.configuration.instruments.scorer(prompt.instrument) else { continue }
            let count = scorer.definition.itemCount?.max ?? scorer.definition.items.count
            let values = FormFields.list(items, count: count, variableMinimum: nil)
            risks += FlagRules.riskScan(values, scorer: scorer, promptID: prompt.id, source: "saved_draft").map { (prompt.id, $0) }
            kept += items.sorted(by: { $0.key < $1.key }).map { "a.\(prompt.id).\($0.key)=\($0.value)" }
        }
        try await env.store.saveDraft(tokenHash: tokenHash, personID: personID, fields: kept.joined(separator: "&"), riskFlags: risks, now: now)
        return .saved(until: answerable.map(\.closesAt).max().map { $0.addingTimeInterval(grace) })
    }

    // MARK: SMS and email

    /// The answer text of a stored SMS or email, read with its gateway's field names; nil when the gateway no longer
    /// takes replies. Shared by processing, reprocessing and the team inbox.
    public func text(of body: [UInt8], contentType: String, source: String, gateway: String) -> String? {
        let fields = WebhookFields.parse(body, contentType: contentType)
        switch env.configuration.gateways[gateway]?.kind {
        case .webhook(let webhook) where source == "sms": return webhook.inbound.map { fields[$0.bodyField] ?? "" }
        case .smtp(let smtp) where source == "email": return smtp.inbound.map { EmailReply.answerText(fields[$0.textField] ?? "") }
        default:
            if source == "form" {
                // A form's fields as a person reads them: each measure's answers by item number.
                let groups = FormFields.answersByPrompt(FormFields.parse(String(decoding: body, as: UTF8.self)))
                let text = groups.sorted { $0.key < $1.key }.map { _, items in
                    "answers " + items.sorted { $0.key < $1.key }.map { "item \($0.key) = \($0.value)" }.joined(separator: ", ")
                }.joined(separator: "; ")
                return text.isEmpty ? "(a check-in form with no answers)" : "Check-in form: " + text
            }
            if source == "api" || source == "paper" { return String(decoding: body, as: UTF8.self) }
            return nil
        }
    }

    /// Processes a stored SMS or email reply: keyword, answers placed by `Correlation` and scored, or the team inbox
    /// with the reason; a risk phrase in the text raises an urgent flag either way. `keywordRecorded` when the STOP or
    /// START was recorded as the message was stored.
    /// `messagePrompts`, for an email, are the prompts of the message its reply address names: the reply is correlated
    /// among them only (empty: among all the person's prompts).
    public func processText(_ text: String, reply: ReceivedSMS, channel: String, gateway: String, keywordRecorded: Bool,
                            messagePrompts: [String] = [], now: Date) async throws {
        guard let person = reply.personID else {
            // Never reply to a sender we do not know: it may not be the person's, and nothing is disclosed.
            return try await env.store.quarantine(replyID: reply.replyID, reason: channel == "sms" ? "unknown_number" : "unknown_reply_address", now: now)
        }
        if keywordRecorded { return }
        let parsed = SMSReply.parse(text)
        var flags: [NewFlag] = []
        switch parsed {
        case .answers, .optOut, .optIn: break
        default:
            if let risk = FlagRules.freeTextRisk(text, phrases: env.configuration.settings.riskPhrases, replyID: reply.replyID, source: channel) {
                flags.append(risk)
            }
        }
        var (prompts, grace, _) = try await prompts(personID: person, now: now)
        if !messagePrompts.isEmpty {
            let named = Set(messagePrompts)
            prompts = prompts.filter { named.contains($0.id) }
        }
        let catalog = env.configuration.instruments
        let decision = Correlation.decide(parsed, channel: channel, prompts: prompts, now: now, grace: grace,
                                          largestOption: { catalog.definition($0)?.options.map(\.value).max() })
        let settings = env.configuration.settings
        /// Keeps it for the team inbox with the reason and tells the person, once a day at most, how to answer.
        func inbox(_ reason: String, tell: Bool, flags: [NewFlag]) async throws {
            try await env.store.finishReply(replyID: reply.replyID, outcome: .quarantined(reason: reason, flags: flags),
                                            autoReply: tell && channel == "sms" ? AutoReply(kind: "how_to_answer", channel: "sms", gateway: gateway,
                                                                                            text: settings.howToAnswerText, within: 86_400) : nil,
                                            now: now)
        }
        switch decision {
        case .consent(let optedIn):
            try await env.store.finishReply(replyID: reply.replyID, outcome: .processed(reason: optedIn ? "opt_in" : "opt_out"),
                                            consent: .init(channel: channel, optedIn: optedIn), now: now)
        case .help:
            try await env.store.finishReply(replyID: reply.replyID, outcome: .processed(reason: "help"),
                                            autoReply: AutoReply(kind: "help", channel: "sms", gateway: gateway, text: settings.helpText, within: 3_600), now: now)
        case .quarantine(let reason, let tell):
            try await inbox(reason, tell: tell && flags.isEmpty, flags: flags)
        case .answers(let values, let placement):
            guard let instrument = placement.meantFor?.instrument else { return try await inbox("no_open_prompt", tell: true, flags: flags) }
            switch try await answer(values, instrument: instrument, placement: placement, personID: person, source: channel) {
            case .success(let scored):
                try await env.store.storeScoredReply(replyID: reply.replyID, personID: person, source: channel, answers: [scored], flags: flags, now: now)
            case .failure(let error):
                // A risk answer in an unusable reply still reaches a clinician at once, and the reply waits in the inbox.
                let scorer = try catalog.scorer(instrument)
                try await inbox("\(error.code): \(error.description)", tell: true,
                                flags: flags + FlagRules.riskScan(values, scorer: scorer, promptID: placement.meantFor?.id, source: channel))
            }
        }
    }

    /// Processes SMS and email replies that were stored but not processed (the service stopped in between), so no
    /// answer — above all no risk answer — is lost. Runs at start-up and on every sweep. Returns how many it processed.
    @discardableResult
    public func reprocessPending(receivedBefore: Date? = nil, now: Date) async throws -> Int {
        var count = 0
        for source in ["sms", "email"] {
            // Page after page until none is left (a backlog after a burst can be thousands); a page of replies that
            // all stay pending (each failing the same way) ends the sweep instead of spinning on them.
            var seen: Set<String> = []
            while true {
                let pending = try await env.store.pendingReplies(source: source, receivedBefore: receivedBefore)
                let fresh = pending.filter { seen.insert($0.replyID).inserted }
                guard !fresh.isEmpty else { break }
                count += fresh.count
                for message in fresh { try await reprocess(message, source: source, now: now) }
                if pending.count < 500 { break }
            }
        }
        return count
    }

    /// One stored reply that is still waiting (the queue was full when it came): processed as the sweeper would.
    /// False when it has been processed meanwhile.
    public func reprocess(replyID: String, now: Date) async throws -> Bool {
        guard let (source, message) = try await env.store.pendingReply(id: replyID) else { return false }
        try await reprocess(message, source: source, now: now)
        return true
    }

    private func reprocess(_ message: PendingSMS, source: String, now: Date) async throws {
        let reply = ReceivedSMS(replyID: message.replyID, personID: message.personID)
        guard let text = text(of: message.rawBody, contentType: message.contentType, source: source, gateway: message.gateway) else {
            try await env.store.quarantine(replyID: message.replyID, reason: "gateway \(message.gateway) no longer configured", now: now)
            return
        }
        // A keyword is recorded as the message is stored, in the same transaction, so a pending one has none yet.
        let named = source == "email" ? try await emailMessagePrompts(message.rawBody, contentType: message.contentType, gateway: message.gateway) : []
        try await processText(text, reply: reply, channel: source, gateway: message.gateway, keywordRecorded: false, messagePrompts: named, now: now)
    }

    /// The prompts of the message an email reply's `reply+<token>@` address names (empty when it names none).
    func emailMessagePrompts(_ body: [UInt8], contentType: String, gateway: String) async throws -> [String] {
        guard case .smtp(let smtp) = env.configuration.gateways[gateway]?.kind, let inbound = smtp.inbound,
              let token = EmailReply.replyToken(in: WebhookFields.parse(body, contentType: contentType)[inbound.toField] ?? "") else { return [] }
        return try await env.store.replyTarget(tokenHash: LinkSigner.hash(token))?.promptIDs ?? []
    }

    // MARK: API and paper

    /// Answers from another system (`api`) or a paper form (`paper`): placed on `promptID` when given, scored, and
    /// stored with the raw body in one transaction. `.success(nil)` when `eventID` was received before.
    public func submitResponse(source: String, eventID: String?, personID: String, instrument: String, answers: [Int?],
                               context: Scorer.Context, promptID: String?, rawBody: [UInt8], contentType: String,
                               now: Date) async throws -> Result<CheckinAnswer?, ScoringError> {
        switch try await prepareResponse(source: source, personID: personID, instrument: instrument, answers: answers, context: context,
                                         promptID: promptID, now: now) {
        case .failure(let error): return .failure(error)
        case .success(let answer):
            let stored = try await env.store.submitResponse(source: source, eventID: eventID, personID: personID, rawBody: rawBody,
                                                            contentType: contentType, answer: answer, now: now)
            return .success(stored ? answer : nil)
        }
    }

    /// Scores a response without storing it (the paper import checks every row before writing any).
    public func prepareResponse(source: String, personID: String, instrument: String, answers: [Int?], context: Scorer.Context,
                                promptID: String?, now: Date) async throws -> Result<CheckinAnswer, ScoringError> {
        var placement: Correlation.Placement?
        if let promptID, !promptID.isEmpty {
            let (prompts, grace, _) = try await prompts(personID: personID, now: now)
            placement = Correlation.place(promptID: promptID, in: prompts, now: now, grace: grace)
        }
        return try await answer(answers, instrument: instrument, context: context, placement: placement, personID: personID, source: source)
    }

    // MARK: The team inbox

    /// Why an inbox action could not be done.
    public struct InboxProblem: Error, Sendable, CustomStringConvertible {
        public var code: String
        public var description: String
        /// The answer (1-based) at fault, when it is one item's.
        public var item: Int? = nil
    }

    /// Scores a quarantined reply against one of the person's prompts (or as a response to `instrument` when no prompt
    /// fits), with answers typed by the clinician or, when none are given, read from the reply itself.
    public func matchInboxItem(_ item: InboxItem, promptID: String?, instrument: String?, answers typed: String?, actor: String, note: String?,
                               now: Date) async throws -> Result<Void, InboxProblem> {
        guard let person = item.personID else {
            return .failure(InboxProblem(code: "unknown_person", description: "the reply came from nobody we know; mark it handled with a note instead"))
        }
        let (prompts, grace, _) = try await prompts(personID: person, now: now)
        var placement: Correlation.Placement?
        var measure = instrument
        if let promptID, !promptID.isEmpty {
            let placed = Correlation.place(promptID: promptID, in: prompts, now: now, grace: grace)
            guard let prompt = placed.meantFor else {
                return .failure(InboxProblem(code: "unknown_prompt", description: "prompt `\(promptID)` is not one of this person's prompts"))
            }
            placement = placed
            measure = prompt.instrument
        }
        guard let measure, !measure.isEmpty else {
            return .failure(InboxProblem(code: "missing_prompt", description: "choose one of the person's prompts, or name the measure"))
        }
        let values: [Int?]
        if let typed, !typed.trimmingCharacters(in: .whitespaces).isEmpty {
            do { values = try AnswerParsing.parseList(typed) } catch {
                return .failure(InboxProblem(code: error.code, description: error.description, item: error.item))
            }
        } else if case .answers(_, let read, _) = SMSReply.parse(text(of: item.rawBody, contentType: item.contentType, source: item.channel,
                                                                        gateway: item.gateway) ?? "") {
            values = read.map { $0 }
        } else {
            return .failure(InboxProblem(code: "no_answers", description: "the reply has no answers to read; type them, e.g. 1,2,0,3,1,0,2,1,0"))
        }
        switch try await answer(values, instrument: measure, placement: placement, personID: person, source: item.channel) {
        case .failure(let error): return .failure(InboxProblem(code: error.code, description: error.description, item: error.item))
        case .success(let scored):
            guard try await env.store.resolveInboxItem(id: item.id, personID: person, resolution: .matched([scored]), by: actor, note: note, now: now) else {
                return .failure(InboxProblem(code: "already_handled", description: "someone has dealt with this reply already"))
            }
            return .success(())
        }
    }
}
