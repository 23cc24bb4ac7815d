/// A review the store already holds as a record (cadence or baseline; booked ones are made by the booking API).
public struct RecordedReview: Sendable, Equatable {
    public var key: ReviewKey
    /// UTC seconds.
    public var at: Int64
    /// Still planned (held, missed and cancelled ones are never planned again nor cancelled).
    public var planned: Bool

    public init(key: ReviewKey, at: Int64, planned: Bool = true) {
        self.key = key
        self.at = at
        self.planned = planned
    }
}

/// What the scheduler changes in the review records of one enrolment.
public enum ReviewChange: Sendable, Equatable {
    /// A review to record as planned (nothing happens if it is recorded already).
    case plan(PlannedReview)
    /// A planned review the cadence no longer has (a mode switch, a booking that replaced it): cancelled.
    case cancel(ReviewKey)
}

extension Planner {
    /// The reviews one enrolment should have as records at `now`: its baseline, every review the plan covers (from a
    /// check-in opening before now to the horizon), and always the first review after `now`, however far off — so an
    /// enrolled person always has a next review, before any prompt exists for it. Planned cadence records from the
    /// same span that the cadence no longer has are cancelled.
    ///
    /// `recorded` are the enrolment's cadence and baseline records of the last weeks, whatever their status; only the
    /// difference is returned, so a tick that changes nothing writes nothing.
    public func reviewChanges(for enrolment: Enrolment, booked: [BookedReview], recorded: [RecordedReview], now: Int64, horizon: Int64) -> [ReviewChange] {
        let from = now - pathway.checkIn.opens.seconds - 86_400
        let longest = max(pathway.cadence.routine.seconds, pathway.cadence.stepUp.seconds)
        var limit = max(horizon, now) + pathway.checkIn.opens.seconds
        var (_, reviews) = self.reviews(for: enrolment, booked: booked, through: limit, from: from)
        // No review after now within the horizon: look one cadence further at a time until the next one appears, and
        // add that one only — the reviews between it and the extended limit come in with the horizon, not earlier
        // (adding them here would plan a review a tick later cancels once the horizon moves on).
        var extensions = 0
        var further = reviews
        while !further.contains(where: { $0.at > now }) && extensions < 8 {
            limit += longest
            extensions += 1
            further = self.reviews(for: enrolment, booked: booked, through: limit, from: from).reviews
        }
        if !reviews.contains(where: { $0.at > now }), let next = further.first(where: { $0.at > now }) { reviews.append(next) }
        // The baseline only while it is recent: the store reads records of the last weeks, and an older baseline
        // (an enrolment imported with a past start) has its record from its prompts, if it had any.
        let baselineAt = zone.instant(day: enrolment.startDate.dayNumber, minute: 0)
        var wanted = baselineAt >= from ? [PlannedReview(key: .baseline, at: baselineAt)] : []
        wanted += reviews.filter { review in
            if case .cadence = review.key { return review.at >= from }
            return false
        }
        let recordedKeys = Set(recorded.map(\.key))
        let wantedKeys = Set(wanted.map(\.key))
        var changes = wanted.filter { !recordedKeys.contains($0.key) }.map(ReviewChange.plan)
        for record in recorded where record.planned && record.at >= from && !wantedKeys.contains(record.key) {
            if case .cadence = record.key { changes.append(.cancel(record.key)) }
        }
        return changes
    }
}
