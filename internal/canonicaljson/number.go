package canonicaljson

import (
	"math"
	"strconv"
)

// parseNumber reads an RFC 8259 number and writes its canonical form.
func (p *parser) parseNumber() error {
	data := p.data
	start := p.pos
	i := start
	neg := false
	if data[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return p.fail(ErrSyntax, "invalid number")
	}
	intEnd := i
	isInt := true
	if i < len(data) && data[i] == '.' {
		isInt = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return p.fail(ErrSyntax, "invalid number fraction")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return p.fail(ErrSyntax, "invalid number exponent")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}

	if !isInt {
		if p.strict {
			return p.fail(ErrFloat, string(data[start:i]))
		}
		f, err := strconv.ParseFloat(string(data[start:i]), 64)
		if err != nil || math.IsInf(f, 0) {
			// Python parses such a literal as inf, which Synapse's
			// canonical encoder (allow_nan=False) refuses.
			return p.fail(ErrFloat, "number overflows a double")
		}
		p.pos = i
		if p.emit {
			p.out = appendPythonFloat(p.out, f)
		}
		return nil
	}

	digits := data[intStart:intEnd]
	isZero := len(digits) == 1 && digits[0] == '0'
	if p.strict {
		if !inSafeRange(digits) {
			return p.fail(ErrIntegerRange, string(data[start:i]))
		}
	} else if len(digits) > pythonMaxIntDigits {
		return p.fail(ErrIntegerRange, "integer literal too long")
	}
	if p.canon && neg && isZero {
		return p.fail(ErrSyntax, "-0 is not canonical")
	}
	p.pos = i
	if p.emit {
		// -0 is an integer zero; the spec forbids "-0" in the output.
		if neg && !isZero {
			p.out = append(p.out, '-')
		}
		p.out = append(p.out, digits...)
	}
	return nil
}

// inSafeRange reports whether the unsigned decimal digits (no leading zeros)
// are at most 2^53-1.
func inSafeRange(digits []byte) bool {
	if len(digits) > 16 { // 2^53-1 = 9007199254740991 has 16 digits
		return false
	}
	var n uint64
	for _, c := range digits {
		n = n*10 + uint64(c-'0')
	}
	return n <= MaxSafeInteger
}

// appendPythonFloat formats f as Python's repr(float) does, which is what
// Synapse's canonical JSON encoder emits for floats: the shortest digits that
// round-trip, in positional notation with at least one fractional digit when
// the decimal exponent is in [-4, 16), otherwise d.ddde±XX with a signed,
// at-least-two-digit exponent.
func appendPythonFloat(dst []byte, f float64) []byte {
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	var dbuf [24]byte
	digits := dbuf[:0]
	var exp int
	for j, c := range e {
		if c == 'e' {
			x, _ := strconv.Atoi(string(e[j+1:]))
			exp = x
			break
		}
		if c != '.' {
			digits = append(digits, c)
		}
	}
	decpt := exp + 1 // digits are d1.d2d3… × 10^exp
	if decpt <= -4 || decpt > 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		x := decpt - 1
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		if x < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(x), 10)
	}
	switch {
	case decpt <= 0:
		dst = append(dst, '0', '.')
		for k := 0; k < -decpt; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	case decpt >= len(digits):
		dst = append(dst, digits...)
		for k := len(digits); k < decpt; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, '.', '0')
	default:
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		dst = append(dst, digits[decpt:]...)
	}
	return dst
}
