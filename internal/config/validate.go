package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/redact"
)

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Errs []error
}

// Error lists the problems one per line.
func (e *ValidationError) Error() string {
	switch len(e.Errs) {
	case 0:
		return "invalid configuration"
	case 1:
		return e.Errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error { return e.Errs }

const maxAPITimeout = 5 * time.Minute

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the configuration and reports every problem at once as a
// *ValidationError. The warnings name the sources regsync loads but does
// not sync and the filter patterns that cannot match. Validate judges the
// configuration alone: it neither changes it nor reads the files it names
// (see CheckFiles). Defaults are Default's and Parse's to fill in.
func (c *Config) Validate() (warnings []string, err error) {
	if c == nil {
		return nil, errors.New("config cannot be nil")
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Sources) == 0 {
		add("at least one source must be configured")
	}
	seen := make(map[string]bool)
	managed := 0
	for i, s := range c.Sources {
		errs = append(errs, validateSource(i, s, seen)...)
		switch s.Type() {
		case TypeManaged:
			managed++
		}
		if t := s.Type(); (t == TypeManaged || t == TypeKubernetes) && typeCount(s) == 1 {
			warnings = append(warnings, fmt.Sprintf("source %q (%s) is not synced by regsync", s.Name, t))
		}
		// A malformed glob loads, as in the reference, but excludes every
		// entry it is tested against: say so.
		for _, ferr := range s.Filter.Validate() {
			warnings = append(warnings, fmt.Sprintf("source %q: filter.%v: it matches nothing and excludes what it is tested against", s.Name, ferr))
		}
	}
	if managed > 1 {
		add("at most one managed source is allowed, found %d", managed)
	}
	rerrs, rwarnings := c.validateRegistries()
	errs = append(errs, rerrs...)
	warnings = append(warnings, rwarnings...)
	errs = append(errs, c.validateOwnSections()...)

	if len(errs) > 0 {
		return warnings, &ValidationError{Errs: errs}
	}
	return warnings, nil
}

// CheckFiles reports every file named by a source that cannot be read now
// (git credentials and known_hosts, bearer tokens) as a *ValidationError.
// Validate leaves the disk alone; validate and serve call CheckFiles after
// it, so a missing file stops them at once rather than at the first fetch.
// Relative paths are Validate's to refuse and are skipped here.
func (c *Config) CheckFiles() error {
	var errs []error
	for i, s := range c.Sources {
		for _, f := range s.files() {
			if f.path == "" || !filepath.IsAbs(f.path) {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, sourceError(prefix(i, s.Name), "%s is not accessible: %v", f.key, err))
			}
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Errs: errs}
	}
	return nil
}

// sourceFile is a file a source reads, with the key that names it.
type sourceFile struct{ key, path string }

// files lists the files the source reads on every fetch, in key order.
func (s Source) files() []sourceFile {
	switch {
	case s.Git != nil && s.Git.Auth != nil:
		a := s.Git.Auth
		return []sourceFile{
			{"git.auth.passwordFile", a.PasswordFile},
			{"git.auth.sshKeyFile", a.SSHKeyFile},
			{"git.auth.knownHostsFile", a.KnownHostsFile},
		}
	case s.API != nil:
		return []sourceFile{{"api.bearerTokenFile", s.API.BearerTokenFile}}
	case s.File != nil && s.File.URL != "":
		return []sourceFile{{"file.bearerTokenFile", s.File.BearerTokenFile}}
	}
	return nil
}

func typeCount(s Source) int {
	n := 0
	for _, set := range []bool{s.Git != nil, s.API != nil, s.File != nil, s.Managed != nil, s.Kubernetes != nil} {
		if set {
			n++
		}
	}
	return n
}

// sourceError is a problem of the source that p names (see prefix). p
// holds the source's name, which may hold a '%': it is never part of the
// format.
func sourceError(p, format string, args ...any) error {
	return fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...))
}

// prefix names the source at index i in problems: "source[i] (name)".
func prefix(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("source[%d]", i)
	}
	return fmt.Sprintf("source[%d] (%s)", i, name)
}

