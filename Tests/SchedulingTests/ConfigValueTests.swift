import Scheduling
import Testing

@Suite("Durations, send windows and dates")
struct ConfigValueTests {
    @Test("Durations are a whole number and one of s, m, h, d, w", arguments: [
        ("36h", 129_600 as Int64?), ("5d", 432_000), ("2w", 1_209_600), ("90m", 5_400), ("30s", 30),
        ("4 weks", nil), ("4weeks", nil), ("d", nil), ("-1d", nil), ("1.5d", nil), ("", nil),
    ])
    func durations(text: String, seconds: Int64?) {
        #expect(TimeSpan.parse(text)?.seconds == seconds)
    }

    @Test("A span prints with the largest exact unit")
    func spanDescription() {
        #expect(TimeSpan.days(28).description == "4w")
        #expect(TimeSpan.hours(36).description == "36h")
    }

    @Test("Send windows contain their start, not their end, and may cross midnight")
    func sendWindow() throws {
        let day = try #require(SendWindow.parse("09:00-19:00"))
        #expect(day.contains(minuteOfDay: 9 * 60))
        #expect(!day.contains(minuteOfDay: 19 * 60))
        #expect(!day.contains(minuteOfDay: 8 * 60 + 59))
        let night = try #require(SendWindow.parse("20:00-08:00"))
        #expect(night.contains(minuteOfDay: 23 * 60))
        #expect(night.contains(minuteOfDay: 7 * 60))
        #expect(!night.contains(minuteOfDay: 12 * 60))
        #expect(SendWindow.parse("9-19") == nil)
        #expect(SendWindow.parse("09:00-09:00") == nil)
        #expect(SendWindow.parse("25:00-26:00") == nil)
    }

    @Test("Dates check the calendar: 29 February only in leap years")
    func dates() {
        #expect(LocalDate.parse("2028-02-29") != nil)
        #expect(LocalDate.parse("2100-02-29") == nil)
        #expect(LocalDate.parse("2000-02-29") != nil)
        #expect(LocalDate.parse("2026-04-31") == nil)
        #expect(LocalDate(year: 2026, month: 1, day: 5).description == "2026-01-05")
    }
}
