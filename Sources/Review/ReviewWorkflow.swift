public import Foundation

/// How a review ends: held (with the clinician's interpretation) or missed. Pure: the store records what this allows.
public enum ReviewWorkflow {
    public enum Outcome: String, Sendable, CaseIterable {
        case held, missed
    }

    /// Why a review of `kind` in `status`, due `at`, cannot be marked `outcome` at `now`; nil when it can.
    /// A review is held only with its interpretation written (what the scores mean alongside the person's own account),
    /// and not before its day; it is missed only once its time has passed.
    public static func problem(kind: String, status: String, at: Date, marking outcome: Outcome, interpretation: String?, now: Date) -> String? {
        if kind == "baseline" { return "the baseline is a check-in, not a review meeting" }
        if status != "planned" { return "this review is \(status) already" }
        switch outcome {
        case .held:
            if (interpretation ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return "write the interpretation first: what the scores mean, read with the person's own account"
            }
            if at.timeIntervalSince(now) > 86_400 { return "a review cannot be marked held before its day" }
        case .missed:
            if at > now { return "a review can be marked missed only once its time has passed" }
        }
        return nil
    }
}
