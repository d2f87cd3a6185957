package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/regsync/regsync/events"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Error prefixes of the ToolHive Registry Server's validation pipeline.
const (
	schemaErrPrefix          = "registry schema validation failed"
	extensionsErrPrefix      = "publisher-provided extensions validation failed"
	extensionSchemaErrPrefix = "publisher-provided extensions schema validation failed"
)

var printer = message.NewPrinter(language.English)

// Bounds of a validation message, which is recorded in the status record
// and published in a sync.failed event: invalid data of any size (a 2 MB
// value, 20,000 servers that miss a field) gives a message of a few KiB,
// well within events.MaxMessageLen.
const (
	// maxListedErrors is how many failed checks a message lists; the rest
	// are counted.
	maxListedErrors = 20
	// maxCheckLen bounds the bytes of one failed check as listed, with the
	// field and the values the check quotes.
	maxCheckLen = 300
)

// Validate checks raw registry bytes against the upstream registry schema
// (with the MCP server, skill and plugin schemas it references), then checks
// the publisher-provided extensions of every server against their schema.
// It accepts and rejects exactly what toolhive-core's
// ValidateUpstreamRegistryBytes does and words its errors the same way, but
// uses schemas compiled once, so it is much faster.
//
// Input that is not JSON fails with a message that says so and where.
func Validate(raw []byte) error {
	s, err := compiledSchemas()
	if err != nil {
		return fmt.Errorf("%s: %w", schemaErrPrefix, err)
	}
	doc, floatOverflow, err := decodeJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", schemaErrPrefix, err)
	}
	if err := s.registry.Validate(doc); err != nil {
		return schemaError(schemaErrPrefix, err)
	}
	// The reference decodes the document again into float64 numbers before
	// checking extensions, which fails on numbers beyond float64's range.
	if floatOverflow {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("failed to parse registry JSON: %w", err)
		}
	}
	return validateExtensions(s.publisher, doc)
}

// validateExtensions checks
// _meta["io.modelcontextprotocol.registry/publisher-provided"] of every
// server that has one.
func validateExtensions(publisher *jsonschema.Schema, doc any) error {
	root, _ := doc.(map[string]any)
	data, ok := root["data"].(map[string]any)
	if !ok {
		return nil
	}
	servers, ok := data["servers"].([]any)
	if !ok {
		return nil
	}
	var msgs []string
	for i, entry := range servers {
		if server, ok := entry.(map[string]any); ok {
			if msg := validateServerExtensions(publisher, server, i); msg != "" {
				msgs = append(msgs, msg)
			}
		}
	}
	return numberedError(extensionsErrPrefix, msgs)
}

// validateServerExtensions checks the publisher-provided extensions of
// the server at index i, if it has any, and returns the message for what
// fails, or "".
func validateServerExtensions(publisher *jsonschema.Schema, server map[string]any, i int) string {
	meta, ok := server["_meta"].(map[string]any)
	if !ok {
		return ""
	}
	extensions, ok := meta[thvregistry.PublisherProvidedKey].(map[string]any)
	if !ok {
		return ""
	}
	roundToFloat64(extensions)
	if err := publisher.Validate(extensions); err != nil {
		return events.Clip(fmt.Sprintf("server %s: %v", serverLabel(server, i), schemaError(extensionSchemaErrPrefix, err)), maxCheckLen)
	}
	return ""
}

// roundToFloat64 replaces, in place, every json.Number in v by its float64
// value. The reference checks extensions after a round trip through
// float64, so a number such as 1.00000000000000001 is an integer there.
// Numbers beyond float64's range were rejected before.
func roundToFloat64(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if n, ok := e.(json.Number); ok {
				v[k] = numberToFloat64(n)
				continue
			}
			roundToFloat64(e)
		}
	case []any:
		for i, e := range v {
			if n, ok := e.(json.Number); ok {
				v[i] = numberToFloat64(n)
				continue
			}
			roundToFloat64(e)
		}
	}
}

func numberToFloat64(n json.Number) float64 {
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

// serverLabel names a server in messages: its name, or its index when it
// has none.
func serverLabel(server map[string]any, index int) string {
	if name, ok := server["name"].(string); ok && name != "" {
		return name
	}
	return fmt.Sprintf("servers[%d]", index)
}

// schemaError turns a validation failure into one error listing every
// failed check.
func schemaError(prefix string, err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	msgs := leafMessages(ve, nil)
	slices.Sort(msgs) // the library's order varies from run to run
	return numberedError(prefix, msgs)
}

// leafMessages lists the innermost causes of a validation error, each as
// "field: message", with the field written as gojsonschema writes it
// ("(root)" or a dotted path such as "data.servers.0.name"), cut to
// maxCheckLen bytes: the message may quote a value of any size.
func leafMessages(ve *jsonschema.ValidationError, out []string) []string {
	if len(ve.Causes) == 0 {
		field := "(root)"
		if len(ve.InstanceLocation) > 0 {
			field = strings.Join(ve.InstanceLocation, ".")
		}
		return append(out, events.Clip(field+": "+ve.ErrorKind.LocalizedString(printer), maxCheckLen))
	}
	for _, cause := range ve.Causes {
		out = leafMessages(cause, out)
	}
	return out
}

// numberedError formats messages like toolhive-core: one message as
// "prefix: msg", several as "prefix with N errors:" and a numbered list of
// the first maxListedErrors, then "and M more".
func numberedError(prefix string, msgs []string) error {
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s: %s", prefix, msgs[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s with %d errors:", prefix, len(msgs))
	for i, msg := range msgs[:min(len(msgs), maxListedErrors)] {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, msg)
	}
	if rest := len(msgs) - maxListedErrors; rest > 0 {
		fmt.Fprintf(&b, "\n  and %d more", rest)
	}
	return errors.New(b.String())
}
