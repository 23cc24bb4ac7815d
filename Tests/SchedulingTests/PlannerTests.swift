import Foundation
import Scheduling
import Testing

/// Parses an ISO-8601 instant into UTC seconds.
func utc(_ text: String) -> Int64 {
    let formatter = ISO8601DateFormatter()
    guard let date = formatter.date(from: text) else { fatalError("bad instant \(text)") }
    return Int64(date.timeIntervalSince1970)
}

func iso(_ seconds: Int64) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(seconds)))
}

let london = ZoneRules(identifier: "Europe/London")!

func community(window: String = "09:00-19:00", missed: Int = 2) -> Pathway {
    Pathway(id: "community", cadence: Cadence(routine: .days(28), stepUp: .days(7)), baselineWithin: .days(14),
            measures: ["phq9", "gad7", "goals"], checkIn: CheckInWindow(opens: .days(5), closes: .days(1), reminders: [.days(2)]),
            sendWindow: SendWindow.parse(window)!, timezone: "Europe/London", channels: [.sms, .email],
            gateways: [.sms: "sandbox-sms", .email: "sandbox-email"], nonResponse: NonResponseRule(missedInARow: missed))
}

func enrolment(start: String = "2026-11-02", mode: Mode = .routine, changedAt: Int64? = nil, extra: [String] = []) -> Enrolment {
    Enrolment(id: "e1", personID: "p1", pathwayID: "community", startDate: LocalDate.parse(start)!, timezone: "Europe/London",
              mode: mode, modeChangedAt: changedAt, extraMeasures: extra)
}

extension [PlanAction] {
    var created: [PlannedPrompt] { compactMap { if case .createPrompt(let prompt) = $0 { return prompt } else { return nil } } }
}

/// Applies creates and status changes to a history the way the service would.
func apply(_ actions: [PlanAction], to history: SchedulingHistory) -> SchedulingHistory {
    var history = history
    history.apply(actions) { "\($0.review)/\($0.instrument)/\($0.kind.rawValue)" }
    return history
}

func markAll(_ history: SchedulingHistory, review: ReviewKey, _ status: PromptStatus) -> SchedulingHistory {
    var history = history
    for i in history.prompts.indices where history.prompts[i].review == review { history.prompts[i].status = status }
    return history
}

@Suite("Planner")
struct PlannerTests {
    let planner = Planner(pathway: community(), zone: london)

    @Test("Routine cadence: a baseline on the first day and a check-in 5 days before the 28-day review, 09:00 local, reminder 2 days after opening")
    func routine() {
        let now = utc("2026-11-02T08:00:00Z")
        let actions = planner.plan(enrolment(), history: SchedulingHistory(), now: now, horizon: now + 40 * 86_400)
        let created = actions.created
        #expect(created.count == 6)
        let baseline = created.filter { $0.kind == .baseline }
        #expect(baseline.map(\.instrument) == ["phq9", "gad7", "goals"])
        #expect(baseline.allSatisfy { iso($0.sendAt) == "2026-11-02T09:00:00Z" && iso($0.closesAt) == "2026-11-16T00:00:00Z" })
        let review = created.filter { $0.kind == .preReview }
        #expect(review.count == 3)
        #expect(review.allSatisfy { $0.review == .cadence(day: LocalDate.parse("2026-11-30")!.dayNumber) })
        #expect(review.allSatisfy { iso($0.reviewAt) == "2026-11-30T09:00:00Z" })
        #expect(review.allSatisfy { iso($0.sendAt) == "2026-11-25T09:00:00Z" })
        #expect(review.allSatisfy { iso($0.closesAt) == "2026-11-29T09:00:00Z" })
        #expect(review.allSatisfy { $0.reminders.map(iso) == ["2026-11-27T09:00:00Z"] })
    }

    @Test("Planning the same input twice creates nothing new")
    func idempotent() {
        let now = utc("2026-11-02T08:00:00Z")
        let first = planner.plan(enrolment(), history: SchedulingHistory(), now: now, horizon: now + 40 * 86_400)
        let history = apply(first, to: SchedulingHistory())
        #expect(planner.plan(enrolment(), history: history, now: now, horizon: now + 40 * 86_400).isEmpty)
    }

    @Test("Extra measures for one person are added once")
    func extraMeasures() {
        let now = utc("2026-11-02T08:00:00Z")
        let created = planner.plan(enrolment(extra: ["core10", "phq9"]), history: SchedulingHistory(), now: now, horizon: now).created
        #expect(created.map(\.instrument) == ["phq9", "gad7", "goals", "core10"])
    }

