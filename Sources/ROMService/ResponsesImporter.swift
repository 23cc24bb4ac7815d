import Foundation
import Instruments
import Scheduling
public import Intake
import Storage

/// `rom responses import FILE.csv`: paper forms keyed in, through the reply pipeline like every other channel.
///
/// Columns: `id,person,instrument,completed_on,answers` — `answers` comma- or space-separated in item order, `-` for
/// unanswered; `completed_on` YYYY-MM-DD. Every bad row is reported with its row, column and reason before anything
/// is written; `id` makes re-importing the same file harmless.
public struct ResponsesImporter: Sendable {
    public static let columns = ["id", "person", "instrument", "completed_on", "answers"]

    let env: ServiceEnvironment

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    public struct Outcome: Sendable {
        public var imported: Int
        public var alreadyImported: Int
        public var problems: [PersonRowValidator.Problem]
    }

    public func importCSV(_ text: String, partial: Bool) async throws -> Outcome {
        let table: CSVTable
        do {
            table = try CSVTable.parse(text)
        } catch {
            return Outcome(imported: 0, alreadyImported: 0, problems: [.init(row: nil, line: error.line, column: "*", reason: error.message)])
        }
        var problems: [PersonRowValidator.Problem] = []
        for column in Self.columns where !table.header.contains(column) {
            problems.append(.init(row: nil, line: 1, column: column, reason: "the header has no `\(column)` column; it must be \(Self.columns.joined(separator: ","))"))
        }
        guard problems.isEmpty else { return Outcome(imported: 0, alreadyImported: 0, problems: problems) }
        let pipeline = ReplyPipeline(env: env)
        var ready: [(id: String, person: String, answer: CheckinAnswer, row: [UInt8])] = []
        for (index, row) in table.rows.enumerated() {
            let number = index + 1
            func problem(_ column: String, _ reason: String) { problems.append(.init(row: number, line: row.line, column: column, reason: reason)) }
            guard row.fields.count == table.header.count else {
                problem("*", "has \(row.fields.count) fields but the header has \(table.header.count); put answers in quotes: \"1,2,0\"")
                continue
            }
            var values: [String: String] = [:]
            for (column, field) in zip(table.header, row.fields) { values[column] = field.trimmingCharacters(in: .whitespaces) }
            let id = values["id"] ?? "", person = values["person"] ?? "", instrument = values["instrument"] ?? ""
            if id.isEmpty { problem("id", "is empty; give each paper form its own reference so a re-import does not count it twice") }
            guard let record = try await env.store.person(id: person) else { problem("person", "`\(person)` is not a person here"); continue }
            guard LocalDate.parse(values["completed_on"] ?? "") != nil else { problem("completed_on", "write the date on the form as YYYY-MM-DD"); continue }
            do { _ = try env.configuration.instruments.scorer(instrument) } catch {
                problem("instrument", error.description)
                continue
            }
            // Commas when there are any (an empty field is an unanswered item); otherwise spaces separate the answers.
            let given = values["answers"] ?? ""
            let text = given.contains(",") ? given : given.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: ",")
            do {
                let answers = try AnswerParsing.parseList(text)
                switch try await pipeline.prepareResponse(source: "paper", personID: record.person.id, instrument: instrument, answers: answers,
                                                          context: [:], promptID: nil, now: env.now()) {
                case .failure(let error): problem("answers", error.description)
                case .success(let answer):
                    let line = table.header.map { values[$0] ?? "" }.joined(separator: ",")
                    ready.append((id, record.person.id, answer, Array(line.utf8)))
                }
            } catch let error as ScoringError {
                problem("answers", error.description)
            }
        }
        if !problems.isEmpty && !partial { return Outcome(imported: 0, alreadyImported: 0, problems: problems) }
        var imported = 0, repeated = 0
        for item in ready where !item.id.isEmpty {
            if try await env.store.submitResponse(source: "paper", eventID: item.id, personID: item.person, rawBody: item.row, contentType: "text/csv",
                                                  answer: item.answer, now: env.now()) {
                imported += 1
            } else {
                repeated += 1
            }
        }
        return Outcome(imported: imported, alreadyImported: repeated, problems: problems)
    }
}
