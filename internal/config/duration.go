package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a length of time, written in the file as a Go duration such
// as "50ms", "30s", "5m" or "1h30m". Every duration of the configuration is
// greater than zero, so zero means "not set": an empty string reads as
// zero, and a value of zero or less is refused when it is read.
type Duration time.Duration

// durationWant is what a duration value must look like, for messages.
const durationWant = `must be a duration such as "30s" or "5m"`

// UnmarshalYAML reads a duration string. A refused value names its line
// and, through Parse, its key.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return valueError(n, "%s, got %s", durationWant, describeNode(n))
	}
	if n.Value == "" && n.ShortTag() == "!!str" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		return valueError(n, "%s, got %s", durationWant, describeNode(n))
	case v <= 0:
		return valueError(n, "must be greater than zero")
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as String does, which UnmarshalYAML
// reads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String is the duration as time.Duration writes it, e.g. "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }
