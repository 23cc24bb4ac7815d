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

    /// var/pyenv's interpreter, where scripts/test installs pyotp and fhir.resources.
    public static var pyenvPython: String { "\(Fixtures.repositoryRoot)/var/pyenv/bin/python" }

    /// Runs the driver with `arguments` and returns its JSON report. Waits off the cooperative threads, which the
    /// in-process server under test needs to answer the browser.
    /// `python` is the interpreter: the system's by default (the driver needs only the standard library), or
    /// `pyenvPython` for steps that use PyPI packages.
    public static func run(_ arguments: [String], python: String = "/usr/bin/python3") async throws -> [String: Any] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw Failure(description: "chromium is not installed: scripts/test installs Debian's chromium package")
        }
        let outcome = try await Subprocess.runAsync(python, ["\(Fixtures.repositoryRoot)/Tests/Fixtures/browser.py"] + arguments)
        guard outcome.status == 0, let report = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any] else {
            throw Failure(description: "browser.py failed (\(outcome.status)): \(outcome.stderr)")
        }
        return report
    }
}
