import Foundation

/// Python's arithmetic operators on template values (`+ - * / // % **` and unary signs).
enum JinjaOperators {
    static func unsupported(_ op: String, _ a: JinjaValue, _ b: JinjaValue) -> JinjaError {
        if op == "+", case .string = a {
            return JinjaError.type("can only concatenate str (not \"\(b.typeName)\") to str")
        }
        if op == "+", case .list = a {
            return JinjaError.type("can only concatenate list (not \"\(b.typeName)\") to list")
        }
        return JinjaError.type("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    static func negate(_ v: JinjaValue) throws -> JinjaValue {
        switch v {
        case .undefined(let u): throw u.error
        case .bool(let b): return .int(b ? -1 : 0)
        case .int(let i):
            let (r, o) = Int(0).subtractingReportingOverflow(i)
            return o ? .float(-Double(i)) : .int(r)
        case .float(let d): return .float(-d)
        default: throw JinjaError.type("bad operand type for unary -: '\(v.typeName)'")
        }
    }

    static func plus(_ v: JinjaValue) throws -> JinjaValue {
        switch v {
        case .undefined(let u): throw u.error
        case .bool(let b): return .int(b ? 1 : 0)
        case .int, .float: return v
        default: throw JinjaError.type("bad operand type for unary +: '\(v.typeName)'")
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if op == "%", case .string(let format) = a { return .string(try JinjaPyFormat.percent(format, b)) }
        if case .undefined(let u) = a { throw u.error }
        if case .undefined(let u) = b { throw u.error }
        switch op {
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            case (.tuple(let x), .tuple(let y)): return .tuple(x + y)
            default: return try arithmetic(op, a, b, { $0.addingReportingOverflow($1) }, +)
            }
        case "-": return try arithmetic(op, a, b, { $0.subtractingReportingOverflow($1) }, -)
        case "*":
            if let (seq, n) = repetition(a, b) {
                let unit = max(1, (try? a.pyLength()) ?? (try? b.pyLength()) ?? 1)
                let (total, overflow) = max(0, n).multipliedReportingOverflow(by: unit)
                if overflow { throw JinjaError(.runtime, "OverflowError: repeated sequence is too long") }
                try JinjaError.checkSize(total)
                return seq(max(0, n))
            }
            return try arithmetic(op, a, b, { $0.multipliedReportingOverflow(by: $1) }, *)
        case "/":
            guard let x = a.number, let y = b.number else { throw unsupported(op, a, b) }
            if y == 0 { throw JinjaError(.runtime, "division by zero") }
            return .float(x / y)
        case "//":
            if let x = a.integer, let y = b.integer {
                if y == 0 { throw JinjaError(.runtime, "integer division or modulo by zero") }
                if x == Int.min && y == -1 { return .float(-Double(x)) }
                return .int(floorDiv(x, y))
            }
            guard let x = a.number, let y = b.number else { throw unsupported(op, a, b) }
            if y == 0 { throw JinjaError(.runtime, "float floor division by zero") }
            return .float(floorDivFloat(x, y))
        case "%":
            if case .string(let format) = a { return .string(try JinjaPyFormat.percent(format, b)) }
            if let x = a.integer, let y = b.integer {
                if y == 0 { throw JinjaError(.runtime, "integer division or modulo by zero") }
                if y == -1 { return .int(0) }
                let m = x % y
                return .int(m != 0 && (m < 0) != (y < 0) ? m + y : m)
            }
            guard let x = a.number, let y = b.number else { throw unsupported(op, a, b) }
            if y == 0 { throw JinjaError(.runtime, "float modulo") }
            return .float(floatMod(x, y))
        case "**":
            if let x = a.integer, let y = b.integer {
                if y >= 0 {
                    var result = 1, base = x, e = y
                    while e > 0 {
                        if e & 1 == 1 {
                            let (r, o) = result.multipliedReportingOverflow(by: base)
                            if o { return .float(pow(Double(x), Double(y))) }
                            result = r
                        }
                        e >>= 1
                        if e > 0 {
                            let (bb, o) = base.multipliedReportingOverflow(by: base)
                            if o { return .float(pow(Double(x), Double(y))) }
                            base = bb
                        }
                    }
                    return .int(result)
                }
                if x == 0 { throw JinjaError(.runtime, "0.0 cannot be raised to a negative power") }
                return .float(pow(Double(x), Double(y)))
            }
            guard let x = a.number, let y = b.number else { throw unsupported("** or pow()", a, b) }
            if x == 0 && y < 0 { throw JinjaError(.runtime, "0.0 cannot be raised to a negative power") }
            let p = pow(x, y)
            // Python raises instead of returning inf (or nan for a negative base and fractional exponent).
            if p.isInfinite && x.isFinite && y.isFinite { throw JinjaError(.runtime, "(34, 'Numerical result out of range')") }
            if x < 0 && y != y.rounded() && x.isFinite && y.isFinite {
                throw JinjaError.type("negative number cannot be raised to a fractional power (complex result)")
            }
            return .float(p)
        default:
            throw JinjaError.type("unknown operator \(op)")
        }
    }

    /// `str * int` and `list * int` (either order).
    private static func repetition(_ a: JinjaValue, _ b: JinjaValue) -> ((Int) -> JinjaValue, Int)? {
        switch (a, b) {
        case (.string(let s), _) where b.integer != nil: return ({ .string(repeated(s, $0)) }, b.integer!)
        case (_, .string(let s)) where a.integer != nil: return ({ .string(repeated(s, $0)) }, a.integer!)
        case (.list(let x), _) where b.integer != nil: return ({ n in .list(Array((0..<n).map { _ in x }.joined())) }, b.integer!)
        case (_, .list(let x)) where a.integer != nil: return ({ n in .list(Array((0..<n).map { _ in x }.joined())) }, a.integer!)
        case (.tuple(let x), _) where b.integer != nil: return ({ n in .tuple(Array((0..<n).map { _ in x }.joined())) }, b.integer!)
        case (_, .tuple(let x)) where a.integer != nil: return ({ n in .tuple(Array((0..<n).map { _ in x }.joined())) }, a.integer!)
        default: return nil
        }
    }

    /// The bytes `a * b` would build when it repeats a string or list (0 otherwise), so that a
    /// render can pay for it before building it.
    static func repetitionSize(_ a: JinjaValue, _ b: JinjaValue) -> Int {
        guard let (_, n) = repetition(a, b), n > 0 else { return 0 }
        let sequence = a.integer == nil ? a : b
        let (total, overflow) = JinjaRenderBudget.size(of: sequence).multipliedReportingOverflow(by: n)
        return overflow ? Int.max : total
    }

    /// `s * n` by doubling its bytes: `String(repeating:count:)` appends `n` times, which took
    /// seconds for the 60-million-character strings a template may ask for.
    static func repeated(_ s: String, _ n: Int) -> String {
        let unit = Array(s.utf8)
        guard n > 0, !unit.isEmpty else { return "" }
        var bytes = unit
        bytes.reserveCapacity(unit.count * n)
        while bytes.count * 2 <= unit.count * n { bytes.append(contentsOf: bytes) }
        bytes.append(contentsOf: bytes[0..<(unit.count * n - bytes.count)])
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func arithmetic(
        _ op: String, _ a: JinjaValue, _ b: JinjaValue,
        _ intOp: (Int, Int) -> (partialValue: Int, overflow: Bool),
        _ floatOp: (Double, Double) -> Double
    ) throws -> JinjaValue {
        if let x = a.integer, let y = b.integer {
            let (r, o) = intOp(x, y)
            // Python integers do not overflow; a float is the closest we get without bignums.
            return o ? .float(floatOp(Double(x), Double(y))) : .int(r)
        }
        guard let x = a.number, let y = b.number else { throw unsupported(op, a, b) }
        return .float(floatOp(x, y))
    }

    static func floorDiv(_ x: Int, _ y: Int) -> Int {
        let q = x / y
        return (x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q
    }

    /// CPython's float_floor_div.
    static func floorDivFloat(_ x: Double, _ y: Double) -> Double {
        let mod = floatMod(x, y)
        let div = (x - mod) / y
        if div == 0 { return (0.0).withSign(x / y) }
        var f = div.rounded(.down)
        if div - f > 0.5 { f += 1 }
        return f
    }

    /// CPython's float_rem: the result takes the sign of the divisor.
    static func floatMod(_ x: Double, _ y: Double) -> Double {
        var m = fmod(x, y)
        if m != 0 {
            if (y < 0) != (m < 0) { m += y }
        } else {
            m = (0.0).withSign(y)
        }
        return m
    }
}

extension Double {
    fileprivate func withSign(_ other: Double) -> Double { other.sign == .minus ? -Swift.abs(self) : Swift.abs(self) }
}
