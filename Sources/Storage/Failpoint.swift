import Foundation
import Synchronization

/// Named places where a fault test can have the process killed (R1: between a prompt's row and its outbox message).
///
/// `ROM_FAILPOINT=NAME:N` makes the process send itself SIGKILL at the N-th time it reaches `NAME` — a crash at
/// exactly that point, with nothing flushed or rolled back by the process itself. Unset (always, outside fault
/// tests), `hit` is one comparison of a constant.
public enum Failpoint {
    public static let schedulePromptWritten = "schedule.prompt-written"

    private static let armed: (name: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["ROM_FAILPOINT"], let colon = value.lastIndex(of: ":"),
              let count = Int(value[value.index(after: colon)...]), count > 0 else { return nil }
        return (String(value[..<colon]), count)
    }()
    private static let hits = Atomic<Int>(0)

    /// Kills the process if this is the armed failpoint's N-th hit.
    @inline(__always)
    public static func hit(_ name: String) {
        guard let armed, armed.name == name else { return }
        if hits.add(1, ordering: .relaxed).newValue == armed.count { kill(getpid(), SIGKILL) }
    }
}