// validateSource applies the ToolHive Registry Server's rules, with its
// error strings, and a few stricter ones of regsync's. seen collects the
// names of the sources before it.
func validateSource(i int, s Source, seen map[string]bool) []error {
	var errs []error
	p := prefix(i, s.Name)
	add := func(format string, args ...any) {
		errs = append(errs, sourceError(p, format, args...))
	}

	switch {
	case s.Name == "":
		errs = append(errs, fmt.Errorf("source[%d]: name is required", i))
	case !events.ValidSourceName(s.Name):
		errs = append(errs, fmt.Errorf("source[%d]: name '%s' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)", i, s.Name))
	}
	if s.Name != "" {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("source[%d]: duplicate source name '%s'", i, s.Name))
		}
		seen[s.Name] = true
	}

	switch n := typeCount(s); {
	case n == 0:
		add("one of git, api, file, managed, or kubernetes configuration must be specified")
	case n > 1:
		add("only one of git, api, file, managed, or kubernetes configuration may be specified")
	case s.Synced():
		if s.SyncPolicy == nil || s.SyncPolicy.Interval == 0 {
			add("syncPolicy.interval is required")
		} else {
			errs = append(errs, checkPositive(p, "syncPolicy.interval", s.SyncPolicy.Interval)...)
		}
		switch {
		case s.Git != nil:
			errs = append(errs, validateGit(p, s.Git)...)
		case s.API != nil:
			errs = append(errs, validateAPI(p, s.API)...)
		case s.File != nil:
			errs = append(errs, validateFile(p, s.File)...)
		}
	}

	errs = append(errs, validateClaims(p, s.Claims)...)
	return errs
}

// validateRegistries applies the ToolHive Registry Server's rules to the
// registries, with its error strings, and regsync's: a registry name is a
// DNS label and names a source once. A registry may list a source that
// regsync does not sync (managed, kubernetes), as the reference's examples
// do; it contributes no entries, which the warnings say. A source still
// listed by a registry cannot be removed, so a reload that tries is
// refused here.
func (c *Config) validateRegistries() (errs []error, warnings []string) {
	sources := make(map[string]Source, len(c.Sources))
	for _, s := range c.Sources {
		if _, dup := sources[s.Name]; !dup {
			sources[s.Name] = s
		}
	}
	seen := make(map[string]bool)
	for i, r := range c.Registries {
		p := fmt.Sprintf("registries[%d]", i)
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is required", p))
		case !events.ValidSourceName(r.Name):
			errs = append(errs, fmt.Errorf("%s: name '%s' must be a DNS label (lowercase letters, digits and hyphens, starting and ending with a letter or digit, max 63 chars)", p, r.Name))
		case seen[r.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate registry name '%s'", p, r.Name))
		}
		seen[r.Name] = true
		if r.Name != "" {
			p = fmt.Sprintf("registries[%d] (%s)", i, r.Name)
		}
		if len(r.Sources) == 0 {
			errs = append(errs, fmt.Errorf("%s: at least one source is required", p))
		}
		listed := make(map[string]bool, len(r.Sources))
		for _, name := range r.Sources {
			s, ok := sources[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: references unknown source '%s'", p, name))
			case listed[name]:
				errs = append(errs, fmt.Errorf("%s: lists source '%s' twice", p, name))
			case !s.Synced() && typeCount(s) == 1:
				warnings = append(warnings, fmt.Sprintf("registry %q: source %q (%s) is not synced by regsync and adds no entries to it", r.Name, name, s.Type()))
			}
			listed[name] = true
		}
		errs = append(errs, validateClaims(p, r.Claims)...)
	}
	return errs, warnings
}

