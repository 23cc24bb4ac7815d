import ArgumentParser

@main
struct ROM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rom",
        abstract: "Routine outcome monitoring: schedule brief ratings before reviews, score them, flag what needs a clinician.",
        discussion: """
        Configuration lives in a folder (default: config/) with rom.yaml, pathways.yaml, gateways.yaml, \
        instruments/*.yaml and templates/*.mustache. Commands that depend on time take --now with an \
        ISO-8601 instant, so that you can ask what would happen at another time.
        """,
        subcommands: [Serve.self, Migrate.self, Backup.self, Restore.self, Purge.self, ConfigCommand.self, Tokens.self, Users.self, PeopleCommand.self, Schedule.self, Dispatch.self, Responses.self, Templates.self, ScoreCommand.self, Rescore.self, ReviewCommand.self, DemoCommand.self, ReportCommand.self]
    )
}
