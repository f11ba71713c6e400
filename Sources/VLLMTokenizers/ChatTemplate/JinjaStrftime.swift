import Foundation

/// Python's `datetime.strftime` for the directives templates use (C locale, as in CPython).
enum JinjaStrftime {
    private static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ]

    static func format(_ format: String, date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let year = c.year!, month = c.month!, day = c.day!
        let hour = c.hour!, minute = c.minute!, second = c.second!
        let weekday = c.weekday! - 1  // 0 = Sunday
        let yday = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let micro = (c.nanosecond ?? 0) / 1000

        func pad(_ v: Int, _ width: Int, _ padding: Character?) -> String {
            let s = String(v)
            guard let padding, s.count < width else { return s }
            return String(repeating: padding, count: width - s.count) + s
        }

        var out = ""
        let it = Array(format)
        var i = 0
        while i < it.count {
            let ch = it[i]
            if ch != "%" || i + 1 >= it.count { out.append(ch); i += 1; continue }
            i += 1
            // glibc's `%-d` drops the padding.
            var padding: Character? = "0"
            if it[i] == "-", i + 1 < it.count { padding = nil; i += 1 }
            let d = it[i]
            i += 1
            switch d {
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "d": out += pad(day, 2, padding)
            case "e": out += pad(day, 2, padding == nil ? nil : " ")
            case "m": out += pad(month, 2, padding)
            case "y": out += pad(year % 100, 2, padding)
            case "Y": out += String(year)
            case "H": out += pad(hour, 2, padding)
            case "I": out += pad(hour % 12 == 0 ? 12 : hour % 12, 2, padding)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "M": out += pad(minute, 2, padding)
            case "S": out += pad(second, 2, padding)
            case "f": out += pad(micro, 6, "0")
            case "j": out += pad(yday, 3, padding)
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "Z": out += ""
            case "z": out += ""
            case "D": out += pad(month, 2, "0") + "/" + pad(day, 2, "0") + "/" + pad(year % 100, 2, "0")
            case "F": out += String(year) + "-" + pad(month, 2, "0") + "-" + pad(day, 2, "0")
            case "T": out += pad(hour, 2, "0") + ":" + pad(minute, 2, "0") + ":" + pad(second, 2, "0")
            case "R": out += pad(hour, 2, "0") + ":" + pad(minute, 2, "0")
            case "c":
                out +=
                    String(days[weekday].prefix(3)) + " " + String(months[month - 1].prefix(3)) + " " + pad(day, 2, " ")
                    + " " + pad(hour, 2, "0") + ":" + pad(minute, 2, "0") + ":" + pad(second, 2, "0") + " " + String(year)
            case "x": out += pad(month, 2, "0") + "/" + pad(day, 2, "0") + "/" + pad(year % 100, 2, "0")
            case "X": out += pad(hour, 2, "0") + ":" + pad(minute, 2, "0") + ":" + pad(second, 2, "0")
            case "n": out += "\n"
            case "t": out += "\t"
            case "%": out += "%"
            default:
                out.append("%")
                out.append(d)
            }
        }
        return out
    }
}
