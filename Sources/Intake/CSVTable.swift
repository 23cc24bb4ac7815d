/// A CSV file (RFC 4180: quoted fields, doubled quotes, CRLF or LF, a UTF-8 byte-order mark) read into rows.
public struct CSVTable: Sendable, Equatable {
    /// The header fields, trimmed and lower-cased.
    public var header: [String]
    /// Data rows; `line` is the 1-based line where the row starts in the file.
    public var rows: [Row]

    public struct Row: Sendable, Equatable {
        public var line: Int
        public var fields: [String]
    }

    /// A structural problem: an unterminated quote, or a file with no header.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }

        public var description: String { "line \(line): \(message)" }
    }

    /// Parses `text`; blank lines are skipped.
    public static func parse(_ text: String) throws(ParseError) -> CSVTable {
        var records: [Row] = []
        var field: [UInt8] = []
        var fields: [String] = []
        var inQuotes = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var index = 0
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) {
                records.append(Row(line: recordLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
            } else {
                switch byte {
                case UInt8(ascii: ","):
                    endField()
                case UInt8(ascii: "\r"):
                    break
                case UInt8(ascii: "\n"):
                    endRecord()
                    line += 1
                    recordLine = line
                case UInt8(ascii: "\"") where field.isEmpty && !afterQuote:
                    inQuotes = true
                default:
                    field.append(byte)
                }
            }
            index += 1
        }
        if inQuotes {
            throw ParseError(line: recordLine, message: "a quoted field is never closed; add the closing \"")
        }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let first = records.first else {
            throw ParseError(line: 1, message: "the file is empty; the first line must be the header")
        }
        let header = first.fields.map { $0.trimmingSpaces().lowercased() }
        return CSVTable(header: header, rows: Array(records.dropFirst()))
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
