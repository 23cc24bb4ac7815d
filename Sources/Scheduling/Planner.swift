/// What the planner wants done. The service that owns the planner performs these, in one transaction per enrolment.
public enum PlanAction: Sendable, Equatable {
    case createPrompt(PlannedPrompt)
    /// The prompt's review moved: new times (only for prompts not yet answered or expired).
    case reschedule(promptID: String, reviewAt: Int64, sendAt: Int64, closesAt: Int64, reminders: [Int64])
    /// Send reminder number `index` (0-based) now.
    case remind(promptID: String, index: Int)
    case expire(promptID: String, reason: ExpiryReason)
    /// Every prompt of this review closed unanswered.
    case recordMissed(review: ReviewKey, reviewAt: Int64)
    /// `missedInARow` check-ins missed in a row, ending at `review`: raise `recovery_gains_at_risk`.
    case raiseNonResponseFlag(review: ReviewKey, missedInARow: Int)
}

/// A prompt to create: one measure, for one review, with its send, reminder and closing times (UTC seconds).
public struct PlannedPrompt: Sendable, Equatable {
    public var enrolmentID: String
    public var personID: String
    public var review: ReviewKey
    public var reviewAt: Int64
    public var instrument: String
    public var kind: PromptKind
    public var sendAt: Int64
    public var reminders: [Int64]
    public var closesAt: Int64
}

/// A review in the plan.
public struct PlannedReview: Sendable, Equatable {
    public var key: ReviewKey
    public var at: Int64
}

/// Decides which prompts are due for one enrolment. Pure: the same inputs always give the same actions,
/// and feeding the actions' results back as history gives no new actions.
///
/// Rules:
/// - Reviews follow the cadence of the current mode from the enrolment start, or from the last mode
///   switch (step-up ↔ routine). A booked review re-anchors the cadence: cadence reviews continue from it,
///   and a cadence review less than one cadence before a booking is replaced by the booking.
/// - Before each review a prompt per measure opens `check_in.opens` before and closes `check_in.closes`
///   before it; the baseline opens at the enrolment start and closes `baseline.within` later. A review
///   whose check-in would open while the baseline is still open gets no pre-review prompts: the baseline serves it.
/// - Sends and reminders outside the send window are deferred to its next opening in the person's zone,
///   never dropped and never at or after closing; a prompt that cannot be sent before it closes is not created.
/// - Open prompts of reviews that no longer exist expire (`replanned`); open prompts past closing expire (`closed`).
/// - A review whose prompts all closed unanswered is a missed check-in; `non_response.missed_in_a_row` missed
///   in a row raise `recovery_gains_at_risk` once; any answer resets the count.
public struct Planner: Sendable {
    public let pathway: Pathway
    public let zone: ZoneRules

    public init(pathway: Pathway, zone: ZoneRules) {
        self.pathway = pathway
        self.zone = zone
    }

    /// Reviews for `enrolment` from its anchor up to `limit` (UTC seconds), with the booked ones.
    ///
    /// Cadence reviews before `from` are skipped without being listed (they cannot need a prompt), so a
    /// person enrolled years ago costs no more than one enrolled last week.
    public func reviews(for enrolment: Enrolment, booked: [BookedReview], through limit: Int64,
                        from: Int64 = .min) -> (anchor: Int64, reviews: [PlannedReview]) {
        let cadence = enrolment.mode == .stepUp ? pathway.cadence.stepUp.seconds : pathway.cadence.routine.seconds
        let startAt = zone.instant(day: enrolment.startDate.dayNumber, minute: 0)
        let anchorAt = max(startAt, enrolment.modeChangedAt ?? startAt)
        var anchorInstant = zone.instant(day: zone.localDay(anchorAt), minute: pathway.reviewTime)
        var upcoming = booked.isEmpty ? [][...] : booked.filter { $0.at > anchorAt }.sorted { $0.at < $1.at }[...]
        var reviews: [PlannedReview] = []
        let fromDay = from == .min ? Int.min : zone.localDay(from)
        let cadenceDays = cadence / 86_400
        while true {
            let next = upcoming.first
            var step: Int64 = 1
            let anchorDay = zone.localDay(anchorInstant)
            if fromDay != Int.min && cadence % 86_400 == 0 && Int64(fromDay - anchorDay) > cadenceDays {
                step = max(1, Int64(fromDay - anchorDay) / cadenceDays)
            }
            while true {
                let at = zone.shift(anchorInstant, by: cadence * step)
                // Stop at the limit, and before a booking that falls within one cadence: the booking replaces it.
                if at > limit || next.map({ zone.shift(at, by: cadence) > $0.at }) == true { break }
                reviews.append(PlannedReview(key: .cadence(day: zone.localDay(at)), at: at))
                step += 1
            }
            guard let booking = next, booking.at <= limit else { break }
            reviews.append(PlannedReview(key: .booked(booking.id), at: booking.at))
            upcoming = upcoming.dropFirst()
            anchorInstant = zone.instant(day: zone.localDay(booking.at), minute: pathway.reviewTime)
        }
        return (anchorAt, reviews)
    }

