import Foundation

/// Python's string formatting: `"%s" % args` (also the `format` filter) and `str.format`.
enum JinjaPyFormat {
    // MARK: printf-style

    static func percent(_ format: String, _ args: JinjaValue) throws -> String {
        let cs = Array(format.unicodeScalars)
        var positional: [JinjaValue]
        var mapping: JinjaDict?
        switch args {
        case .tuple(let a): positional = a
        case .dict(let d): positional = [args]; mapping = d
        // Python treats anything with __getitem__ (a list too) as a possible mapping, which turns
        // off the "not all arguments converted" check.
        case .list: positional = [args]; mapping = JinjaDict()
        case .undefined: positional = [args]; mapping = JinjaDict()
        default: positional = [args]
        }
        var next = 0
        var out = ""
        var i = 0
        func take() throws -> JinjaValue {
            guard next < positional.count else { throw JinjaError.type("not enough arguments for format string") }
            next += 1
            return positional[next - 1]
        }
        var usedMapping = false
        while i < cs.count {
            let c = cs[i]
            if c != "%" { out.unicodeScalars.append(c); i += 1; continue }
            i += 1
            guard i < cs.count else { throw JinjaError(.runtime, "incomplete format") }
            var key: String?
            if cs[i] == "(" {
                var depth = 1, k = i + 1
                while k < cs.count && depth > 0 {
                    if cs[k] == "(" { depth += 1 } else if cs[k] == ")" { depth -= 1 }
                    k += 1
                }
                key = JinjaPyString.string(cs[(i + 1)..<(k - 1)])
                i = k
            }
            var flags = ""
            while i < cs.count, "-+ #0".unicodeScalars.contains(cs[i]) { flags.unicodeScalars.append(cs[i]); i += 1 }
            var width = ""
            if i < cs.count, cs[i] == "*" { width = String(try take().integer ?? 0); i += 1 }
            while i < cs.count, ("0"..."9").contains(cs[i]) { width.unicodeScalars.append(cs[i]); i += 1 }
            var precision: Int?
            if i < cs.count, cs[i] == "." {
                i += 1
                var p = ""
                if i < cs.count, cs[i] == "*" { p = String(try take().integer ?? 0); i += 1 }
                while i < cs.count, ("0"..."9").contains(cs[i]) { p.unicodeScalars.append(cs[i]); i += 1 }
                precision = Int(p) ?? 0
            }
            while i < cs.count, "hlL".unicodeScalars.contains(cs[i]) { i += 1 }
            guard i < cs.count else { throw JinjaError(.runtime, "incomplete format") }
            let type = cs[i]
            i += 1
            if type == "%" { out += "%"; continue }
            let value: JinjaValue
            if let key {
                guard let mapping else { throw JinjaError.type("format requires a mapping") }
                usedMapping = true
                guard let v = mapping[key] else { throw JinjaError(.runtime, "KeyError: '\(key)'") }
                value = v
            } else {
                value = try take()
            }
            out += try formatOne(value, flags: flags, width: Int(width), precision: precision, type: type)
        }
        if !usedMapping && mapping == nil && next < positional.count {
            throw JinjaError.type("not all arguments converted during string formatting")
        }
        return out
    }

    private static func pad(_ s: String, width: Int?, left: Bool, zero: Bool = false) -> String {
        guard let width, width <= JinjaError.maxBuiltSize else { return s }
        let n = JinjaPyString.length(s)
        if n >= width { return s }
        if left { return s + String(repeating: " ", count: width - n) }
        if zero {
            var body = s
            var sign = ""
            if let f = body.first, f == "-" || f == "+" || f == " " { sign = String(f); body.removeFirst() }
            return sign + String(repeating: "0", count: width - n) + body
        }
        return String(repeating: " ", count: width - n) + s
    }