func validateGit(p string, g *Git) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, sourceError(p, format, args...))
	}
	protocol := ""
	if ep, err := CheckGitRepository(g.Repository); err != nil {
		add("%v", err)
	} else {
		protocol = ep.Protocol
	}
	if g.Path != "" {
		if err := CheckGitPath(g.Path); err != nil {
			add("git.path: %v", err)
		}
	}
	if err := CheckGitRefs(g.Branch, g.Tag, g.Commit); err != nil {
		add("%v", err)
	}
	if g.Commit != "" {
		if err := CheckGitCommit(g.Commit); err != nil {
			add("%v", err)
		}
	}
	if a := g.Auth; a != nil && (a.Username != "" || a.PasswordFile != "") {
		switch {
		case a.Username == "" || a.PasswordFile == "":
			add("git.auth.username and git.auth.passwordFile must both be specified")
		case !filepath.IsAbs(a.PasswordFile):
			add("git.auth.passwordFile must be an absolute path")
		}
	}
	if a := g.Auth; a != nil {
		for _, f := range []struct{ key, path string }{
			{"git.auth.sshKeyFile", a.SSHKeyFile},
			{"git.auth.knownHostsFile", a.KnownHostsFile},
		} {
			switch {
			case f.path == "":
			case protocol != "" && protocol != "ssh":
				add("%s needs an ssh repository URL (ssh://host/path or user@host:path), got %s", f.key, protocol)
			case !filepath.IsAbs(f.path):
				add("%s must be an absolute path", f.key)
			}
		}
		if a.SSHKeyFile != "" && a.PasswordFile != "" {
			add("git.auth.sshKeyFile and git.auth.passwordFile are mutually exclusive")
		}
	}
	switch {
	case g.WebhookProvider != "" && !slices.Contains(WebhookProviders, g.WebhookProvider):
		add("git.webhookProvider must be one of %s, got %q", strings.Join(WebhookProviders, ", "), g.WebhookProvider)
	case g.WebhookProvider != "" && g.WebhookSecretFile == "":
		add("git.webhookProvider names the receiver of git.webhookSecretFile, which is not set")
	case g.WebhookSecretFile != "" && g.WebhookProviderName() == "" && protocol != "":
		add("git.webhookSecretFile needs git.webhookProvider (one of %s): the repository's host is not a forge regsync knows", strings.Join(WebhookProviders, ", "))
	}
	errs = append(errs, checkPositive(p, "git.pollInterval", g.PollInterval)...)
	return errs
}

func validateAPI(p string, a *API) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, sourceError(p, format, args...))
	}
	if a.Endpoint == "" {
		add("api.endpoint is required")
	} else if msg := checkHTTPURL("api.endpoint", a.Endpoint); msg != "" {
		add("%s", msg)
	}
	errs = append(errs, checkPositive(p, "api.timeout", a.Timeout)...)
	if time.Duration(a.Timeout) > maxAPITimeout {
		add("api.timeout must not exceed %s", maxAPITimeout)
	}
	errs = append(errs, checkPositive(p, "api.pollInterval", a.PollInterval)...)
	errs = append(errs, checkHTTPSecurity(p, "api", a.Endpoint, a.BearerTokenFile, a.InsecureSkipVerify)...)
	return errs
}

func validateFile(p string, f *File) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, sourceError(p, format, args...))
	}
	switch {
	case f.Path == "" && f.URL == "":
		add("file.path or file.url is required")
	case f.Path != "" && f.URL != "":
		add("file.path and file.url are mutually exclusive")
	case f.URL != "":
		if msg := checkHTTPURL("file.url", f.URL); msg != "" {
			add("%s", msg)
		}
		errs = append(errs, checkPositive(p, "file.timeout", f.Timeout)...)
		errs = append(errs, checkPositive(p, "file.pollInterval", f.PollInterval)...)
		errs = append(errs, checkHTTPSecurity(p, "file", f.URL, f.BearerTokenFile, f.InsecureSkipVerify)...)
	default:
		if f.PollInterval != 0 {
			add("file.pollInterval is only applicable when file.url is specified")
		}
		if f.BearerTokenFile != "" {
			add("file.bearerTokenFile is only applicable when file.url is specified")
		}
		if f.InsecureSkipVerify {
			add("file.insecureSkipVerify is only applicable when file.url is specified")
		}
	}
	return errs
}

// checkHTTPSecurity checks an HTTP source's bearer token file and TLS
// setting; kind is "api" or "file".
func checkHTTPSecurity(p, kind, rawURL, tokenFile string, insecure bool) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, sourceError(p, format, args...))
	}
	if tokenFile != "" && !filepath.IsAbs(tokenFile) {
		add("%s.bearerTokenFile must be an absolute path", kind)
	}
	if insecure {
		if u, err := url.Parse(rawURL); err == nil && u.Scheme != "https" {
			key := kind + ".endpoint"
			if kind == "file" {
				key = "file.url"
			}
			add("%s.insecureSkipVerify needs an https %s", kind, key)
		}
	}
	return errs
}

// checkHTTPURL applies the ToolHive Registry Server's file.url rules to a
// URL and returns the problem without its source prefix, or "".
func checkHTTPURL(key, raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return key + " is " + redact.NotAURL
	case !u.IsAbs() || u.Host == "":
		return key + " must be an absolute URL with host"
	case u.Scheme != "http" && u.Scheme != "https":
		return key + " must use http or https scheme"
	}
	return ""
}

