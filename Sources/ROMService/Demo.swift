public import Foundation
import Delivery
import Instruments
import Scheduling
import Storage
import Intake
import Synchronization

/// `rom demo`: synthetic people with months of history made by the real pipeline — the scheduler plans, the
/// dispatcher sends through the sandbox gateways, and people answer through the check-in form's own scoring and
/// storage — so a newcomer sees prompts, links, review packs, flags and reports. Deterministic for a seed.
public struct DemoSeeder: Sendable {
    let env: ServiceEnvironment

    public struct Summary: Sendable {
        public var people = 0
        public var days = 0
        public var messages = 0
        public var answered = 0
        public var flags = 0
    }

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    /// How a synthetic person's scores move: improving, steady or getting worse; some stop answering.
    enum Course: CaseIterable { case improving, steady, worsening, disengaging }

    static let givenNames = ["Ana", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hamza", "Isla", "Jon", "Kemi", "Liam", "Maya", "Noor", "Owen", "Priya"]
    static let goalTexts = [["Get back to work three days a week", "Sleep through most nights", "See my sister every weekend"],
                            ["Walk the dog every morning", "Cook a proper meal most days"],
                            ["Feel able to go to the shops on my own", "Start the evening class", "Cut down to two coffees a day"]]

    /// Seeds `count` people starting `days` ago and replays each day up to `now`. People whose ids exist are skipped.
    public func run(count: Int, days: Int, now: Date, seed: UInt64) async throws -> Summary {
        var random = SplitMix(seed: seed)
        let start = now.addingTimeInterval(-Double(days) * 86_400)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: env.configuration.settings.defaultTimeZone) ?? .gmt
        let parts = calendar.dateComponents([.year, .month, .day], from: start)
        let startDay = LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
        var rows = ["id,given_name,phone,email,timezone,pathway,start_date,clinician,team"]
        var courses: [String: Course] = [:]
        for index in 0..<count {
            let id = String(format: "demo%02d", index + 1)
            guard try await env.store.person(id: id) == nil else { continue }
            let pathway = index % 4 == 3 ? "core" : "community"
            let team = index % 2 == 0 ? "north" : "south"
            rows.append("\(id),\(Self.givenNames[index % Self.givenNames.count]),+4477009\(String(format: "%05d", 90_000 + index)),\(id)@example.org,,\(pathway),\(startDay),,\(team)")
            courses[id] = index == 2 ? .worsening : index % 7 == 5 ? .disengaging : [Course.improving, .improving, .steady][index % 3]
        }
        var summary = Summary()
        guard !courses.isEmpty else { return summary }
        let outcome = try await PeopleImporter(env: env).importCSV(rows.joined(separator: "\n") + "\n", partial: false)
        guard outcome.problems.isEmpty else { throw DemoError(description: "demo people did not import: \(outcome.problems)") }
        summary.people = courses.count
        for (offset, id) in courses.keys.sorted().enumerated() {
            try await env.store.setGoals(personID: id, goals: Self.goalTexts[offset % Self.goalTexts.count], now: start)
        }

        // Replay the days: the scheduler at 09:30 and 17:30 local, the dispatcher after it, answers in the evening.
        let clock = Mutex(start)
        let worker = OutboxWorker(store: env.store, gateways: env.gateways, composer: env.composer, pathways: env.configuration.pathways, links: env.links,
                                  dailyCap: env.configuration.settings.dailyCap, clock: { clock.withLock { $0 } }, jitter: { 0.5 }, logger: env.logger)
        let runner = SchedulerRunner(env: env)
        var day = 0
        while true {
            let morning = start.addingTimeInterval(Double(day) * 86_400)
            guard morning <= now else { break }
            for hour in [9.5, 17.5] {
                let tick = calendar.startOfDay(for: morning).addingTimeInterval(hour * 3_600)
                guard tick <= now else { continue }
                clock.withLock { $0 = tick }
                _ = try await runner.tick(now: tick)
                while true {
                    let pass = try await worker.runOnce()
                    summary.messages += pass.accepted
                    if pass.claimed == 0 { break }
                }
            }
            let evening = calendar.startOfDay(for: morning).addingTimeInterval(20 * 3_600)
            if evening <= now {
                for (id, course) in courses.sorted(by: { $0.key < $1.key }) {
                    let progress = max(0, min(1, evening.timeIntervalSince(start) / max(now.timeIntervalSince(start), 1)))
                    summary.answered += try await answer(id, course: course, progress: progress, at: evening, random: &random)
                }
            }
            day += 1
        }
        summary.days = day
        summary.flags = try await env.store.flags(team: nil, openOnly: false).filter { $0.personID.hasPrefix("demo") }.count
        return summary
    }

    /// Answers the person's open prompts (if any) as their course says; returns how many measures were answered.
    func answer(_ id: String, course: Course, progress: Double, at time: Date, random: inout SplitMix) async throws -> Int {
        let prompts = try await ReplyPipeline(env: env).formPrompts(personID: id, now: time)
        guard !prompts.isEmpty else { return 0 }
        // Answer on some evening of the window: about half the open evenings; the disengaging stop after a third.
        if course == .disengaging && progress > 0.33 { return 0 }
        if random.next() % 2 == 0 { return 0 }
        var form: [String: String] = [:]
        for prompt in prompts {
            guard let definition = env.configuration.instruments.definition(prompt.instrument) else { continue }
            let top = definition.options.map(\.value).max() ?? 3
            let count = definition.itemCount.map { _ in 3 } ?? definition.items.count
            // Severity 0…1 (worse is higher): improving falls, worsening rises.
            let severity: Double
            switch course {
            case .improving: severity = 0.72 - 0.5 * progress
            case .steady, .disengaging: severity = 0.5
            case .worsening: severity = 0.35 + 0.55 * progress
            }
            for item in 1...count {
                let noise = Double(Int(random.next() % 3)) - 1
                var level = definition.direction == .higherIsWorse ? severity : 1 - severity
                if definition.itemCount != nil { level = min(1, 1 - severity + 0.1) }
                var value = Int((level * Double(top)).rounded()) + Int(noise)
                value = max(0, min(top, value))
                // The worsening person reports thoughts of self-harm late on: an urgent flag for the demo.
                if definition.riskItems.contains(where: { $0.item == item }) { value = course == .worsening && progress > 0.6 ? 1 : 0 }
                form["a.\(prompt.id).\(item)"] = String(value)
            }
        }
        // As a person does it: the link from the message the sandbox delivered, sent through the reply pipeline.
        guard let record = try await env.store.person(id: id),
              let link = try await env.store.latestSandboxLink(recipients: [record.person.phone, record.person.email].compactMap { $0 }),
              let token = link.split(separator: "/").last.map(String.init) else { return 0 }
        let hash = LinkSigner.hash(token)
        guard let stored = try await env.store.checkinLink(tokenHash: hash), stored.personID == id, !stored.used, stored.expiresAt > time else { return 0 }
        let body = Array(form.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&").utf8)
        guard case .received = try await ReplyPipeline(env: env).submitForm(tokenHash: hash, link: stored, body: body, now: time) else { return 0 }
        return prompts.count
    }
}

public struct DemoError: Error, CustomStringConvertible {
    public var description: String
}

/// A small seeded generator (SplitMix64), so a demo — or a test's random cases — are the same every time.
public struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `range` (by remainder: a slight bias that seeded test cases do not mind).
    public mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}
