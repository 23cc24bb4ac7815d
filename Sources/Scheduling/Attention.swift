extension Planner {
    /// How far ahead a tick looks at most when nothing else brings an enrolment back: a safety net, one routine cadence.
    public static let longestAttentionGap: Int64 = 28 * 86_400

    /// The earliest instant after `now` at which this enrolment may need the scheduler again if nothing but time
    /// changes — so a tick reads only the enrolments whose instant has come instead of every enrolment's history.
    ///
    /// It is never later than the first tick at which `plan` or `reviewChanges` (with `horizon = tick + lookahead`)
    /// would want something; it may be earlier, which costs one tick that finds nothing. What the clock cannot
    /// foresee — an answer, a booking, a mode switch, a new configuration — brings the enrolment back at once (the
    /// store marks it). `history` is the enrolment's state after this tick's actions.
    ///
    /// Instants considered: each open prompt's closing (expiry, a missed check-in, the non-response flag) and next
    /// reminder (a reminder due before its prompt was sent: the next tick, until it is sent); each review's passing
    /// (the one after it must then be recorded), and the moment its check-in comes within the horizon (its prompts
    /// and its record); the same for the baseline.
    public func nextAttention(for enrolment: Enrolment, booked: [BookedReview], history: SchedulingHistory, now: Int64, lookahead: Int64) -> Int64 {
        var next = now + Self.longestAttentionGap
        func consider(_ at: Int64) { if at > now && at < next { next = at } }
        for prompt in history.prompts where prompt.status.isOpen {
            consider(prompt.closesAt)
            if prompt.remindersSent < prompt.reminders.count {
                let reminder = prompt.reminders[prompt.remindersSent]
                consider(reminder > now ? reminder : now + 1)
            }
        }
        let opensLead = pathway.checkIn.opens.seconds
        let longest = max(pathway.cadence.routine.seconds, pathway.cadence.stepUp.seconds)
        let (_, reviews) = self.reviews(for: enrolment, booked: booked, through: now + lookahead + opensLead + 2 * longest + 2 * 86_400,
                                        from: now - opensLead - 86_400)
        let baseline = PlannedReview(key: .baseline, at: zone.instant(day: enrolment.startDate.dayNumber, minute: 0))
        for review in reviews + [baseline] {
            consider(review.at)
            // Prompts are created once their opening is within the horizon; records once the review is within the
            // horizon plus the opening lead (two sums that differ across a clock change: both are considered).
            let opens = review.key == .baseline ? review.at : zone.shift(review.at, by: -opensLead)
            consider(opens - lookahead)
            consider(review.at - opensLead - lookahead)
        }
        return next
    }
}