    @Test("Switching to step-up in the middle of an open window expires the old review's prompts (replanned) and plans weekly reviews from the switch")
    func stepUpMidWindow() {
        let start = utc("2026-11-02T08:00:00Z")
        var history = apply(planner.plan(enrolment(), history: SchedulingHistory(), now: start, horizon: start + 40 * 86_400), to: SchedulingHistory())
        let oldReview = ReviewKey.cadence(day: LocalDate.parse("2026-11-30")!.dayNumber)
        history = markAll(history, review: .baseline, .answered)
        history = markAll(history, review: oldReview, .sent)
        let now = utc("2026-11-27T12:00:00Z")
        let actions = planner.plan(enrolment(mode: .stepUp, changedAt: now), history: history, now: now, horizon: now + 7 * 86_400)
        let expired = actions.compactMap { if case .expire(let id, let reason) = $0 { return (id, reason) } else { return nil } }
        #expect(expired.count == 3)
        #expect(expired.allSatisfy { $0.0.hasPrefix(oldReview.description) && $0.1 == .replanned })
        let created = actions.created
        #expect(Set(created.map(\.review)) == [.cadence(day: LocalDate.parse("2026-12-04")!.dayNumber)])
        #expect(created.allSatisfy { iso($0.reviewAt) == "2026-12-04T09:00:00Z" && iso($0.sendAt) == "2026-11-29T09:00:00Z" })
        #expect(!actions.contains { if case .recordMissed = $0 { return true } else { return false } }, "a replanned review is not a missed check-in")
    }

    @Test("A booked review re-anchors the cadence and replaces the cadence review within a cycle of it")
    func bookedReanchors() {
        let now = utc("2026-11-02T08:00:00Z")
        let booked = [BookedReview(id: "r1", at: utc("2026-12-10T14:00:00Z"))]
        let (_, reviews) = planner.reviews(for: enrolment(), booked: booked, through: utc("2027-02-01T00:00:00Z"))
        #expect(reviews.map { $0.key.description } == ["b:r1", "c:2027-01-07"])
        #expect(iso(reviews[1].at) == "2027-01-07T09:00:00Z")
        _ = now
    }

    @Test("Moving a booked review reschedules its open prompts to the new date")
    func bookedMoved() {
        let now = utc("2026-11-20T08:00:00Z")
        let original = [BookedReview(id: "r1", at: utc("2026-12-10T14:00:00Z"))]
        var history = apply(planner.plan(enrolment(), booked: original, history: SchedulingHistory(), now: now, horizon: now + 30 * 86_400), to: SchedulingHistory())
        history = markAll(history, review: .baseline, .answered)
        let moved = [BookedReview(id: "r1", at: utc("2026-12-17T14:00:00Z"))]
        let actions = planner.plan(enrolment(), booked: moved, history: history, now: now, horizon: now + 30 * 86_400)
        let reschedules = actions.compactMap { if case .reschedule(_, let reviewAt, let sendAt, let closesAt, _) = $0 { return (reviewAt, sendAt, closesAt) } else { return nil } }
        #expect(reschedules.count == 3)
        #expect(reschedules.allSatisfy { iso($0.0) == "2026-12-17T14:00:00Z" && iso($0.1) == "2026-12-12T14:00:00Z" && iso($0.2) == "2026-12-16T14:00:00Z" })
        #expect(actions.created.isEmpty)
        #expect(planner.plan(enrolment(), booked: moved, history: apply(actions, to: history), now: now, horizon: now + 30 * 86_400).isEmpty)
        // Cancelling the booking expires its prompts as replanned.
        let cancelled = planner.plan(enrolment(), booked: [], history: apply(actions, to: history), now: now, horizon: now + 30 * 86_400)
        #expect(cancelled.filter { if case .expire(_, .replanned) = $0 { return true } else { return false } }.count == 3)
    }

    @Test("Baseline window: planned late it is sent at the next window opening; after it closes it is not created")
    func baselineWindow() {
        let late = utc("2026-11-10T20:30:00Z")
        let baseline = planner.plan(enrolment(), history: SchedulingHistory(), now: late, horizon: late).created.filter { $0.kind == .baseline }
        #expect(baseline.count == 3)
        #expect(baseline.allSatisfy { iso($0.sendAt) == "2026-11-11T09:00:00Z" })
        let tooLate = utc("2026-11-16T00:00:00Z")
        #expect(planner.plan(enrolment(), history: SchedulingHistory(), now: tooLate, horizon: tooLate).created.filter { $0.kind == .baseline }.isEmpty)
    }

