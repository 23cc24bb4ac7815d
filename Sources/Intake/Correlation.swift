public import Foundation

/// Which prompt a reply answers, and how: the one place these rules live, for every channel.
///
/// Answers always count for something. On time they answer their prompt; after closing but inside the pathway's
/// grace they answer it late; after the grace, or when the prompt was replanned or already answered, they are kept
/// as an unsolicited response (scored, flagged, shown in the review pack) with the reason.
public enum Correlation {
    /// Where answers meant for one prompt belong.
    public enum Placement: Sendable, Equatable {
        case onTime(OpenPrompt)
        case late(OpenPrompt)
        /// `after_grace`, `replanned`, `already_answered`, `unknown_prompt`.
        case unsolicited(reason: String, prompt: OpenPrompt?)

        /// The prompt the answers count for, when they count for one.
        public var answering: OpenPrompt? {
            switch self {
            case .onTime(let prompt), .late(let prompt): return prompt
            case .unsolicited: return nil
            }
        }

        /// The prompt the answers were meant for, answered or not.
        public var meantFor: OpenPrompt? {
            switch self {
            case .onTime(let prompt), .late(let prompt): return prompt
            case .unsolicited(_, let prompt): return prompt
            }
        }
    }

    /// Places answers meant for `promptID` among the person's recent prompts.
    public static func place(promptID: String, in prompts: [OpenPrompt], now: Date, grace: TimeInterval) -> Placement {
        guard let prompt = prompts.first(where: { $0.id == promptID }) else { return .unsolicited(reason: "unknown_prompt", prompt: nil) }
        return place(prompt, now: now, grace: grace)
    }

    /// Places answers meant for `prompt`.
    public static func place(_ prompt: OpenPrompt, now: Date, grace: TimeInterval) -> Placement {
        switch prompt.status {
        case "scheduled", "sent":
            if prompt.closesAt > now { return .onTime(prompt) }
            // Past closing but not yet expired by the scheduler's tick: the same rule as an expired one.
            return prompt.closesAt.addingTimeInterval(grace) > now ? .late(prompt) : .unsolicited(reason: "after_grace", prompt: prompt)
        case "expired" where prompt.statusReason == "replanned":
            return .unsolicited(reason: "replanned", prompt: prompt)
        case "expired":
            return prompt.closesAt.addingTimeInterval(grace) > now ? .late(prompt) : .unsolicited(reason: "after_grace", prompt: prompt)
        case "answered":
            return .unsolicited(reason: "already_answered", prompt: prompt)
        default:
            return .unsolicited(reason: "unknown_prompt", prompt: prompt)
        }
    }

    /// The prompts a person can still answer now (open, or closed inside the grace).
    public static func answerable(_ prompts: [OpenPrompt], now: Date, grace: TimeInterval) -> [OpenPrompt] {
        prompts.filter { place($0, now: now, grace: grace).answering != nil }
    }

    /// What to do with a text reply (SMS or email) once it is stored.
    public enum TextDecision: Sendable, Equatable {
        case consent(optedIn: Bool)
        case help
        case answers(values: [Int?], placement: Placement)
        /// Kept for a person to read, with the reason; `tellHowToAnswer` when an automatic how-to-answer helps.
        case quarantine(reason: String, tellHowToAnswer: Bool)
    }

    /// Decides a text reply. `channel` is `sms` or `email`: an SMS without a code answers the only answerable
    /// reply-by-SMS prompt; an email answers the message its reply address names, so without a code it needs one
    /// answerable prompt. When none can be answered, the one prompt of the latest check-in that closed unanswered
    /// takes them (as unsolicited); several are ambiguous and go to the inbox. `largestOption` gives an instrument's largest answer, so that a run of digits is refused
    /// where answers go above 9.
    public static func decide(_ reply: SMSReply, channel: String, prompts: [OpenPrompt], now: Date, grace: TimeInterval,
                              largestOption: (String) -> Int?) -> TextDecision {
        switch reply {
        case .optOut: return .consent(optedIn: false)
        case .optIn: return .consent(optedIn: true)
        case .help: return channel == "sms" ? .help : .quarantine(reason: "help_requested", tellHowToAnswer: false)
        case .freeTextOptOut:
            // A person reads it and acts; no automatic message to someone who may be asking us to stop.
            return .quarantine(reason: "free_text_opt_out", tellHowToAnswer: false)
        case .unreadable(let reason):
            return .quarantine(reason: "unreadable: \(reason)", tellHowToAnswer: true)
        case .answers(let code, let values, let compact):
            let placement: Placement
            if let code {
                guard let prompt = prompts.first(where: { $0.replyCode == code }) else {
                    return .quarantine(reason: "unknown code \(code)", tellHowToAnswer: true)
                }
                placement = place(prompt, now: now, grace: grace)
            } else {
                let fits = { (prompt: OpenPrompt) in channel == "email" || prompt.replyCode != nil }
                var candidates = answerable(prompts, now: now, grace: grace).filter(fits)
                if candidates.isEmpty {
                    // Nothing can be answered now: the answers are for the latest check-in that closed unanswered, and
                    // are kept against it as unsolicited (scored and flagged) rather than lost.
                    let closed = prompts.filter { fits($0) && $0.status != "answered" }
                    if let latest = closed.map(\.closesAt).max() { candidates = closed.filter { $0.closesAt == latest } }
                }
                guard candidates.count == 1, let only = candidates.first else {
                    return .quarantine(reason: candidates.isEmpty ? "no_open_prompt" : "ambiguous: \(candidates.count) open prompts", tellHowToAnswer: true)
                }
                placement = place(only, now: now, grace: grace)
            }
            if compact, let instrument = placement.meantFor?.instrument, let largest = largestOption(instrument), largest > 9 {
                return .quarantine(reason: "digits run for answers above 9", tellHowToAnswer: true)
            }
            return .answers(values: values.map { $0 }, placement: placement)
        }
    }
}
