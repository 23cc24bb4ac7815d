import Intake
import Testing

@Suite("CSV reading (RFC 4180)")
struct CSVTableTests {
    @Test("Quoted fields, doubled quotes, embedded commas and line breaks, CRLF and a byte-order mark")
    func quoting() throws {
        let table = try CSVTable.parse("\u{FEFF}Id, Name\r\n1,\"Smith, \"\"Jo\"\"\"\r\n2,\"two\nlines\"\r\n\r\n3,plain")
        #expect(table.header == ["id", "name"])
        #expect(table.rows.map(\.fields) == [["1", "Smith, \"Jo\""], ["2", "two\nlines"], ["3", "plain"]])
        #expect(table.rows.map(\.line) == [2, 3, 6])
    }

    @Test("An unterminated quote is an error with the line where the row starts")
    func unterminated() {
        #expect(throws: CSVTable.ParseError(line: 3, message: "a quoted field is never closed; add the closing \"")) {
            try CSVTable.parse("a,b\n1,2\n3,\"oops\n")
        }
    }

    @Test("An empty file is an error")
    func empty() {
        #expect(throws: CSVTable.ParseError.self) { try CSVTable.parse("") }
    }
}

@Suite("People row rules")
struct PersonRowTests {
    let validator = PersonRowValidator(pathways: ["community"], isTimeZone: { $0 == "Europe/London" })

    @Test("E.164 phones, dates that exist, known pathways and zones", arguments: [
        ("phone", "+447700900123", true), ("phone", "07700900123", false), ("phone", "+0447700900", false), ("phone", "+44 7700", false),
        ("start_date", "2028-02-29", true), ("start_date", "2026-02-29", false), ("start_date", "2026-4-1", false),
        ("timezone", "Europe/London", true), ("timezone", "GMT+1", false), ("pathway", "crisis", false),
        ("email", "a@b.org", true), ("email", "a@b", false),
    ])
    func field(column: String, value: String, valid: Bool) {
        var values = ["id": "p1", "given_name": "Ana", "phone": "+447700900123", "pathway": "community", "start_date": "2026-11-02", "team": "north"]
        values[column] = value
        let result = validator.validate(values, row: 1, line: 2)
        switch result {
        case .success: #expect(valid, "\(column) `\(value)` should be refused")
        case .failure(let list):
            #expect(!valid, "\(column) `\(value)` refused: \(list.problems)")
            #expect(list.problems.allSatisfy { $0.column == column })
        }
    }
}