    /// The actions for one enrolment at `now`, creating prompts whose check-in opens by `horizon` (UTC seconds).
    public func plan(_ enrolment: Enrolment, booked: [BookedReview] = [], history: SchedulingHistory, now: Int64, horizon: Int64) -> [PlanAction] {
        var actions: [PlanAction] = []
        let measures = enrolment.extraMeasures.isEmpty ? pathway.measures : pathway.measures + enrolment.extraMeasures.filter { !pathway.measures.contains($0) }
        let opensLead = pathway.checkIn.opens.seconds
        let closesLead = pathway.checkIn.closes.seconds
        // Reviews earlier than any open prompt's review, and than now, need nothing.
        var from = now - opensLead
        for prompt in history.prompts where prompt.status.isOpen && prompt.reviewAt < from { from = prompt.reviewAt }
        // A booked review with open prompts is planned wherever it has moved to, so its prompts follow it.
        var limit = horizon + opensLead
        for prompt in history.prompts where prompt.status.isOpen {
            if case .booked(let id) = prompt.review, let booking = booked.first(where: { $0.id == id }) { limit = max(limit, booking.at) }
        }
        let (anchor, reviews) = self.reviews(for: enrolment, booked: booked, through: limit, from: from - 86_400)

        actions.reserveCapacity(measures.count * (reviews.count + 1))
        // Index existing prompts by (review, instrument, kind).
        var existing: [PromptIdentity: Int] = [:]
        if !history.prompts.isEmpty { existing.reserveCapacity(history.prompts.count) }
        for (index, prompt) in history.prompts.enumerated() {
            existing[PromptIdentity(review: prompt.review, instrument: prompt.instrument, kind: prompt.kind)] = index
        }
        var statuses = history.prompts.map(\.status)
        var reasons = history.prompts.map(\.expiryReason)
        var wanted = Set<ReviewKey>()

        // Baseline.
        let baselineOpens = zone.instant(day: enrolment.startDate.dayNumber, minute: 0)
        let baselineCloses = zone.shift(baselineOpens, by: pathway.baselineWithin.seconds)
        let tracking = !history.prompts.isEmpty
        if tracking { wanted.insert(.baseline) }
        desire(review: .baseline, reviewAt: baselineOpens, measures: measures, kind: .baseline, opens: baselineOpens,
               closes: baselineCloses, enrolment: enrolment, history: history, existing: existing, now: now, horizon: horizon, into: &actions)

        // Pre-review check-ins.
        for review in reviews {
            if tracking { wanted.insert(review.key) }
            let opens = zone.shift(review.at, by: -opensLead)
            if opens < baselineCloses { continue }
            let closes = zone.shift(review.at, by: -closesLead)
            desire(review: review.key, reviewAt: review.at, measures: measures, kind: .preReview, opens: opens, closes: closes,
                   enrolment: enrolment, history: history, existing: existing, now: now, horizon: horizon, into: &actions)
        }

        // Existing prompts: replanned, closed, reminders.
        for (index, prompt) in history.prompts.enumerated() where prompt.status.isOpen {
            let orphan: Bool
            switch prompt.review {
            case .baseline: orphan = false
            case .cadence: orphan = prompt.reviewAt >= anchor && !wanted.contains(prompt.review)
            case .booked(let id): orphan = !booked.contains { $0.id == id }
            }
            if orphan {
                actions.append(.expire(promptID: prompt.id, reason: .replanned))
                statuses[index] = .expired
                reasons[index] = .replanned
            } else if now >= prompt.closesAt {
                actions.append(.expire(promptID: prompt.id, reason: .closed))
                statuses[index] = .expired
                reasons[index] = .closed
            } else if prompt.status == .sent {
                var due = -1
                for reminder in prompt.reminders.indices where reminder >= prompt.remindersSent && prompt.reminders[reminder] <= now {
                    due = reminder
                }
                if due >= 0 { actions.append(.remind(promptID: prompt.id, index: due)) }
            }
        }

        nonResponse(history: history, statuses: statuses, reasons: reasons, into: &actions)
        return actions
    }

    // MARK: - Helpers