    private static func formatOne(_ v: JinjaValue, flags: String, width: Int?, precision: Int?, type: Unicode.Scalar) throws -> String {
        let left = flags.contains("-")
        let zero = flags.contains("0") && !left
        switch type {
        case "s", "r", "a":
            var s = type == "s" ? v.pyStr : v.pyRepr
            if let precision { s = JinjaPyString.string(Array(s.unicodeScalars).prefix(precision)) }
            return pad(s, width: width, left: left)
        case "d", "i", "u":
            guard let x = v.number else { throw JinjaError.type("%\(type) format: a real number is required, not \(v.typeName)") }
            var s: String
            if let n = v.integer {
                s = String(n)
            } else if x.isFinite, Swift.abs(x) < 9.2e18 {
                s = String(Int(x.rounded(.towardZero)))
            } else if x.isFinite {
                s = String(format: "%.0f", x.rounded(.towardZero))
            } else {
                throw JinjaError(.runtime, "cannot convert float \(x.isNaN ? "NaN" : "infinity") to integer")
            }
            let n = x
            if n >= 0 { if flags.contains("+") { s = "+" + s } else if flags.contains(" ") { s = " " + s } }
            return pad(s, width: width, left: left, zero: zero)
        case "x", "X", "o":
            guard let n = v.integer else { throw JinjaError.type("%\(type) format: an integer is required, not \(v.typeName)") }
            var s = String(abs(n), radix: type == "o" ? 8 : 16, uppercase: type == "X")
            if flags.contains("#") { s = (type == "o" ? "0o" : type == "x" ? "0x" : "0X") + s }
            if n < 0 { s = "-" + s } else if flags.contains("+") { s = "+" + s } else if flags.contains(" ") { s = " " + s }
            return pad(s, width: width, left: left, zero: zero)
        case "f", "F", "e", "E", "g", "G":
            guard let x = v.number else { throw JinjaError.type("must be real number, not \(v.typeName)") }
            var cflags = flags
            if x.isNaN || x.isInfinite { cflags = cflags.replacingOccurrences(of: "0", with: "") }
            try JinjaError.checkSize((width ?? 0) + (precision ?? 0))
            let spec = "%" + cflags + (width.map(String.init) ?? "") + "." + String(precision ?? 6) + String(type)
            return String(format: spec, x)
        case "c":
            if case .string(let s) = v, JinjaPyString.length(s) == 1 { return pad(s, width: width, left: left) }
            guard let n = v.integer, let u = Unicode.Scalar(UInt32(max(0, n))) else { throw JinjaError.type("%c requires int or char") }
            return pad(String(u), width: width, left: left)
        default:
            throw JinjaError(.runtime, "unsupported format character '\(type)'")
        }
    }

    // MARK: str.format

