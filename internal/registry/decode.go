package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// decodeJSON decodes one JSON document into the tree a json.Decoder with
// UseNumber builds (map[string]any, []any, string, json.Number, bool, nil),
// so numbers stay exact as the schema checks need. It also reports whether
// a number is beyond the range of float64. Errors say that the JSON is
// invalid and where.
//
// A registry is megabytes of JSON and decoding it is a large share of
// validation, so valid input, checked by json.Valid, is built by treeBuilder,
// which is faster than json.Decoder; invalid input goes through json.Decoder
// for its error and position.
func decodeJSON(raw []byte) (doc any, floatOverflow bool, err error) {
	if json.Valid(raw) {
		b := treeBuilder{data: raw}
		doc, err = b.value()
		return doc, b.floatOverflow, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			return nil, false, invalidJSON(raw, int(syntax.Offset)-1, err)
		case errors.Is(err, io.EOF):
			return nil, false, errors.New("invalid JSON: no JSON value in the input")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, false, invalidJSON(raw, len(raw), errors.New("unexpected end of JSON input"))
		default:
			return nil, false, invalidJSON(raw, int(dec.InputOffset()), err)
		}
	}
	for i := int(dec.InputOffset()); i < len(raw); i++ {
		if !isSpace(raw[i]) {
			return nil, false, invalidJSON(raw, i, fmt.Errorf("invalid character %q after top-level value", raw[i]))
		}
	}
	// json.Valid rejected the input, so the decoder should have too.
	return nil, false, invalidJSON(raw, 0, errors.New("rejected by the JSON syntax check"))
}

// invalidJSON reports a JSON error at a byte offset, with its line and
// column (both from 1, the column counted in bytes).
func invalidJSON(raw []byte, offset int, err error) error {
	offset = max(0, min(offset, len(raw)))
	line := 1 + bytes.Count(raw[:offset], []byte{'\n'})
	column := offset - bytes.LastIndexByte(raw[:offset], '\n')
	return fmt.Errorf("invalid JSON at line %d, column %d (byte offset %d): %w", line, column, offset, err)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// treeBuilder builds the value tree of JSON text that json.Valid accepted,
// so it checks no syntax. Strings with escapes or non-ASCII bytes are
// decoded by encoding/json itself, so they come out exactly as there
// (including the replacement of invalid UTF-8); duplicate keys keep the
// last value, as there.
type treeBuilder struct {
	data          []byte
	pos           int
	floatOverflow bool // a number is beyond the range of float64
}

func (b *treeBuilder) value() (any, error) {
	b.skipSpace()
	switch b.data[b.pos] {
	case '{':
		return b.object()
	case '[':
		return b.array()
	case '"':
		return b.string()
	case 't':
		b.pos += len("true")
		return true, nil
	case 'f':
		b.pos += len("false")
		return false, nil
	case 'n':
		b.pos += len("null")
		return nil, nil
	default:
		start := b.pos
		exponent := false
		for b.pos < len(b.data) && isNumberByte(b.data[b.pos]) {
			exponent = exponent || b.data[b.pos] == 'e' || b.data[b.pos] == 'E'
			b.pos++
		}
		n := json.Number(b.data[start:b.pos])
		// Only an exponent or more than 308 digits can go beyond float64.
		if exponent || len(n) > 308 {
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				b.floatOverflow = true
			}
		}
		return n, nil
	}
}

func (b *treeBuilder) object() (any, error) {
	b.pos++ // {
	obj := make(map[string]any)
	b.skipSpace()
	if b.data[b.pos] == '}' {
		b.pos++
		return obj, nil
	}
	for {
		b.skipSpace()
		key, err := b.string()
		if err != nil {
			return nil, err
		}
		b.skipSpace()
		b.pos++ // :
		val, err := b.value()
		if err != nil {
			return nil, err
		}
		obj[key] = val
		b.skipSpace()
		c := b.data[b.pos]
		b.pos++ // , or }
		if c == '}' {
			return obj, nil
		}
	}
}

func (b *treeBuilder) array() (any, error) {
	b.pos++ // [
	arr := make([]any, 0)
	b.skipSpace()
	if b.data[b.pos] == ']' {
		b.pos++
		return arr, nil
	}
	for {
		val, err := b.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, val)
		b.skipSpace()
		c := b.data[b.pos]
		b.pos++ // , or ]
		if c == ']' {
			return arr, nil
		}
	}
}

// string decodes the string starting at the opening quote.
func (b *treeBuilder) string() (string, error) {
	start := b.pos
	b.pos++ // opening quote
	plain := true
	for {
		c := b.data[b.pos]
		switch {
		case c == '"':
			b.pos++
			if plain {
				return string(b.data[start+1 : b.pos-1]), nil
			}
			var s string
			if err := json.Unmarshal(b.data[start:b.pos], &s); err != nil {
				return "", invalidJSON(b.data, start, err)
			}
			return s, nil
		case c == '\\':
			plain = false
			b.pos += 2
		default:
			if c >= 0x80 {
				plain = false
			}
			b.pos++
		}
	}
}

func (b *treeBuilder) skipSpace() {
	for b.pos < len(b.data) && isSpace(b.data[b.pos]) {
		b.pos++
	}
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