// checkPositive refuses a duration below zero, which only a
// configuration built in Go can hold: Duration refuses one in a file. Zero
// means the key is not set.
func checkPositive(p, key string, d Duration) []error {
	if d < 0 {
		return []error{sourceError(p, "%s must be greater than zero", key)}
	}
	return nil
}

// validateClaims checks that every claim is a string or a list of strings,
// in key order.
func validateClaims(p string, claims map[string]any) []error {
	var errs []error
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := claims[k].(type) {
		case string:
		case []any:
			for j, item := range v {
				if _, ok := item.(string); !ok {
					errs = append(errs, fmt.Errorf("%s: claim %q: array element [%d] must be a string, got %s", p, k, j, yamlKind(item)))
				}
			}
		case []string:
		default:
			errs = append(errs, fmt.Errorf("%s: claim %q: value must be a string or array of strings, got %s", p, k, yamlKind(v)))
		}
	}
	return errs
}

// validateOwnSections checks regsync's own sections.
func (c *Config) validateOwnSections() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if strings.TrimSpace(c.DataDir) == "" {
		add("dataDir must not be empty")
	}

	n := c.NATS
	if strings.TrimSpace(n.URL) != "" {
		for i, u := range n.URLs() {
			if msg := checkNATSURL(i+1, u); msg != "" {
				add("nats.url: %s", msg)
			}
		}
	}
	errs = append(errs, natsAuthConflicts(n)...)
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		add("nats.tls.certFile and nats.tls.keyFile must both be set")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		add("nats.replicas must be between 1 and 5, got %d", n.Replicas)
	}
	if n.Results.MaxBytes <= 0 {
		add("nats.results.maxBytes must be greater than zero, got %d", n.Results.MaxBytes)
	}
	if n.Results.MaxMsgsPerSubject <= 0 {
		add("nats.results.maxMsgsPerSubject must be greater than zero, got %d", n.Results.MaxMsgsPerSubject)
	}
	if m := c.Events.ContentMode; m != "structured" && m != "binary" {
		add("events.contentMode %q: want structured or binary", m)
	}
	if n.Embedded.Listen != "" {
		if msg := checkHostPort(n.Embedded.Listen); msg != "" {
			add("nats.embedded.listen %s", msg)
		}
	}
	if t := n.Embedded.TLS; t != (TLS{}) {
		switch {
		case t.CertFile == "" || t.KeyFile == "":
			add("nats.embedded.tls.certFile and nats.embedded.tls.keyFile must both be set")
		case n.Embedded.Listen == "":
			add("nats.embedded.tls needs nats.embedded.listen: without a TCP listener there is nothing to secure")
		}
	}

	if c.HTTP.Addr == "" {
		add("http.addr is required")
	} else if msg := checkHostPort(c.HTTP.Addr); msg != "" {
		add("http.addr %s", msg)
	}

	switch a := c.API.Addr; {
	case a == "":
	case checkHostPort(a) != "":
		add("api.addr %s", checkHostPort(a))
	case a == c.HTTP.Addr && !strings.HasSuffix(a, ":0"):
		// Port 0 is a free port chosen at start: two such listeners differ.
		add("api.addr %q is http.addr: leave api.addr empty to serve the API on http.addr", a)
	}

	for _, d := range []struct {
		key   string
		value Duration
	}{
		{"nats.results.maxAge", c.NATS.Results.MaxAge},
		{"watch.debounce", c.Watch.Debounce},
		{"watch.gitPollInterval", c.Watch.GitPollInterval},
		{"watch.httpPollInterval", c.Watch.HTTPPollInterval},
		{"sync.timeout", c.Sync.Timeout},
		{"sync.leaseTTL", c.Sync.LeaseTTL},
	} {
		if d.value <= 0 {
			add("%s must be greater than zero", d.key)
		}
	}
	if c.API.MaxSSEClients < 1 {
		add("api.maxSSEClients must be at least 1, got %d", c.API.MaxSSEClients)
	}
	if c.Sync.Workers < 1 {
		add("sync.workers must be at least 1, got %d", c.Sync.Workers)
	}
	if c.Sync.MaxDataSize <= 0 {
		add("sync.maxDataSize must be greater than zero")
	}

	w := c.Webhooks
	if w.MaxBodySize <= 0 {
		add("webhooks.maxBodySize must be greater than zero")
	}
	if w.MaxUnverifiedBytes < w.MaxBodySize {
		add("webhooks.maxUnverifiedBytes (%d bytes) must be at least webhooks.maxBodySize (%d bytes)", w.MaxUnverifiedBytes.Int64(), w.MaxBodySize.Int64())
	}
	if w.RateLimit.PerSecond >= 0 && w.RateLimit.Burst < 1 {
		add("webhooks.rateLimit.burst must be at least 1, got %d (a negative perSecond turns the limit off)", w.RateLimit.Burst)
	}
	for _, h := range []struct {
		provider, fileKey, envKey, file, env string
	}{
		{events.ProviderGitHub, "secretFile", "secretEnv", w.GitHub.SecretFile, w.GitHub.SecretEnv},
		{events.ProviderGitLab, "tokenFile", "tokenEnv", w.GitLab.TokenFile, w.GitLab.TokenEnv},
		{events.ProviderGitea, "secretFile", "secretEnv", w.Gitea.SecretFile, w.Gitea.SecretEnv},
		{events.ProviderBitbucket, "secretFile", "secretEnv", w.Bitbucket.SecretFile, w.Bitbucket.SecretEnv},
		{"generic", "secretFile", "secretEnv", w.Generic.SecretFile, w.Generic.SecretEnv},
	} {
		if h.file != "" && h.env != "" {
			add("webhooks.%s.%s and webhooks.%s.%s are mutually exclusive", h.provider, h.fileKey, h.provider, h.envKey)
		}
		if h.env != "" && !envName.MatchString(h.env) {
			add("webhooks.%s.%s %q is not a valid environment variable name", h.provider, h.envKey, h.env)
		}
	}
	return errs
}

