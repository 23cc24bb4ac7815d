import Delivery
import Foundation
import Instruments
import Scheduling

/// Reads `config/pathways.yaml`, checking every instrument and gateway it names exists.
enum PathwayLoader {
    static let keys = ["cadence", "baseline", "measures", "check_in", "send_window", "review_time", "timezone", "channels", "gateways", "non_response", "sms_style"]

    static func read(_ value: YAMLValue, instruments: InstrumentCatalog, gateways: [String: GatewaySettings],
                     defaultTimeZone: String) -> [String: Pathway] {
        guard let root = value.fields(["pathways"], what: "pathways.yaml"),
              let entries = root.required("pathways", hint: "start the file with `pathways:` and one entry per pathway")?.mapping(what: "pathways")
        else { return [:] }
        var pathways: [String: Pathway] = [:]
        for (id, entry) in entries {
            if let pathway = readPathway(id: id, entry, instruments: instruments, gateways: gateways, defaultTimeZone: defaultTimeZone) {
                pathways[id] = pathway
            }
        }
        if entries.isEmpty {
            value.problem("no pathways are defined", hint: "add at least one, e.g. `community:` with its cadence and measures")
        }
        return pathways
    }

    private static func readPathway(id: String, _ value: YAMLValue, instruments: InstrumentCatalog,
                                    gateways: [String: GatewaySettings], defaultTimeZone: String) -> Pathway? {
        let before = value.log.problems.count
        guard let f = value.fields(keys, what: "pathway `\(id)`") else { return nil }

        var cadence = Cadence(routine: .days(28), stepUp: .days(7))
        if let c = f.required("cadence", hint: "e.g. `cadence: { routine: 28d, step_up: 7d }`")?.fields(["routine", "step_up"], what: "cadence") {
            if let routine = c.required("routine")?.duration(what: "routine") { cadence.routine = routine }
            if let stepUp = c.required("step_up")?.duration(what: "step_up") { cadence.stepUp = stepUp }
            for (key, span) in [("routine", cadence.routine), ("step_up", cadence.stepUp)] where span.seconds % 86_400 != 0 || span.seconds == 0 {
                c[key]?.problem("a cadence of \(span) is not a whole number of days", hint: "reviews fall on days: write e.g. 28d, 4w or 7d")
            }
        }

        var baselineWithin = TimeSpan.days(14)
        if let b = f.optional("baseline")?.fields(["within"], what: "baseline"), let within = b.required("within")?.duration(what: "within") {
            baselineWithin = within
        }

        var measures: [String] = []
        if let list = f.required("measures", hint: "list instrument ids, e.g. `measures: [phq9, gad7, goals]`")?.list(what: "measures") {
            for item in list {
                guard let measure = item.string(what: "a measure") else { continue }
                if instruments.definition(measure) == nil {
                    let suggestion = closest(to: measure, in: instruments.ids).map { "did you mean `\($0)`? " } ?? ""
                    item.problem("unknown instrument `\(measure)`",
                                 hint: "\(suggestion)defined instruments: \(instruments.ids.joined(separator: ", ")) (config/instruments/)")
                } else if measures.contains(measure) {
                    item.problem("`\(measure)` is listed twice", hint: "list each measure once")
                } else {
                    measures.append(measure)
                }
            }
        }

        var checkIn = CheckInWindow(opens: .days(5), closes: .days(1), reminders: [.days(2)])
        if let w = f.required("check_in", hint: "e.g. `check_in: { opens: 5d, closes: 1d, reminders: [2d] }`")?
            .fields(["opens", "closes", "reminders", "grace"], what: "check_in") {
            if let opens = w.required("opens")?.duration(what: "opens") { checkIn.opens = opens }
            if let closes = w.required("closes")?.duration(what: "closes") { checkIn.closes = closes }
            if let reminders = w.optional("reminders")?.list(what: "reminders") {
                checkIn.reminders = reminders.compactMap { $0.duration(what: "a reminder") }
            } else if w.optional("reminders") == nil {
                checkIn.reminders = []
            }
            if let graceValue = w.optional("grace"), let grace = graceValue.duration(what: "grace") {
                if grace.seconds <= 14 * 86_400 { checkIn.grace = grace } else {
                    graceValue.problem("a grace of \(grace) after closing is longer than two weeks",
                                       hint: "answers after the grace are still kept and shown; use at most 14d, e.g. grace: 72h")
                }
            }
            if checkIn.closes >= checkIn.opens {
                w.owner.problem("check_in closes (\(checkIn.closes) before the review) is not after it opens (\(checkIn.opens) before)",
                                hint: "opens must be further before the review than closes, e.g. opens: 5d, closes: 1d")
            }
            let openFor = checkIn.opens.seconds - checkIn.closes.seconds
            if openFor > 0 && openFor < 86_400 {
                w.owner.problem("the check-in is open for only \(TimeSpan(seconds: openFor))",
                                hint: "keep it open at least 24h (opens − closes ≥ 1d) so a send window falls inside it every time")
            }
            for reminder in checkIn.reminders where reminder.seconds >= openFor {
                w["reminders"]?.problem("reminder \(reminder) after opening falls after the check-in closes",
                                        hint: "reminders must be shorter than opens − closes (\(TimeSpan(seconds: max(openFor, 0))))")
            }
        }

        var sendWindow = SendWindow(start: 9 * 60, end: 19 * 60)
        if let windowValue = f.optional("send_window"), let text = windowValue.string(what: "send_window") {
            if let window = SendWindow.parse(text) { sendWindow = window } else {
                windowValue.problem("`\(text)` is not a send window", hint: "write local times as \"HH:MM-HH:MM\", e.g. \"09:00-19:00\"")
            }
        }

        var reviewTime = 9 * 60
        if let timeValue = f.optional("review_time"), let text = timeValue.string(what: "review_time") {
            if let window = SendWindow.parse("\(text)-23:59"), text.count == 5 { reviewTime = window.start } else {
                timeValue.problem("`\(text)` is not a time of day", hint: "write local time as \"HH:MM\", e.g. \"09:00\"")
            }
        }

        var timezone = defaultTimeZone
        if let zoneValue = f.optional("timezone"), let text = zoneValue.string(what: "timezone") {
            if TimeZone(identifier: text) != nil { timezone = text } else {
                zoneValue.problem("`\(text)` is not a time zone", hint: "use an IANA name such as Europe/London")
            }
        }

        var channels: [Channel] = []
        if let list = f.required("channels", hint: "e.g. `channels: [sms, email]` in order of preference")?.list(what: "channels") {
            channels = list.compactMap { $0.enumValue(Channel.self, what: "channel") }
        }

        var routes: [Channel: String] = [:]
        if let g = f.required("gateways", hint: "name the gateway per channel, e.g. `gateways: { sms: sandbox, email: sandbox }`")?
            .mapping(allowed: Channel.allCases.map(\.rawValue), what: "gateways") {
            for (key, entry) in g {
                guard let channel = Channel(rawValue: key), let name = entry.string(what: "gateway name") else { continue }
                guard let gateway = gateways[name] else {
                    let suggestion = closest(to: name, in: Array(gateways.keys)).map { "did you mean `\($0)`? " } ?? ""
                    entry.problem("gateway `\(name)` does not exist",
                                  hint: "\(suggestion)gateways defined in gateways.yaml: \(gateways.keys.sorted().joined(separator: ", "))")
                    continue
                }
                if gateway.channel != channel {
                    entry.problem("gateway `\(name)` sends \(gateway.channel.rawValue), not \(channel.rawValue)",
                                  hint: "pick a gateway whose channel is \(channel.rawValue)")
                    continue
                }
                routes[channel] = name
            }
            for channel in channels where routes[channel] == nil && !g.contains(where: { $0.key == channel.rawValue }) {
                f["gateways"]?.problem("channel \(channel.rawValue) has no gateway", hint: "add `\(channel.rawValue): <gateway name>` under gateways")
            }
        }

        var nonResponse = NonResponseRule(missedInARow: 2)
        if let n = f.optional("non_response")?.fields(["missed_in_a_row"], what: "non_response"),
           let missed = n.required("missed_in_a_row")?.int(what: "missed_in_a_row", range: 1...52) {
            nonResponse.missedInARow = missed
        }

        let smsStyle = f.optional("sms_style")?.enumValue(SMSStyle.self, what: "sms_style") ?? .link

        guard value.log.problems.count == before else { return nil }
        var pathway = Pathway(id: id, cadence: cadence, baselineWithin: baselineWithin, measures: measures, checkIn: checkIn,
                              sendWindow: sendWindow, timezone: timezone, channels: channels, gateways: routes, nonResponse: nonResponse,
                              reviewTime: reviewTime)
        pathway.smsStyle = smsStyle
        return pathway
    }
}
