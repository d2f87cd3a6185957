package config

import (
	"fmt"
	"log/slog"
)

// redacted replaces a secret's value wherever it could be printed.
const redacted = "[REDACTED]"

// Secret is a credential written in the configuration file. It prints,
// logs and marshals as "[REDACTED]" (or "" when empty); Reveal returns the
// value itself, for the one place that needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret for fmt.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// LogValue redacts the secret for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret for encoding/json, YAML and other
// text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
