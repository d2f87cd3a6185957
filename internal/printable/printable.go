// Package printable makes text from outside (a git remote's ERR line, an
// HTTP error body, a status message) safe to show on a terminal: control
// characters would otherwise clear the screen, recolour it or set the
// window title of whoever runs `regsync status` or `regsync watch`.
package printable

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every rune that does not print as itself written
// as a Go escape: C0 and C1 controls ("\x1b", "\u009b"), DEL, line breaks
// and tabs, format characters such as bidirectional overrides
// ("\u202e"), spaces other than ' ', and bytes that are not UTF-8
// ("\xff"). Ordinary Unicode (letters, marks, symbols, emoji) stays
// readable. A string that needs no change is returned as is.
func String(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e', '\n'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func clean(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
