import Instruments
import ROMTesting

/// The shipped catalog, loaded once for all tests.
let shipped: InstrumentCatalog = {
    do { return try Fixtures.catalog() } catch { fatalError("shipped config does not load: \(error)") }
}()

func scorer(_ id: String) -> Scorer {
    do { return try shipped.scorer(id) } catch { fatalError("\(error)") }
}

/// Answers for `count` items on a 0…`maxValue` scale that sum to `total`, filled from the first item.
func answers(summingTo total: Int, count: Int, maxValue: Int, minValue: Int = 0) -> [Int?] {
    var remaining = total - minValue * count
    return (0..<count).map { _ in
        let extra = min(remaining, maxValue - minValue)
        remaining -= extra
        return minValue + extra
    }
}
