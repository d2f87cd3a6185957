package config

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
)

// Defaults of the sources' own settings. The defaults of regsync's
// sections are Default's alone.
const (
	// DefaultGitPath is the file read from a git source's repository when
	// git.path is not set.
	DefaultGitPath = "registry.json"
	// DefaultAPITimeout is the per-request timeout of an api source when
	// api.timeout is not set.
	DefaultAPITimeout = 10 * time.Second
	// DefaultFileTimeout is the per-request timeout of a file.url source when
	// file.timeout is not set.
	DefaultFileTimeout = 30 * time.Second
)

// Source types, as returned by Source.Type.
const (
	TypeGit        = "git"
	TypeAPI        = "api"
	TypeFile       = "file"
	TypeManaged    = "managed"
	TypeKubernetes = "kubernetes"
)

// Config is the whole configuration file.
type Config struct {
	// Sources are the registries to keep in sync, in the ToolHive Registry
	// Server's format.
	Sources []Source `yaml:"sources"`
	// Registries are the named, ordered lists of sources that regsync
	// merges and serves, in the ToolHive Registry Server's format. Empty:
	// every synced source is a registry of its own name (see
	// EffectiveRegistries).
	Registries []Registry `yaml:"registries"`
	// DataDir holds git clones and, unless nats.embedded.storeDir is set, the
	// embedded JetStream store.
	DataDir  string   `yaml:"dataDir"`
	NATS     NATS     `yaml:"nats"`
	Events   Events   `yaml:"events"`
	HTTP     HTTP     `yaml:"http"`
	API      ReadAPI  `yaml:"api"`
	Watch    Watch    `yaml:"watch"`
	Webhooks Webhooks `yaml:"webhooks"`
	Sync     Sync     `yaml:"sync"`
}

// Source is one entry of sources:. Exactly one of Git, API, File, Managed
// and Kubernetes is set.
type Source struct {
	// Name is a DNS label, unique among the sources. It names the source's
	// subjects, keys and objects in NATS.
	Name       string      `yaml:"name"`
	Git        *Git        `yaml:"git"`
	API        *API        `yaml:"api"`
	File       *File       `yaml:"file"`
	Managed    *Managed    `yaml:"managed"`
	Kubernetes *Kubernetes `yaml:"kubernetes"`
	// SyncPolicy is required for git, api and file sources and ignored for
	// the others.
	SyncPolicy *SyncPolicy `yaml:"syncPolicy"`
	// Filter selects the entries kept from the source; nil keeps all.
	Filter *registry.Filter `yaml:"filter"`
	// Claims are attached to every entry of the source. Each value is a
	// string or a []any of strings.
	Claims map[string]any `yaml:"claims"`
}

// Registry is one entry of registries:, a merged view of its sources. For
// each name, the first source in Sources that has the name gives all of
// its versions.
type Registry struct {
	// Name is a DNS label, unique among the registries. It names the
	// registry's subjects, keys and objects in NATS and its API routes.
	Name string `yaml:"name"`
	// Sources names the registry's sources in order of precedence.
	Sources []string `yaml:"sources"`
	// Claims, as a source's, are strings or []any of strings. A registry
	// with claims is served over HTTP only with
	// api.serveClaimedRegistries.
	Claims map[string]any `yaml:"claims"`
}

// Git is a registry file inside a git repository.
type Git struct {
	Repository string `yaml:"repository"`
	// At most one of Branch, Tag and Commit is set; with none the remote's
	// default branch is used.
	Branch string `yaml:"branch"`
	Tag    string `yaml:"tag"`
	// Commit is a full commit SHA.
	Commit string `yaml:"commit"`
	// Path is the registry file inside the repository, DefaultGitPath when
	// not set. It is relative to the repository root and never leaves it
	// (see CheckGitPath).
	Path string   `yaml:"path"`
	Auth *GitAuth `yaml:"auth"`
	// PollInterval overrides watch.gitPollInterval for this source.
	PollInterval Duration `yaml:"pollInterval"`
	// WebhookSecretFile holds a webhook secret for this source alone.
	// It enables the receiver of WebhookProviderName and no other.
	WebhookSecretFile string `yaml:"webhookSecretFile"`
	// WebhookProvider is the receiver (github, gitlab, gitea, bitbucket
	// or generic) that WebhookSecretFile is for. It may be left out for a
	// repository on github.com, gitlab.com, bitbucket.org, codeberg.org
	// or gitea.com.
	WebhookProvider string `yaml:"webhookProvider"`
}

