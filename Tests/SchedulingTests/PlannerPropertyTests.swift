import PropertyBased
import Scheduling
import Testing

@Suite("Planner properties")
struct PlannerPropertyTests {
    static let planner = Planner(pathway: community(), zone: london)
    static let nightPlanner = Planner(pathway: community(window: "21:00-07:30"), zone: london)

    @Test("For random starts, modes and times: no prompt is sent at or after it closes, nor outside the window; each measure once per review; planning twice is a no-op")
    func invariants() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...700), Gen.int(in: 0...(60 * 24 * 90)), Gen.bool, Gen.bool) { startOffset, minutes, stepUp, night in
            let planner = night ? Self.nightPlanner : Self.planner
            let start = LocalDate(dayNumber: LocalDate.parse("2026-01-01")!.dayNumber + startOffset)
            let now = Int64(start.dayNumber) * 86_400 + Int64(minutes) * 60
            let person = enrolment(start: start.description, mode: stepUp ? .stepUp : .routine, changedAt: stepUp ? now - 3_600 : nil)
            let horizon = now + 30 * 86_400
            let actions = planner.plan(person, history: SchedulingHistory(), now: now, horizon: horizon)
            let created = actions.created
            for prompt in created {
                #expect(prompt.sendAt < prompt.closesAt, "sent at or after closing: \(prompt)")
                #expect(prompt.sendAt >= now)
                #expect(planner.pathway.sendWindow.contains(minuteOfDay: london.minuteOfDay(prompt.sendAt)), "outside the window: \(iso(prompt.sendAt))")
                #expect(prompt.reminders.allSatisfy { $0 > prompt.sendAt && $0 < prompt.closesAt })
            }
            let keys = created.map { "\($0.review)/\($0.instrument)/\($0.kind)" }
            #expect(Set(keys).count == keys.count, "a measure appears twice for one review")
            #expect(planner.plan(person, history: apply(actions, to: SchedulingHistory()), now: now, horizon: horizon).isEmpty)
        }
    }
}
