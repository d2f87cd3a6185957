package registry

import (
	"encoding/json"
	"errors"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The ToolHive Registry Server validates with gojsonschema v1.2.0, which
// asserts "format" with checkers of its own that differ from the RFCs in
// places: a date-time may also be a bare date or time, a uri is anything
// net/url parses with a scheme, a hostname is a regular expression. These
// checkers reproduce them, so data valid there is valid here and the other
// way round. Formats gojsonschema does not know pass, as they do there.

var (
	rxHostname    = regexp.MustCompile(`^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9]))*$`)
	rxURITemplate = regexp.MustCompile(`^([^{]*({[^}]*})?)*$`)
	rxUUID        = regexp.MustCompile(`^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$`)
	rxJSONPointer = regexp.MustCompile(`^(?:/(?:[^~/]|~0|~1)*)*$`)
	rxRelJSONPtr  = regexp.MustCompile(`^(?:0|[1-9][0-9]*)(?:#|(?:/(?:[^~/]|~0|~1)*)*)$`)
	// gojsonschema accepts a date-time that parses with any of these; the
	// common layout comes first.
	dateTimeLayout = []string{time.RFC3339, time.RFC3339Nano, "15:04:05", "15:04:05Z07:00", "2006-01-02"}
)

var errFormatNotString = errors.New("not a string")

// compatFormats lists gojsonschema's format checkers by name.
var compatFormats = map[string]func(string) bool{
	"date":                  func(s string) bool { return parsesAs(s, "2006-01-02") },
	"time":                  func(s string) bool { return parsesAs(s, "15:04:05Z07:00", "15:04:05") },
	"date-time":             func(s string) bool { return parsesAs(s, dateTimeLayout...) },
	"hostname":              func(s string) bool { return rxHostname.MatchString(s) && len(s) < 256 },
	"email":                 isEmail,
	"idn-email":             isEmail,
	"ipv4":                  func(s string) bool { return net.ParseIP(s) != nil && strings.Contains(s, ".") },
	"ipv6":                  func(s string) bool { return net.ParseIP(s) != nil && strings.Contains(s, ":") },
	"uri":                   isURI,
	"iri":                   isURI,
	"uri-reference":         isURIReference,
	"iri-reference":         isURIReference,
	"uri-template":          isURITemplate,
	"uuid":                  rxUUID.MatchString,
	"json-pointer":          rxJSONPointer.MatchString,
	"relative-json-pointer": rxRelJSONPtr.MatchString,
}

// registerCompatFormats replaces the compiler's format checkers with
// gojsonschema's. gojsonschema checks a format on strings and on numbers,
// where it always fails; other values pass.
func registerCompatFormats(c *jsonschema.Compiler) {
	for name, check := range compatFormats {
		c.RegisterFormat(&jsonschema.Format{
			Name: name,
			Validate: func(v any) error {
				switch v := v.(type) {
				case string:
					if !check(v) {
						return errors.New("does not match format")
					}
					return nil
				case json.Number, float64, float32, int, int64, int32, uint, uint64, uint32:
					return errFormatNotString
				default:
					return nil
				}
			},
		})
	}
}

func parsesAs(s string, layouts ...string) bool {
	for _, layout := range layouts {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

func isEmail(s string) bool {
	_, err := mail.ParseAddress(s)
	return err == nil
}

func isURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return false
	}
	return !strings.Contains(s, `\`)
}

func isURIReference(s string) bool {
	_, err := url.Parse(s)
	return err == nil && !strings.Contains(s, `\`)
}

func isURITemplate(s string) bool {
	u, err := url.Parse(s)
	if err != nil || strings.Contains(s, `\`) {
		return false
	}
	return rxURITemplate.MatchString(u.Path)
}