// WebhookProviders are the webhook receivers, as git.webhookProvider
// names them.
var WebhookProviders = events.Providers()

// forgeHosts are the hosts whose webhook receiver is known.
var forgeHosts = map[string]string{
	"github.com":    events.ProviderGitHub,
	"gitlab.com":    events.ProviderGitLab,
	"bitbucket.org": events.ProviderBitbucket,
	"codeberg.org":  events.ProviderGitea,
	"gitea.com":     events.ProviderGitea,
}

// WebhookProviderName is the receiver that the source's own webhook secret
// is for: git.webhookProvider, else the forge of the repository's host, or
// "" when neither says.
func (g Git) WebhookProviderName() string {
	if g.WebhookProvider != "" {
		return g.WebhookProvider
	}
	ep, err := transport.NewEndpoint(g.Repository)
	if err != nil {
		return ""
	}
	return forgeHosts[strings.ToLower(ep.Host)]
}

// GitAuth holds a git source's credentials. Username and PasswordFile
// are HTTP basic authentication (a password over ssh) and are both set or
// both empty. SSHKeyFile and KnownHostsFile apply to ssh repository URLs
// only (ssh://... or user@host:path).
type GitAuth struct {
	Username string `yaml:"username"`
	// PasswordFile is an absolute path, read on every fetch.
	PasswordFile string `yaml:"passwordFile"`
	// SSHKeyFile is an absolute path to an unencrypted private key in
	// OpenSSH or PEM form, read on every fetch. It excludes PasswordFile.
	SSHKeyFile string `yaml:"sshKeyFile"`
	// KnownHostsFile is an absolute path to a known_hosts file that the
	// server's host key must be listed in. Without it the system's
	// known_hosts files are used (SSH_KNOWN_HOSTS, ~/.ssh/known_hosts,
	// /etc/ssh/ssh_known_hosts); host keys are always checked.
	KnownHostsFile string `yaml:"knownHostsFile"`
}

