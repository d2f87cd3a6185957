package printable

import (
	"testing"
	"unicode"
)

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "fetch failed: 404 Not Found", "fetch failed: 404 Not Found"},
		{"unicode stays readable", "Überprüfung fehlgeschlagen: 名前 ✓ 🚀", "Überprüfung fehlgeschlagen: 名前 ✓ 🚀"},
		{"clear screen and colour", "\x1b[2J\x1b[31mpwned\x1b[0m", `\x1b[2J\x1b[31mpwned\x1b[0m`},
		{"window title", "\x1b]0;owned\x07", `\x1b]0;owned\a`},
		{"C1 control sequence introducer", "a\u009b31mb", `a\u009b31mb`},
		{"DEL and NUL", "a\x7fb\x00c", `a\x7fb\x00c`},
		{"line breaks and tabs", "remote: a\r\nb\tc", `remote: a\r\nb\tc`},
		{"bidirectional override", "evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"no-break space", "a\u00a0b", `a\u00a0b`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"literal replacement character", "a\uFFFDb", "a\uFFFDb"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Whatever the input, the output holds only printable runes, and text
// that needs no change is kept as it is.
func FuzzString(f *testing.F) {
	for _, s := range []string{"plain", "\x1b]0;t\x07", "a\u009bb", "\xff", "名前\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		for _, r := range got {
			if !unicode.IsPrint(r) {
				t.Fatalf("String(%q) = %q holds %U", s, got, r)
			}
		}
		if String(got) != got {
			t.Errorf("String(%q) = %q is changed again", s, got)
		}
	})
}
