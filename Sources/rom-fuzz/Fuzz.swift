import Foundation
import Instruments
import Intake

/// Fuzz targets for every parser that reads what people and providers send. Built two ways:
/// - with `-sanitize=fuzzer,address -DFUZZING` (scripts/fuzz) libFuzzer drives `LLVMFuzzerTestOneInput`, target chosen
///   by `ROM_FUZZ_TARGET`;
/// - as a plain executable it replays files: `rom-fuzz TARGET FILE…` (scripts/test runs the seed corpus this way too).
enum FuzzTargets {
    static let names = ["sms", "email", "multipart", "csv", "answers"]

    /// Runs one input through one parser. Crashes, traps and sanitizer reports are the failures; errors thrown by
    /// the parser for bad input are the expected, clear outcome. Checks invariants the parsers promise.
    static func run(_ target: String, _ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch target {
        case "sms":
            if case .answers(_, let values, _) = SMSReply.parse(text) {
                precondition(!values.isEmpty && values.allSatisfy { $0 >= 0 }, "answers are non-negative and present")
            }
        case "email":
            let stripped = EmailReply.stripQuoted(text)
            precondition(stripped.utf8.count <= text.utf8.count + 1, "stripping never adds text")
            _ = SMSReply.parse(EmailReply.answerText(text))
            if let token = EmailReply.replyToken(in: text) {
                precondition(token.count >= 16 && token.count <= 128, "tokens keep their bounds")
            }
        case "multipart":
            _ = MultipartForm.boundary(fromContentType: text)
            _ = MultipartForm.parse(bytes, boundary: "XyZ")
        case "csv":
            if let table = try? CSVTable.parse(text) {
                precondition(table.rows.allSatisfy { $0.line >= 1 }, "rows carry their line")
            }
        case "answers":
            // Out-of-range values (-1, 99) are the scorer's to refuse, naming the item; here every field is one answer.
            if let values = try? AnswerParsing.parseList(text), !values.isEmpty {
                precondition(values.count == text.filter { $0 == "," }.count + 1, "one answer per comma-separated field")
            }
        default:
            fatalError("unknown fuzz target \(target); one of \(names.joined(separator: ", "))")
        }
    }
}

#if FUZZING
let fuzzTarget = ProcessInfo.processInfo.environment["ROM_FUZZ_TARGET"] ?? "sms"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTargets.run(fuzzTarget, size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// SwiftPM names an executable's entry point `rom_fuzz_main`; hand control to libFuzzer's driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("rom_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
#else
@main
struct Replay {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            FileHandle.standardError.write(Data("usage: rom-fuzz \(FuzzTargets.names.joined(separator: "|")) FILE_OR_DIR…\n".utf8))
            exit(64)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let files = isDirectory.boolValue ? (try FileManager.default.contentsOfDirectory(atPath: path)).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                FuzzTargets.run(target, Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("\(target): \(count) inputs replayed, no crash")
    }
}
#endif
