import ArgumentParser
import Foundation
import Logging
import Delivery
import ROMService
import Storage

struct Dispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send due outbox messages through their gateways.",
        discussion: """
        With --once, claims what is due at --now (default: the current time), sends it, records the outcomes and exits.
        Without it, keeps dispatching every dispatcher.poll until SIGTERM or SIGINT. `rom serve` runs the same dispatcher.
        On SQLite only one process dispatches: this command is refused while `rom serve` or another `rom dispatch`
        runs on the same database file.
        """
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "One pass, then exit.")
    var once = false

    func run() async throws {
        let configuration = try options.load()
        let logger = makeLogger(level: .notice)
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: logger)
        try await store.checkReady()
        // On SQLite one dispatcher at a time (R12): refused while `rom serve` or another `rom dispatch` runs.
        let lock = try store.dispatcherLock(holder: once ? "rom dispatch --once" : "rom dispatch")
        defer { withExtendedLifetime(lock) {} }
        let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: try options.clock(), logger: logger)
        if once {
            let total = try await BackgroundServices.drain(env)
            env.curl?.shutdown()
            try await store.close()
            print("Claimed \(total.claimed): \(total.accepted) accepted, \(total.retried) to retry, \(total.failed) failed, \(total.expired) expired.")
            return
        }
        try await Server.runServices([BackgroundServices.dispatcher(env)], logger: logger)
        env.curl?.shutdown()
        try await store.close()
    }
}
