/// How a group of people is monitored: review cadence, measures, check-in window, channels and rules.
public struct Pathway: Sendable, Equatable {
    public var id: String
    public var cadence: Cadence
    /// The baseline must be collected within this span of the enrolment start.
    public var baselineWithin: TimeSpan
    /// Instrument ids collected before every review.
    public var measures: [String]
    public var checkIn: CheckInWindow
    /// Local hours in which prompts may be sent.
    public var sendWindow: SendWindow
    /// Time zone for people who have none of their own.
    public var timezone: String
    /// Channels in order of preference.
    public var channels: [Channel]
    /// Gateway name per channel.
    public var gateways: [Channel: String]
    public var nonResponse: NonResponseRule
    /// Local time of cadence reviews, in minutes after midnight (default 09:00).
    public var reviewTime: Int
    /// What an SMS prompt asks for: open the check-in link, or reply by SMS with the prompt's code and the answers.
    public var smsStyle: SMSStyle = .link

    public init(id: String, cadence: Cadence, baselineWithin: TimeSpan, measures: [String], checkIn: CheckInWindow,
                sendWindow: SendWindow, timezone: String, channels: [Channel], gateways: [Channel: String],
                nonResponse: NonResponseRule, reviewTime: Int = 9 * 60) {
        self.reviewTime = reviewTime
        self.id = id
        self.cadence = cadence
        self.baselineWithin = baselineWithin
        self.measures = measures
        self.checkIn = checkIn
        self.sendWindow = sendWindow
        self.timezone = timezone
        self.channels = channels
        self.gateways = gateways
        self.nonResponse = nonResponse
    }
}

/// What an SMS prompt asks the person to do.
public enum SMSStyle: String, Sendable, Equatable, CaseIterable {
    /// Open the check-in form from the link.
    case link
    /// Reply with the prompt's code and the answers as numbers (the link is still included).
    case reply
}

/// Time between reviews in routine support and during a step-up.
public struct Cadence: Sendable, Equatable {
    public var routine: TimeSpan
    public var stepUp: TimeSpan

    public init(routine: TimeSpan, stepUp: TimeSpan) {
        self.routine = routine
        self.stepUp = stepUp
    }
}

/// When a pre-review check-in opens and closes relative to the review, and when to remind.
public struct CheckInWindow: Sendable, Equatable {
    /// Opens this long before the review.
    public var opens: TimeSpan
    /// Closes this long before the review.
    public var closes: TimeSpan
    /// Reminders this long after opening.
    public var reminders: [TimeSpan]
    /// Answers this long after closing still count for their prompts, as `late`; the link works until then.
    public var grace: TimeSpan

    /// Three days: a person who opened the link on the last evening can still send it after a weekend.
    public static let defaultGrace = TimeSpan.hours(72)

    public init(opens: TimeSpan, closes: TimeSpan, reminders: [TimeSpan], grace: TimeSpan = defaultGrace) {
        self.opens = opens
        self.closes = closes
        self.reminders = reminders
        self.grace = grace
    }
}

/// A daily window of local clock time, e.g. `09:00-19:00`; it may cross midnight (`20:00-08:00`).
public struct SendWindow: Sendable, Equatable, CustomStringConvertible {
    /// Minutes after local midnight.
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Parses `HH:MM-HH:MM`; nil when malformed or empty.
    public static func parse(_ text: String) -> SendWindow? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start != end else { return nil }
        return SendWindow(start: start, end: end)
    }

    private static func minutes(_ text: Substring) -> Int? {
        let pieces = text.trimmingCharacters().split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count == 2, pieces[0].count == 2, pieces[1].count == 2,
              let hours = Int(pieces[0]), let minutes = Int(pieces[1]),
              (0...24).contains(hours), (0...59).contains(minutes), hours * 60 + minutes <= 1_440 else { return nil }
        return hours * 60 + minutes
    }

    /// Whether `minute` (after local midnight) is inside the window.
    public func contains(minuteOfDay minute: Int) -> Bool {
        start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }

    public var description: String {
        func clock(_ value: Int) -> String {
            let hours = value / 60, minutes = value % 60
            return (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes)"
        }
        return "\(clock(start))-\(clock(end))"
    }
}

/// A way to reach a person.
public enum Channel: String, Sendable, Hashable, Codable, CaseIterable {
    case sms
    case email
}

/// When missed check-ins raise `recovery_gains_at_risk`.
public struct NonResponseRule: Sendable, Equatable {
    public var missedInARow: Int

    public init(missedInARow: Int) {
        self.missedInARow = missedInARow
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