    private struct PromptIdentity: Hashable {
        var review: ReviewKey
        var instrument: String
        var kind: PromptKind
    }

    /// Creates or reschedules the prompts for the measures of one review; times are worked out once per review.
    private func desire(review: ReviewKey, reviewAt: Int64, measures: [String], kind: PromptKind, opens: Int64, closes: Int64,
                        enrolment: Enrolment, history: SchedulingHistory, existing: [PromptIdentity: Int], now: Int64, horizon: Int64,
                        into actions: inout [PlanAction]) {
        guard closes > now else { return }
        let sendAt = sendTime(opens: opens, closes: closes, now: now)
        var reminders: [Int64]?
        for instrument in measures {
            if !existing.isEmpty, let index = existing[PromptIdentity(review: review, instrument: instrument, kind: kind)] {
                let prompt = history.prompts[index]
                guard prompt.status.isOpen, prompt.reviewAt != reviewAt else { continue }
                // The review moved: new times; a prompt already sent keeps its send time.
                let newSend = prompt.status == .sent ? prompt.sendAt : (sendAt ?? prompt.sendAt)
                actions.append(.reschedule(promptID: prompt.id, reviewAt: reviewAt, sendAt: newSend, closesAt: closes,
                                           reminders: reminderTimes(opens: opens, after: newSend, closes: closes)))
                continue
            }
            guard opens <= horizon, let sendAt else { continue }
            if reminders == nil { reminders = reminderTimes(opens: opens, after: sendAt, closes: closes) }
            actions.append(.createPrompt(PlannedPrompt(
                enrolmentID: enrolment.id, personID: enrolment.personID, review: review, reviewAt: reviewAt, instrument: instrument,
                kind: kind, sendAt: sendAt, reminders: reminders ?? [], closesAt: closes)))
        }
    }

    /// The first instant at or after `max(opens, now)` inside the send window, or nil when that is not before `closes`.
    public func sendTime(opens: Int64, closes: Int64, now: Int64) -> Int64? {
        let at = deferIntoWindow(max(opens, now))
        return at < closes ? at : nil
    }

    /// `at` itself when it is inside the send window, else the window's next opening in the person's zone.
    public func deferIntoWindow(_ at: Int64) -> Int64 {
        let window = pathway.sendWindow
        let minute = zone.minuteOfDay(at)
        if window.contains(minuteOfDay: minute) { return at }
        let day = zone.localDay(at)
        if window.start < window.end {
            return zone.instant(day: minute < window.start ? day : day + 1, minute: window.start)
        }
        // A window across midnight: outside it means between its end and its start on the same day.
        return zone.instant(day: day, minute: window.start)
    }

    private func reminderTimes(opens: Int64, after sendAt: Int64, closes: Int64) -> [Int64] {
        var times: [Int64] = []
        for reminder in pathway.checkIn.reminders {
            let at = deferIntoWindow(zone.shift(opens, by: reminder.seconds))
            if at > sendAt && at < closes && times.last.map({ at > $0 }) ?? true { times.append(at) }
        }
        return times
    }

    /// Missed check-ins and the non-response flag, from reviews whose prompts are all closed.
    private func nonResponse(history: SchedulingHistory, statuses: [PromptStatus], reasons: [ExpiryReason?], into actions: inout [PlanAction]) {
        guard !history.prompts.isEmpty else { return }
        struct Outcome {
            var reviewAt: Int64
            var answered = false
            var open = false
            var closedUnanswered = 0
        }
        var outcomes: [ReviewKey: Outcome] = [:]
        for (index, prompt) in history.prompts.enumerated() {
            var outcome = outcomes[prompt.review] ?? Outcome(reviewAt: prompt.reviewAt)
            switch statuses[index] {
            case .answered: outcome.answered = true
            case .scheduled, .sent: outcome.open = true
            case .expired: if reasons[index] == .closed { outcome.closedUnanswered += 1 }
            }
            outcomes[prompt.review] = outcome
        }
        let ordered = outcomes.filter { !$0.value.open && ($0.value.answered || $0.value.closedUnanswered > 0) }
            .sorted { ($0.value.reviewAt, $0.key) < ($1.value.reviewAt, $1.key) }
        var streak = 0
        let threshold = pathway.nonResponse.missedInARow
        for (review, outcome) in ordered {
            if outcome.answered {
                streak = 0
                continue
            }
            streak += 1
            if !history.missed.contains(review) {
                actions.append(.recordMissed(review: review, reviewAt: outcome.reviewAt))
            }
            if streak == threshold && !history.nonResponseFlags.contains(review) {
                actions.append(.raiseNonResponseFlag(review: review, missedInARow: streak))
            }
        }
    }
}
