package bus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
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
		slog.String("url", o.URL),
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
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(10 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read nkey seed %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" || o.KeyFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
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
	if err != nil {
		where := url
		if where == "" {
			where = "embedded server"
		}
		return nil, fmt.Errorf("connect to nats %s: %w", where, err)
	}
	return nc, nil
}