    static func format(_ format: String, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> String {
        let cs = Array(format.unicodeScalars)
        var out = ""
        var i = 0
        var auto = 0
        while i < cs.count {
            let c = cs[i]
            if c == "{" {
                if i + 1 < cs.count, cs[i + 1] == "{" { out += "{"; i += 2; continue }
                var k = i + 1, depth = 1
                while k < cs.count {
                    if cs[k] == "{" { depth += 1 } else if cs[k] == "}" { depth -= 1; if depth == 0 { break } }
                    k += 1
                }
                guard k < cs.count else { throw JinjaError(.runtime, "Single '{' encountered in format string") }
                let field = JinjaPyString.string(cs[(i + 1)..<k])
                out += try replacement(field, args, interp, &auto)
                i = k + 1
            } else if c == "}" {
                if i + 1 < cs.count, cs[i + 1] == "}" { out += "}"; i += 2; continue }
                throw JinjaError(.runtime, "Single '}' encountered in format string")
            } else {
                out.unicodeScalars.append(c)
                i += 1
            }
        }
        return out
    }

    private static func replacement(_ field: String, _ args: JinjaArguments, _ interp: JinjaInterpreter, _ auto: inout Int) throws -> String
    {
        var name = field
        var spec = ""
        var conversion: Character?
        if let colon = name.firstIndex(of: ":") {
            spec = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        if let bang = name.firstIndex(of: "!") {
            conversion = name[name.index(after: bang)...].first
            name = String(name[..<bang])
        }
        // The first part names an argument; `.attr` and `[key]` parts follow.
        var head = name
        var rest = ""
        if let cut = name.firstIndex(where: { $0 == "." || $0 == "[" }) {
            head = String(name[..<cut])
            rest = String(name[cut...])
        }
        var value: JinjaValue
        if head.isEmpty {
            guard auto < args.positional.count else {
                throw JinjaError(.runtime, "Replacement index \(auto) out of range for positional args tuple")
            }
            value = args.positional[auto]
            auto += 1
        } else if let n = Int(head) {
            guard n < args.positional.count else {
                throw JinjaError(.runtime, "Replacement index \(n) out of range for positional args tuple")
            }
            value = args.positional[n]
        } else {
            guard let v = args.keywords.first(where: { $0.0 == head })?.1 else { throw JinjaError(.runtime, "KeyError: '\(head)'") }
            value = v
        }
        var r = Substring(rest)
        while let c = r.first {
            if c == "." {
                r.removeFirst()
                let end = r.firstIndex(where: { $0 == "." || $0 == "[" }) ?? r.endIndex
                value = try interp.getattr(value, String(r[..<end]))
                r = r[end...]
            } else if c == "[" {
                r.removeFirst()
                guard let end = r.firstIndex(of: "]") else { throw JinjaError(.runtime, "Missing ']' in format string") }
                let key = String(r[..<end])
                value = try interp.getitem(value, Int(key).map { .int($0) } ?? .string(key))
                r = r[r.index(after: end)...]
            } else {
                break
            }
        }
        switch conversion {
        case "r", "a": value = .string(value.pyRepr)
        case "s": value = .string(value.pyStr)
        default: break
        }
        return try applySpec(value, spec)
    }

    /// Python's format-spec mini-language for str, int and float.
    static func applySpec(_ value: JinjaValue, _ spec: String) throws -> String {
        if spec.isEmpty { return value.pyStr }
        var s = Array(spec.unicodeScalars)
        var fill: Unicode.Scalar = " "
        var align: Unicode.Scalar?
        if s.count >= 2, "<>^=".unicodeScalars.contains(s[1]) {
            fill = s[0]; align = s[1]; s.removeFirst(2)
        } else if let f = s.first, "<>^=".unicodeScalars.contains(f) {
            align = f; s.removeFirst()
        }
        var sign: Unicode.Scalar = "-"
        if let f = s.first, "+- ".unicodeScalars.contains(f) { sign = f; s.removeFirst() }
        var alternate = false
        if s.first == "#" { alternate = true; s.removeFirst() }
        if s.first == "0" { if align == nil { fill = "0"; align = "=" }; s.removeFirst() }
        var width = 0
        while let f = s.first, ("0"..."9").contains(f) { width = width * 10 + Int(f.value - 48); s.removeFirst() }
        var grouping: Unicode.Scalar?
        if let f = s.first, f == "," || f == "_" { grouping = f; s.removeFirst() }
        var precision: Int?
        if s.first == "." {
            s.removeFirst()
            var p = 0
            while let f = s.first, ("0"..."9").contains(f) { p = p * 10 + Int(f.value - 48); s.removeFirst() }
            precision = p
        }
        let type: Unicode.Scalar? = s.first
        var body: String
        var negative = false
        switch value {
        case .string(let str):
            body = precision.map { JinjaPyString.string(Array(str.unicodeScalars).prefix($0)) } ?? str
            if align == nil { align = "<" }
        case .int, .bool, .float:
            let isInt = value.integer != nil && (type == nil || "dxXobcn".unicodeScalars.contains(type!))
            if isInt, let n = value.integer {
                negative = n < 0
                switch type {
                case "x": body = String(abs(n), radix: 16); if alternate { body = "0x" + body }
                case "X": body = String(abs(n), radix: 16, uppercase: true); if alternate { body = "0X" + body }
                case "o": body = String(abs(n), radix: 8); if alternate { body = "0o" + body }
                case "b": body = String(abs(n), radix: 2); if alternate { body = "0b" + body }
                case "c": body = Unicode.Scalar(UInt32(abs(n))).map { String($0) } ?? ""
                default:
                    if case .bool(let b) = value, type == nil { body = b ? "True" : "False" } else { body = String(abs(n)) }
                }
                if let grouping, type == nil || type == "d" { body = group(body, String(grouping)) }
            } else {
                guard let x = value.number else { throw JinjaError(.runtime, "bad format") }
                negative = x < 0 || (x == 0 && x.sign == .minus)
                let ax = Swift.abs(x)
                switch type {
                case "f", "F": body = String(format: "%.\(precision ?? 6)f", ax)
                case "e", "E": body = String(format: "%.\(precision ?? 6)e", ax)
                case "g", "G": body = String(format: "%.\(precision ?? 6)g", ax)
                case "%": body = String(format: "%.\(precision ?? 6)f", ax * 100) + "%"
                default:
                    body = precision.map { String(format: "%.\($0)g", ax) } ?? pyFloatRepr(ax)
                }
                if type == "E" || type == "G" || type == "F" { body = body.uppercased() }
                if ax.isNaN { negative = false }
                if let grouping {
                    let parts = body.split(separator: ".", maxSplits: 1)
                    body = group(String(parts[0]), String(grouping)) + (parts.count > 1 ? "." + parts[1] : "")
                }
            }
            if align == nil { align = ">" }
        default:
            body = value.pyStr
            if align == nil { align = "<" }
        }
        let signText = negative ? "-" : (sign == "+" ? "+" : sign == " " ? " " : "")
        let total = JinjaPyString.length(body) + signText.count
        try JinjaError.checkSize(width)
        let padding = max(0, width - total)
        let fillText = String(repeating: String(fill), count: padding)
        switch align {
        case "<": return signText + body + fillText
        case "^":
            let l = padding / 2
            return String(repeating: String(fill), count: l) + signText + body + String(repeating: String(fill), count: padding - l)
        case "=": return signText + fillText + body
        default: return fillText + signText + body
        }
    }

    private static func group(_ digits: String, _ sep: String) -> String {
        var out = ""
        for (n, c) in digits.reversed().enumerated() {
            if n > 0 && n % 3 == 0 { out.append(contentsOf: sep) }
            out.append(c)
        }
        return String(out.reversed())
    }
}
