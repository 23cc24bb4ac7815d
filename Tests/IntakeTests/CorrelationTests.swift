import Foundation
import Intake
import Testing

/// Where a reply's answers go, without a database (the form, SMS, email, API and paper all use these rules).
@Suite("Correlation")
struct CorrelationTests {
    let closes = ISO8601DateFormatter().date(from: "2026-11-15T09:00:00Z")!
    let grace: TimeInterval = 72 * 3_600

    func prompt(_ id: String = "pr_1", status: String = "sent", reason: String? = nil, code: String? = "P1", kind: String = "review") -> OpenPrompt {
        OpenPrompt(id: id, instrument: "phq9", kind: kind, closesAt: closes, replyCode: code, status: status, statusReason: reason)
    }

    enum Timing: String, CaseIterable { case open, insideGrace, afterGrace, replanned, answered }

    func situation(_ timing: Timing) -> (OpenPrompt, Date) {
        switch timing {
        case .open: return (prompt(), closes.addingTimeInterval(-60))
        case .insideGrace: return (prompt(status: "expired", reason: "closed"), closes.addingTimeInterval(60))
        case .afterGrace: return (prompt(status: "expired", reason: "closed"), closes.addingTimeInterval(grace + 60))
        case .replanned: return (prompt(status: "expired", reason: "replanned"), closes.addingTimeInterval(-3_600))
        case .answered: return (prompt(status: "answered"), closes.addingTimeInterval(-60))
        }
    }

    @Test("On time, a minute after closing (late), after the grace, replanned, already answered", arguments: Timing.allCases)
    func placement(timing: Timing) {
        let (prompt, now) = situation(timing)
        let placed = Correlation.place(promptID: prompt.id, in: [prompt], now: now, grace: grace)
        switch timing {
        case .open: #expect(placed == .onTime(prompt))
        case .insideGrace: #expect(placed == .late(prompt))
        case .afterGrace: #expect(placed == .unsolicited(reason: "after_grace", prompt: prompt))
        case .replanned: #expect(placed == .unsolicited(reason: "replanned", prompt: prompt))
        case .answered: #expect(placed == .unsolicited(reason: "already_answered", prompt: prompt))
        }
        #expect(placed.meantFor == prompt, "the answers always keep the prompt they were meant for")
    }

    @Test("A prompt past closing that the tick has not yet expired is late too, not open")
    func sentButPastClosing() {
        let sent = prompt()
        #expect(Correlation.place(sent, now: closes.addingTimeInterval(1), grace: grace) == .late(sent))
        #expect(Correlation.place(sent, now: closes.addingTimeInterval(grace + 1), grace: grace) == .unsolicited(reason: "after_grace", prompt: sent))
        #expect(Correlation.place(sent, now: closes.addingTimeInterval(1), grace: 0) == .unsolicited(reason: "after_grace", prompt: sent))
    }

    @Test("An SMS with a code finds its prompt in any state; after the grace its answers are kept as unsolicited, not quarantined",
          arguments: Timing.allCases)
    func codedSMS(timing: Timing) {
        let (prompt, now) = situation(timing)
        let decision = Correlation.decide(.answers(code: "P1", values: [0, 0, 0, 0, 0, 0, 0, 0, 2], compact: false), channel: "sms",
                                          prompts: [prompt], now: now, grace: grace, largestOption: { _ in 3 })
        guard case .answers(let values, let placement) = decision else { Issue.record("expected answers, got \(decision)"); return }
        #expect(values.last == 2, "the item 9 answer goes on to scoring and its flag")
        #expect(placement == Correlation.place(prompt, now: now, grace: grace))
    }

    @Test("An SMS without a code answers the only answerable reply-by-SMS prompt; none or two wait in the inbox")
    func uncoded() {
        let now = closes.addingTimeInterval(-60)
        let reply = SMSReply.answers(code: nil, values: [1, 1], compact: false)
        let one = Correlation.decide(reply, channel: "sms", prompts: [prompt(), prompt("pr_2", code: nil)], now: now, grace: grace, largestOption: { _ in 3 })
        #expect(one == .answers(values: [1, 1], placement: .onTime(prompt())))
        let none = Correlation.decide(reply, channel: "sms", prompts: [prompt(status: "answered")], now: now, grace: grace, largestOption: { _ in 3 })
        #expect(none == .quarantine(reason: "no_open_prompt", tellHowToAnswer: true))
        // Nothing open, one check-in closed unanswered after the grace: the answers are kept against it, as unsolicited.
        let closed = prompt(status: "expired", reason: "closed")
        let late = Correlation.decide(reply, channel: "email", prompts: [closed, prompt("pr_0", status: "answered")], now: closes.addingTimeInterval(grace + 1),
                                      grace: grace, largestOption: { _ in 3 })
        #expect(late == .answers(values: [1, 1], placement: .unsolicited(reason: "after_grace", prompt: closed)))
        let two = Correlation.decide(reply, channel: "email", prompts: [prompt(), prompt("pr_2", code: nil)], now: now, grace: grace, largestOption: { _ in 3 })
        #expect(two == .quarantine(reason: "ambiguous: 2 open prompts", tellHowToAnswer: true))
    }

    @Test("Keywords, help and free text: STOP and START are consent; free text is kept for a person, with no automatic reply")
    func keywords() {
        let now = closes
        func decide(_ text: String, _ channel: String = "sms") -> Correlation.TextDecision {
            Correlation.decide(SMSReply.parse(text), channel: channel, prompts: [prompt()], now: now, grace: grace, largestOption: { _ in 3 })
        }
        #expect(decide("STOP") == .consent(optedIn: false))
        #expect(decide("start") == .consent(optedIn: true))
        #expect(decide("HELP") == .help)
        #expect(decide("HELP", "email") == .quarantine(reason: "help_requested", tellHowToAnswer: false))
        #expect(decide("please stop texting me") == .quarantine(reason: "free_text_opt_out", tellHowToAnswer: false))
        #expect(Correlation.decide(SMSReply.parse("P1 120310"), channel: "sms", prompts: [prompt()], now: now.addingTimeInterval(-1), grace: grace,
                                   largestOption: { _ in 10 }) == .quarantine(reason: "digits run for answers above 9", tellHowToAnswer: true))
    }
}

@Suite("Form fields")
struct FormFieldsTests {
    @Test("Answer fields group by prompt; non-numbers are unanswered; other fields are ignored")
    func grouping() {
        let fields = FormFields.parse("a.pr_1.1=2&a.pr_1.9=1&a.pr_2.1=x&action=send&a.bad=1&a.pr_3.0=1")
        let grouped = FormFields.answersByPrompt(fields)
        #expect(grouped["pr_1"] == [1: 2, 9: 1])
        #expect(grouped["pr_2"] == [:])
        #expect(grouped["pr_3"] == nil, "item numbers start at 1")
        #expect(FormFields.list([1: 2, 9: 1], count: 9, variableMinimum: nil) == [2, nil, nil, nil, nil, nil, nil, nil, 1])
        #expect(FormFields.list([1: 3, 2: 5], count: 5, variableMinimum: 1) == [3, 5], "goals: the unanswered tail goes")
    }

    @Test("Percent and plus decoding, in order")
    func decoding() {
        #expect(FormFields.pairs("Body=P1+1+2&From=%2B447700900001").map { "\($0.0)=\($0.1)" } == ["Body=P1 1 2", "From=+447700900001"])
    }
}