// API is an MCP registry API (v0.1).
type API struct {
	// Endpoint is the base URL of the API, without a path.
	Endpoint string `yaml:"endpoint"`
	// Timeout is the per-request timeout, DefaultAPITimeout when not set.
	Timeout Duration `yaml:"timeout"`
	// PollInterval overrides watch.httpPollInterval for this source.
	PollInterval Duration `yaml:"pollInterval"`
	// BearerTokenFile is an absolute path to a file holding a bearer
	// token, read and trimmed on every request and sent as
	// "Authorization: Bearer <token>".
	BearerTokenFile string `yaml:"bearerTokenFile"`
	// InsecureSkipVerify turns TLS certificate verification off for this
	// source. It needs an https endpoint and is logged as a warning.
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

// File is a registry file on the local file system (Path) or served over
// HTTP (URL). Exactly one of them is set. A relative Path is resolved
// against the working directory.
type File struct {
	Path string `yaml:"path"`
	URL  string `yaml:"url"`
	// Timeout is the per-request timeout for URL, DefaultFileTimeout when
	// not set. It is ignored for Path, and not even read, as the ToolHive
	// Registry Server does.
	Timeout Duration `yaml:"timeout"`
	// PollInterval overrides watch.httpPollInterval for URL; it is not
	// allowed with Path, which is watched for changes.
	PollInterval Duration `yaml:"pollInterval"`
	// BearerTokenFile is an absolute path to a file holding a bearer
	// token for URL, read and trimmed on every request. Not allowed with
	// Path.
	BearerTokenFile string `yaml:"bearerTokenFile"`
	// InsecureSkipVerify turns TLS certificate verification off for URL.
	// It needs an https URL and is logged as a warning.
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

// Managed is a source whose entries are published through the ToolHive
// Registry Server's API. regsync does not sync it.
type Managed struct{}

// Kubernetes is a source discovered from Kubernetes resources. regsync does
// not sync it.
type Kubernetes struct {
	Namespaces []string `yaml:"namespaces"`
}

// SyncPolicy holds the fallback interval of a synced source.
type SyncPolicy struct {
	// Interval is how long a source may go without a sync, such as "30m".
	Interval Duration `yaml:"interval"`
}

// NATS is how regsync reaches NATS: an embedded server when URL is empty,
// else an existing cluster.
type NATS struct {
	// URL is a comma-separated list of nats://, tls://, ws:// or wss://
	// URLs; empty starts an embedded server.
	URL       string `yaml:"url"`
	CredsFile string `yaml:"credsFile"`
	// User and Password (or PasswordFile, a file holding the password)
	// authenticate regsync; with the embedded server they are also what it
	// requires, in place of the generated password.
	User         string `yaml:"user"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"passwordFile"`
	Token        Secret `yaml:"token"`
	NKeyFile     string `yaml:"nkeyFile"`
	TLS          TLS    `yaml:"tls"`
	// Replicas of every stream and bucket on an external cluster, 1 to 5.
	Replicas int          `yaml:"replicas"`
	Embedded EmbeddedNATS `yaml:"embedded"`
	// Results is the retention of the REGSYNC_RESULTS stream.
	Results Results `yaml:"results"`
}

// Results is the retention of REGSYNC_RESULTS. It is applied when the
// stream is created and whenever it differs from what regsync applied
// last; a value an operator changed with the nats CLI while the
// configuration stayed the same is kept (see bus.Ensure).
type Results struct {
	// MaxAge is how long a result is kept.
	MaxAge Duration `yaml:"maxAge"`
	// MaxBytes bounds the whole stream, results of unknown sources
	// included.
	MaxBytes ByteSize `yaml:"maxBytes"`
	// MaxMsgsPerSubject bounds the results kept per source and outcome.
	MaxMsgsPerSubject int64 `yaml:"maxMsgsPerSubject"`
}

// Events says how events are written on NATS.
type Events struct {
	// ContentMode is "structured" (the JSON event format, the default) or
	// "binary" (ce-* headers and the data as the body).
	ContentMode string `yaml:"contentMode"`
}

// TLS is the files of a TLS endpoint: under nats.tls the client side of
// the connection to a cluster, under nats.embedded.tls the embedded
// server's listener (CAFile then verifies client certificates).
type TLS struct {
	CAFile   string `yaml:"caFile"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// EmbeddedNATS configures the embedded server used when nats.url is empty.
type EmbeddedNATS struct {
	// StoreDir is the JetStream store; empty means "jetstream" under the
	// data directory (see Config.EmbeddedStoreDir).
	StoreDir string `yaml:"storeDir"`
	// Listen is the client listener's host:port. Empty means no TCP
	// listener at all; an unset key in the file means Default's.
	Listen string `yaml:"listen"`
	// Auth makes the server require a user and password of every client
	// (the default): nats.user with nats.password or nats.passwordFile,
	// else user "regsync" with the password generated on first start in
	// EmbeddedPasswordFile. False lets any local user in, which is
	// warned about at every start.
	Auth bool `yaml:"auth"`
	// TLS, with CertFile and KeyFile, makes the listener require TLS;
	// CAFile then requires client certificates signed by it. In-process
	// connections need none.
	TLS TLS `yaml:"tls"`
}

// HTTP is the one HTTP listener: webhooks, health and metrics.
type HTTP struct {
	Addr string `yaml:"addr"`
}

// ReadAPI is the read API of the registries (the MCP registry API v0.1).
type ReadAPI struct {
	// Addr is a listener of the read API's own, host:port; empty serves
	// it on http.addr.
	Addr string `yaml:"addr"`
	// ServeClaimedRegistries serves registries that have claims too;
	// regsync does not authenticate callers, so they are not served by
	// default.
	ServeClaimedRegistries bool `yaml:"serveClaimedRegistries"`
	// MaxSSEClients is how many clients of the change feeds (Server-Sent
	// Events) a replica serves at once; one more is answered 503.
	MaxSSEClients int `yaml:"maxSSEClients"`
	// CORS sends the headers that let a page of any origin read the API
	// and answers its preflight requests; off for a proxy in front that
	// adds them itself.
	CORS bool `yaml:"cors"`
}

// Watch tunes the producers that notice changes.
type Watch struct {
	// Debounce is how long a watched file whose content is cut short (a
	// write in progress) or missing waits before it is read again;
	// complete writes are published at once.
	Debounce Duration `yaml:"debounce"`
	// GitPollInterval is how often a git source's ref is checked.
	GitPollInterval Duration `yaml:"gitPollInterval"`
	// HTTPPollInterval is how often an api or file.url source is checked.
	HTTPPollInterval Duration `yaml:"httpPollInterval"`
}

// Webhooks holds one receiver per forge. A receiver without a secret is
// disabled; secrets are never written inline.
type Webhooks struct {
	GitHub    WebhookSecret `yaml:"github"`
	GitLab    WebhookToken  `yaml:"gitlab"`
	Gitea     WebhookSecret `yaml:"gitea"`
	Bitbucket WebhookSecret `yaml:"bitbucket"`
	// MaxBodySize bounds a delivery's body; larger ones get 413.
	MaxBodySize ByteSize `yaml:"maxBodySize"`
	// MaxUnverifiedBytes bounds the bodies held before their signature
	// is checked, in all: past it requests get 503 (and past twice
	// MaxBodySize from one client, 429).
	MaxUnverifiedBytes ByteSize `yaml:"maxUnverifiedBytes"`
	// RateLimit bounds the deliveries one client address may send.
	RateLimit RateLimit     `yaml:"rateLimit"`
	Generic   WebhookSecret `yaml:"generic"`
}

// RateLimit is a token bucket per client: PerSecond deliveries a second on
// average, bursts of up to Burst. A negative PerSecond turns it off.
type RateLimit struct {
	PerSecond float64 `yaml:"perSecond"`
	Burst     int     `yaml:"burst"`
}

// WebhookSecret names where a receiver's signing secret is read from: a
// file or an environment variable, not both.
type WebhookSecret struct {
	SecretFile string `yaml:"secretFile"`
	SecretEnv  string `yaml:"secretEnv"`
}

// Enabled reports whether a secret is configured.
func (w WebhookSecret) Enabled() bool { return w.SecretFile != "" || w.SecretEnv != "" }

// WebhookToken names where GitLab's shared token is read from: a file or an
// environment variable, not both.
type WebhookToken struct {
	TokenFile string `yaml:"tokenFile"`
	TokenEnv  string `yaml:"tokenEnv"`
}

// Enabled reports whether a token is configured.
func (w WebhookToken) Enabled() bool { return w.TokenFile != "" || w.TokenEnv != "" }

// Sync tunes the sync workers.
type Sync struct {
	// Workers is the number of concurrent syncs per replica.
	Workers int `yaml:"workers"`
	// Timeout bounds one sync, fetch included.
	Timeout Duration `yaml:"timeout"`
	// MaxDataSize bounds the registry data read from a source. In YAML it
	// is a byte count or a size such as "32MiB" or "100MB".
	MaxDataSize ByteSize `yaml:"maxDataSize"`
	// LeaseTTL is how long a sync's per-source lease lives without renewal.
	LeaseTTL Duration `yaml:"leaseTTL"`
}

// Default returns a configuration with no sources and every default of
// regsync's sections filled in. It is the one place those defaults are
// written: other packages take their values from the loaded configuration.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		NATS: NATS{
			Replicas: 1,
			Embedded: EmbeddedNATS{Listen: "127.0.0.1:4222", Auth: true},
			Results: Results{
				MaxAge:            Duration(7 * 24 * time.Hour),
				MaxBytes:          1 * GiB,
				MaxMsgsPerSubject: 10_000,
			},
		},
		Events: Events{ContentMode: "structured"},
		HTTP:   HTTP{Addr: "127.0.0.1:8080"},
		API:    ReadAPI{MaxSSEClients: 256, CORS: true},
		Webhooks: Webhooks{
			MaxBodySize:        3 * MiB,
			MaxUnverifiedBytes: 32 * MiB,
			RateLimit:          RateLimit{PerSecond: 20, Burst: 100},
		},
		Watch: Watch{
			Debounce:         Duration(50 * time.Millisecond),
			GitPollInterval:  Duration(30 * time.Second),
			HTTPPollInterval: Duration(5 * time.Minute),
		},
		Sync: Sync{
			Workers:     4,
			Timeout:     Duration(2 * time.Minute),
			MaxDataSize: 512 * MiB,
			LeaseTTL:    Duration(15 * time.Second),
		},
	}
}

// EmbeddedStoreDir is where the embedded server keeps JetStream data:
// nats.embedded.storeDir, else "jetstream" under the data directory.
func (c *Config) EmbeddedStoreDir() string {
	if c.NATS.Embedded.StoreDir != "" {
		return c.NATS.Embedded.StoreDir
	}
	return filepath.Join(c.DataDir, "jetstream")
}

// EmbeddedPasswordFile is where the embedded server's generated password
// is kept: "nats-password" in the data directory.
func (c *Config) EmbeddedPasswordFile() string {
	return filepath.Join(c.DataDir, "nats-password")
}

// SyncedSources returns the sources regsync syncs (git, api and file), in
// file order.
func (c *Config) SyncedSources() []Source {
	var out []Source
	for _, s := range c.Sources {
		if s.Synced() {
			out = append(out, s)
		}
	}
	return out
}

// EffectiveRegistries returns the registries regsync keeps: those of the
// registries section in file order or, without one, a registry for each
// synced source, named as the source and holding it alone. It is the one
// place that default is computed.
func (c *Config) EffectiveRegistries() []Registry {
	if len(c.Registries) > 0 {
		return c.Registries
	}
	var out []Registry
	for _, s := range c.SyncedSources() {
		out = append(out, Registry{Name: s.Name, Sources: []string{s.Name}})
	}
	return out
}

// Type is the source's type: "git", "api", "file", "managed",
// "kubernetes", or "" when none is set. With several set (which validation
// rejects) it is the first of them in that order.
func (s Source) Type() string {
	switch {
	case s.Git != nil:
		return TypeGit
	case s.API != nil:
		return TypeAPI
	case s.File != nil:
		return TypeFile
	case s.Managed != nil:
		return TypeManaged
	case s.Kubernetes != nil:
		return TypeKubernetes
	}
	return ""
}

// Synced reports whether regsync syncs the source: git, api and file do,
// managed and kubernetes do not.
func (s Source) Synced() bool {
	switch s.Type() {
	case TypeGit, TypeAPI, TypeFile:
		return true
	}
	return false
}

// Interval is syncPolicy.interval, the fallback interval between syncs,
// or zero when the policy is missing (which validation rejects for synced
// sources).
func (s Source) Interval() time.Duration {
	if s.SyncPolicy == nil {
		return 0
	}
	return time.Duration(s.SyncPolicy.Interval)
}

// PollInterval is the source's own poll interval (git.pollInterval,
// api.pollInterval or file.pollInterval), or zero when it has none and the
// watch section's applies.
func (s Source) PollInterval() time.Duration {
	switch {
	case s.Git != nil:
		return time.Duration(s.Git.PollInterval)
	case s.API != nil:
		return time.Duration(s.API.PollInterval)
	case s.File != nil:
		return time.Duration(s.File.PollInterval)
	}
	return 0
}

// TimeoutDuration is api.timeout, or DefaultAPITimeout when not set.
func (a API) TimeoutDuration() time.Duration {
	if a.Timeout > 0 {
		return time.Duration(a.Timeout)
	}
	return DefaultAPITimeout
}

// TimeoutDuration is file.timeout, or DefaultFileTimeout when not set.
func (f File) TimeoutDuration() time.Duration {
	if f.Timeout > 0 {
		return time.Duration(f.Timeout)
	}
	return DefaultFileTimeout
}

// URLs splits nats.url into its URLs; nil means the embedded server.
func (n NATS) URLs() []string {
	if strings.TrimSpace(n.URL) == "" {
		return nil
	}
	parts := strings.Split(n.URL, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// LogValue logs the NATS settings with the password and token redacted.
func (n NATS) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", n.URL),
		slog.String("creds_file", n.CredsFile),
		slog.String("user", n.User),
		slog.String("password", n.Password.String()),
		slog.String("password_file", n.PasswordFile),
		slog.String("token", n.Token.String()),
		slog.String("nkey_file", n.NKeyFile),
		slog.String("tls_ca_file", n.TLS.CAFile),
		slog.String("tls_cert_file", n.TLS.CertFile),
		slog.String("tls_key_file", n.TLS.KeyFile),
		slog.Int("replicas", n.Replicas),
		slog.String("embedded_store_dir", n.Embedded.StoreDir),
		slog.String("embedded_listen", n.Embedded.Listen),
		slog.Bool("embedded_auth", n.Embedded.Auth),
	)
}
