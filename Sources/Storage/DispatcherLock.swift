import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one-dispatcher rule on SQLite (reliability R12): a process that dispatches holds an exclusive `flock` on
/// `<database>.dispatcher-lock` for as long as it lives. A second `rom serve` or `rom dispatch` on the same file is
/// refused with the holder's pid instead of racing the first for the single writer. The kernel drops the lock when the
/// holder exits, however it exits (`kill -9` included), so a crash never leaves a stale lock behind.
public final class DispatcherLock: Sendable {
    public let path: String
    private let descriptor: Int32

    fileprivate init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Takes the lock for `holder` (e.g. "rom serve"), or throws `StoreError.dispatcherRunning` naming who has it.
    static func acquire(path: String, holder: String) throws -> DispatcherLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError.unsupported("cannot open the dispatcher lock \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            if failure == EWOULDBLOCK {
                let who = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw StoreError.dispatcherRunning(who.isEmpty ? "another process" : who)
            }
            throw StoreError.unsupported("cannot lock \(path): \(String(cString: strerror(failure)))")
        }
        let note = Array("\(holder), pid \(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, note, note.count, 0)
        return DispatcherLock(path: path, descriptor: descriptor)
    }
}

extension SQLStore {
    /// Claims the dispatcher role for this process on a SQLite file; nil for an in-memory database (no other process
    /// can reach it). Keep the lock for as long as the process dispatches.
    public func dispatcherLock(holder: String) throws -> DispatcherLock? {
        guard let file = filePath else { return nil }
        return try DispatcherLock.acquire(path: file + ".dispatcher-lock", holder: holder)
    }
}