    @Test("A reminder is due once the prompt is sent and stops once it is answered")
    func reminders() {
        let start = utc("2026-11-02T08:00:00Z")
        var history = apply(planner.plan(enrolment(), history: SchedulingHistory(), now: start, horizon: start + 40 * 86_400), to: SchedulingHistory())
        history = markAll(history, review: .baseline, .answered)
        let review = ReviewKey.cadence(day: LocalDate.parse("2026-11-30")!.dayNumber)
        history = markAll(history, review: review, .sent)
        let now = utc("2026-11-27T10:00:00Z")
        let due = planner.plan(enrolment(), history: history, now: now, horizon: now)
        #expect(due.filter { if case .remind(_, 0) = $0 { return true } else { return false } }.count == 3)
        #expect(planner.plan(enrolment(), history: apply(due, to: history), now: now, horizon: now).isEmpty, "a reminder is sent once")
        let answered = markAll(history, review: review, .answered)
        #expect(planner.plan(enrolment(), history: answered, now: now, horizon: now).isEmpty)
    }

    @Test("An unanswered check-in expires at closing and is recorded as missed once")
    func expiry() {
        let start = utc("2026-11-02T08:00:00Z")
        var history = apply(planner.plan(enrolment(), history: SchedulingHistory(), now: start, horizon: start + 40 * 86_400), to: SchedulingHistory())
        history = markAll(history, review: .baseline, .answered)
        let review = ReviewKey.cadence(day: LocalDate.parse("2026-11-30")!.dayNumber)
        history = markAll(history, review: review, .sent)
        let now = utc("2026-11-29T09:00:00Z")
        let actions = planner.plan(enrolment(), history: history, now: now, horizon: now)
        #expect(actions.filter { if case .expire(_, .closed) = $0 { return true } else { return false } }.count == 3)
        #expect(actions.contains(.recordMissed(review: review, reviewAt: utc("2026-11-30T09:00:00Z"))))
        #expect(!actions.contains { if case .raiseNonResponseFlag = $0 { return true } else { return false } }, "one miss is not two in a row")
        #expect(planner.plan(enrolment(), history: apply(actions, to: history), now: now, horizon: now).isEmpty)
    }

    func closed(_ review: ReviewKey, at: String, answered: Bool) -> [PromptState] {
        ["phq9", "gad7"].map {
            PromptState(id: "\(review)/\($0)", review: review, reviewAt: utc(at), instrument: $0, kind: .preReview, sendAt: utc(at) - 5 * 86_400,
                        closesAt: utc(at) - 86_400, reminders: [], remindersSent: 0, status: answered ? .answered : .expired,
                        expiryReason: answered ? nil : .closed)
        }
    }

    @Test("Two missed check-ins in a row raise recovery_gains_at_risk once; an answer resets the count")
    func nonResponse() {
        let a = ReviewKey.cadence(day: 1), b = ReviewKey.cadence(day: 2), c = ReviewKey.cadence(day: 3), d = ReviewKey.cadence(day: 4)
        let now = utc("2027-06-01T12:00:00Z")
        let twoMissed = SchedulingHistory(prompts: closed(a, at: "2027-01-01T09:00:00Z", answered: false) + closed(b, at: "2027-01-29T09:00:00Z", answered: false),
                                          missed: [a, b])
        let flagged = Planner(pathway: community(), zone: london).plan(enrolment(start: "2027-05-20"), history: twoMissed, now: now, horizon: now)
        #expect(flagged.contains(.raiseNonResponseFlag(review: b, missedInARow: 2)))
        var already = twoMissed
        already.nonResponseFlags = [b]
        #expect(!planner.plan(enrolment(start: "2027-05-20"), history: already, now: now, horizon: now)
            .contains { if case .raiseNonResponseFlag = $0 { return true } else { return false } })
        let reset = SchedulingHistory(prompts: closed(a, at: "2027-01-01T09:00:00Z", answered: false) + closed(b, at: "2027-01-29T09:00:00Z", answered: true)
                                      + closed(c, at: "2027-02-26T09:00:00Z", answered: false), missed: [a, c])
        #expect(!planner.plan(enrolment(start: "2027-05-20"), history: reset, now: now, horizon: now)
            .contains { if case .raiseNonResponseFlag = $0 { return true } else { return false } })
        var again = reset
        again.prompts += closed(d, at: "2027-03-26T09:00:00Z", answered: false)
        let second = planner.plan(enrolment(start: "2027-05-20"), history: again, now: now, horizon: now)
        #expect(second.contains(.recordMissed(review: d, reviewAt: utc("2027-03-26T09:00:00Z"))))
        #expect(second.contains(.raiseNonResponseFlag(review: d, missedInARow: 2)))
    }

    @Test("A send window across midnight defers a daytime opening to 20:00 the same evening")
    func windowAcrossMidnight() {
        let night = Planner(pathway: community(window: "20:00-08:00"), zone: london)
        #expect(iso(night.deferIntoWindow(utc("2026-11-25T09:00:00Z"))) == "2026-11-25T20:00:00Z")
        #expect(iso(night.deferIntoWindow(utc("2026-11-25T23:30:00Z"))) == "2026-11-25T23:30:00Z")
        #expect(iso(night.deferIntoWindow(utc("2026-11-26T07:59:00Z"))) == "2026-11-26T07:59:00Z")
        #expect(iso(night.deferIntoWindow(utc("2026-11-26T08:00:00Z"))) == "2026-11-26T20:00:00Z")
    }
}

