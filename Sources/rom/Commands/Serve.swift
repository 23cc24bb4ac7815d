import ArgumentParser
import ROMService

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP server with the scheduler, dispatcher and sweeper.",
        discussion: "Stops gracefully on SIGTERM or SIGINT. The database must be migrated first (`rom migrate`)."
    )

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = makeLogger()
        try await Server.run(configuration: configuration, logger: logger, now: try options.clock())
    }
}
