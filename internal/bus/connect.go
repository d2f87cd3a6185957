package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/internal/redact"
)

// ConnectOptions says how to reach NATS. With an empty URL and a non-nil
// Embedded server the connection is made in-process.
type ConnectOptions struct {
	URL       string
	Name      string
	CredsFile string
	User      string
	Password  string
	Token     string
	NKeyFile  string
	CAFile    string
	CertFile  string
	KeyFile   string
	Embedded  *Embedded
	Logger    *slog.Logger
}

// LogValue keeps secrets out of logs.
func (o ConnectOptions) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redact.URLs(o.URL)),
		slog.Bool("embedded", o.Embedded != nil),
		slog.Bool("creds", o.CredsFile != ""),
		slog.Bool("user", o.User != ""),
		slog.Bool("token", o.Token != ""),
		slog.Bool("tls", o.CAFile != "" || o.CertFile != ""),
	)
}

// Connect opens a connection that reconnects forever: a NATS restart must
// not stop regsync, it only pauses it.
func Connect(o ConnectOptions) (*nats.Conn, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.CustomInboxPrefix(InboxPrefix(o.User)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(10 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			// Asynchronous errors, such as a permissions violation on an
			// external cluster.
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("nats error", "subject", subject, "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, credsOption(o.CredsFile))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.NKeyFile != "" {
		opt, err := nkeyOption(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read nkey seed %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" {
		opts = append(opts, clientTLSOption(o.CAFile, o.CertFile, o.KeyFile))
	}

	url := o.URL
	if url == "" {
		if o.Embedded == nil {
			url = nats.DefaultURL
		} else {
			opts = append(opts, nats.InProcessServer(o.Embedded.Server()))
		}
	}
	nc, err := nats.Connect(url, opts...)
	var parseErr *neturl.Error
	if errors.As(err, &parseErr) && parseErr.Op == "parse" {
		// Neither the URL nor the error, which quotes it: what makes it
		// fail may be a password's character.
		return nil, fmt.Errorf("connect to nats: --nats-url or nats.url is %s", redact.NotAURL)
	}
	if err != nil {
		where := redact.URLs(url)
		if where == "" {
			where = "embedded server"
		}
		return nil, fmt.Errorf("connect to nats %s: %w: %w", where, classify(err), redacted(err))
	}
	return nc, nil
}

// Why a connection failed, so that an operator knows what to fix: the
// credentials, the TLS setup, or the address (or the server is down).
var (
	ErrAuth        = errors.New("authentication failed")
	ErrTLS         = errors.New("TLS failed")
	ErrUnreachable = errors.New("server unreachable")
	errConnect     = errors.New("connection failed")
)

// IsAuthError reports whether a Connect error is a rejected login.
func IsAuthError(err error) bool { return errors.Is(err, ErrAuth) }

// IsTLSError reports whether a Connect error is a failed TLS setup.
func IsTLSError(err error) bool { return errors.Is(err, ErrTLS) }

// IsUnreachable reports whether a Connect error is a server not reached.
func IsUnreachable(err error) bool { return errors.Is(err, ErrUnreachable) }

// redacted returns err with the URLs it quotes redacted; errors.Is and
// errors.As still see err.
func redacted(err error) error {
	return redact.Error(err, redact.Message(err.Error()))
}

// classify names the kind of a nats.Connect error.
func classify(err error) error {
	msg := strings.ToLower(err.Error())
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		verify    *tls.CertificateVerificationError
		netErr    net.Error
	)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		errors.Is(err, nats.ErrAccountAuthExpired), errors.Is(err, nats.ErrNkeysNotSupported),
		strings.Contains(msg, "authorization violation"), strings.Contains(msg, "authentication"),
		strings.Contains(msg, "user credentials"), strings.Contains(msg, "nkey"):
		return ErrAuth
	case errors.Is(err, nats.ErrSecureConnRequired), errors.Is(err, nats.ErrSecureConnWanted), errors.Is(err, nats.ErrClientCertOrRootCAsRequired),
		errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &record),
		errors.As(err, &alert), errors.As(err, &verify), strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"):
		return ErrTLS
	case errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout), errors.As(err, &netErr),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return ErrUnreachable
	}
	return errConnect
}

// InboxPrefix is the prefix of the reply subjects of a connection as user:
// _INBOX_<user>, or _INBOX_regsync without a user name (a credentials
// file, a token, an nkey, or no authentication). Each NATS user may then
// be allowed to subscribe to its own inboxes only, so that no other user
// sees the replies it gets. A character that a subject token cannot hold
// (".", "*", ">", white space) is written as "_".
func InboxPrefix(user string) string {
	if user == "" {
		return "_INBOX_regsync"
	}
	return "_INBOX_" + strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, user)
}