@Suite("Daylight saving in Europe/London")
struct DaylightSavingTests {
    let planner = Planner(pathway: community(), zone: london)

    @Test("Across spring-forward (2027-03-28) a 09:00 review stays 09:00 local: 09:00Z before, 08:00Z after")
    func springForward() {
        let (_, reviews) = planner.reviews(for: enrolment(start: "2027-03-01"), booked: [], through: utc("2027-05-01T00:00:00Z"))
        #expect(reviews.map { iso($0.at) } == ["2027-03-29T08:00:00Z", "2027-04-26T08:00:00Z"])
        // Check-in opens 5 days before the 29 March review: 24 March, still GMT.
        let created = planner.plan(enrolment(start: "2027-03-01"), history: SchedulingHistory(), now: utc("2027-03-20T00:00:00Z"), horizon: utc("2027-03-25T00:00:00Z")).created
        #expect(created.filter { $0.kind == .preReview }.allSatisfy { iso($0.sendAt) == "2027-03-24T09:00:00Z" && iso($0.closesAt) == "2027-03-28T08:00:00Z" })
    }

    @Test("Across fall-back (2026-10-25) the check-in opens at 09:00 BST (08:00Z) for a 09:00 GMT review")
    func fallBack() {
        let created = planner.plan(enrolment(start: "2026-09-28"), history: SchedulingHistory(), now: utc("2026-10-20T00:00:00Z"), horizon: utc("2026-10-22T00:00:00Z")).created
        let review = created.filter { $0.kind == .preReview }
        #expect(!review.isEmpty)
        #expect(review.allSatisfy { iso($0.reviewAt) == "2026-10-26T09:00:00Z" && iso($0.sendAt) == "2026-10-21T08:00:00Z" && iso($0.closesAt) == "2026-10-25T09:00:00Z" })
    }

    @Test("Local times in the spring gap move forward; repeated autumn times take the first")
    func gapsAndOverlaps() {
        let springDay = LocalDate.parse("2027-03-28")!.dayNumber
        #expect(iso(london.instant(day: springDay, minute: 90)) == "2027-03-28T01:30:00Z", "01:30 does not exist: it becomes 02:30 BST")
        let autumnDay = LocalDate.parse("2026-10-25")!.dayNumber
        #expect(iso(london.instant(day: autumnDay, minute: 90)) == "2026-10-25T00:30:00Z", "01:30 happens twice: the BST one first")
        #expect(iso(london.instant(day: autumnDay, minute: 150)) == "2026-10-25T02:30:00Z")
    }
}

@Suite("Booked reviews moved far ahead")
struct MovedFarAheadTests {
    @Test("Open prompts follow a booked review moved beyond the planning horizon instead of closing at the old date")
    func followsMove() {
        let planner = Planner(pathway: community(), zone: london)
        let now = utc("2026-12-05T10:00:00Z")
        let original = [BookedReview(id: "r1", at: utc("2026-12-10T09:00:00Z"))]
        var history = apply(planner.plan(enrolment(), booked: original, history: SchedulingHistory(), now: now, horizon: now + 86_400), to: SchedulingHistory())
        history = markAll(history, review: .baseline, .answered)
        let moved = [BookedReview(id: "r1", at: utc("2027-01-20T09:00:00Z"))]
        let actions = planner.plan(enrolment(), booked: moved, history: history, now: now, horizon: now + 86_400)
        let closes = actions.compactMap { if case .reschedule(_, _, _, let closesAt, _) = $0 { return closesAt } else { return nil } }
        #expect(closes.count == 3)
        #expect(closes.allSatisfy { iso($0) == "2027-01-19T09:00:00Z" })
    }
}