// checkNATSURL returns what is wrong with entry n (from 1) of nats.url,
// or "".
func checkNATSURL(n int, raw string) string {
	if raw == "" {
		return "empty entry in the comma-separated list"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("entry %d is %s", n, redact.NotAURL)
	}
	if u.User == nil && strings.Contains(u.Path+u.RawQuery+u.Fragment, "@") {
		// "nats://u:4222/cd@host": a password whose "/", "?" or "#"
		// ended the host early; a NATS URL has no use for an "@" there.
		return fmt.Sprintf(`entry %d has an "@" after its host (not shown, as it may hold a password; %s)`, n, redact.EncodeHint)
	}
	// Shown without the credentials it may carry.
	shown := redact.URL(raw)
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Sprintf("%q must use the nats, tls, ws or wss scheme", shown)
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", shown)
	}
	if port := u.Port(); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Sprintf("%q has an invalid port", shown)
		}
	}
	return ""
}

// natsAuthConflicts reports the NATS credentials that cannot be used
// together: a client authenticates with exactly one of a credentials file,
// user and password, a token or an NKey seed file.
func natsAuthConflicts(n NATS) []error {
	var errs []error
	hasPassword := n.Password != "" || n.PasswordFile != ""
	if n.Password != "" && n.PasswordFile != "" {
		errs = append(errs, errors.New("nats.password and nats.passwordFile are mutually exclusive"))
	}
	if (n.User == "") != !hasPassword {
		errs = append(errs, errors.New("nats.user and nats.password (or nats.passwordFile) must both be set"))
	}
	if strings.TrimSpace(n.URL) == "" {
		// The embedded server knows users and passwords only.
		for _, m := range []struct {
			key string
			set bool
		}{{"nats.credsFile", n.CredsFile != ""}, {"nats.token", n.Token != ""}, {"nats.nkeyFile", n.NKeyFile != ""}} {
			if m.set {
				errs = append(errs, fmt.Errorf("%s needs nats.url: the embedded server authenticates with nats.user and nats.password only", m.key))
			}
		}
	}
	type method struct {
		keys string
		set  bool
	}
	methods := []method{
		{"nats.credsFile", n.CredsFile != ""},
		{"nats.user/nats.password", n.User != "" || hasPassword},
		{"nats.token", n.Token != ""},
		{"nats.nkeyFile", n.NKeyFile != ""},
	}
	for i, a := range methods {
		for _, b := range methods[i+1:] {
			if a.set && b.set {
				errs = append(errs, fmt.Errorf("%s and %s are mutually exclusive: use one way to authenticate to NATS", a.keys, b.keys))
			}
		}
	}
	return errs
}

// checkHostPort returns what is wrong with a host:port listen address, or
// "". An empty host listens on every interface.
func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("must be host:port: %v", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("has an invalid port %q", port)
	}
	return ""
}

// yamlKind names the kind of a value decoded from YAML, for messages.
func yamlKind(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "true or false"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return "a value of another kind"
}
