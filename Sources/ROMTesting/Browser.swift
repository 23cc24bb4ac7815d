import Foundation

/// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol by Tests/Fixtures/browser.py.
public enum Browser {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Where screenshots are saved (ignored by git): `var/screenshots` in the repository.
    public static var screenshotFolder: String {
        let folder = "\(Fixtures.repositoryRoot)/var/screenshots"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Runs the driver with `arguments` and returns its JSON report.
    public static func run(_ arguments: [String]) throws -> [String: Any] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw Failure(description: "chromium is not installed: scripts/test installs Debian's chromium package")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["\(Fixtures.repositoryRoot)/Tests/Fixtures/browser.py"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problem = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let report = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "browser.py failed (\(process.terminationStatus)): \(String(decoding: problem, as: UTF8.self))")
        }
        return report
    }
}
