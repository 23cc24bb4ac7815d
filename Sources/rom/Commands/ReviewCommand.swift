import ArgumentParser
import Foundation
import Logging
import ROMService
import Review
import Storage

struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Print a person's review pack as HTML, Markdown, JSON or FHIR R4.",
        discussion: """
        The pack is for the person's next review on or after --now (default: the current time), or the review given
        with --review. HTML and Markdown come from config/templates/review_html.mustache and review_md.mustache, so a
        service can restyle them; JSON is the pack itself; FHIR is a Bundle of QuestionnaireResponse and Observation
        resources (LOINC-coded for PHQ-9 and GAD-7).
          rom review --person p1 --format md
          rom review --person p1 --format fhir --out p1.json
        """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "The person's id.")
    var person: String

    @Option(help: "html, md, json or fhir.")
    var format: String = "html"

    @Option(help: "The review date (2026-11-30) or time (ISO 8601); default: the next review.")
    var review: String?

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    func run() async throws {
        guard let format = ReviewFormat(rawValue: format) else { throw ValidationError("--format must be html, md, json or fhir") }
        var reviewAt: Date?
        if let review {
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            guard let date = ISO8601DateFormatter().date(from: review) ?? day.date(from: review) else {
                throw ValidationError("--review must be a date like 2026-11-30 or an ISO 8601 time")
            }
            reviewAt = date
        }
        let configuration = try options.load()
        let now = try options.clock()()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: { now }, logger: makeLogger(level: .warning))
        let renderer = try ReviewRenderer(configuration: configuration)
        let pack = try await ReviewBuilder(env: env).pack(personID: person, reviewAt: reviewAt, now: now)
        try await store.audit(AuditEvent(at: now, actor: "cli", action: "review.export", personID: person, detail: format.rawValue, requestID: nil))
        try await store.close()
        guard let pack else { throw ValidationError("no person `\(person)`") }
        let text = renderer.render(pack, as: format)
        if let out {
            try text.write(toFile: out, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("Wrote \(format.rawValue) review pack for \(person) to \(out)\n".utf8))
        } else {
            print(text)
        }
    }
}
