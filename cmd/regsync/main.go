// Command regsync keeps MCP server registries in sync from their sources and
// publishes what changed as CloudEvents on NATS JetStream.
//
// This package turns flags into configuration and wires the pipeline
// together; the behaviour lives in the internal packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `regsync keeps MCP server registries in sync and tells everyone what changed.

Usage:
  regsync serve --config FILE              run the service
  regsync sync SOURCE... | --all [--wait] [--timeout 60s]
                                           request a manual sync
  regsync status [SOURCE] [-o table|json]  print status records
  regsync watch [SOURCE] [-o text|json]    stream result events
  regsync validate --config FILE [--fetch] check a configuration
  regsync version                          print version information

Global flags (each also read from the environment):
  --config FILE         REGSYNC_CONFIG (sync, status and watch take the NATS address and
                        credentials from it, the embedded server's generated password included)
  --nats-url URL        REGSYNC_NATS_URL (empty: embedded server for serve, nats://127.0.0.1:4222 for clients)
  --nats-creds FILE     REGSYNC_NATS_CREDS
  --nats-user NAME      REGSYNC_NATS_USER
  --nats-password PASS  REGSYNC_NATS_PASSWORD
  --nats-token TOKEN    REGSYNC_NATS_TOKEN
  --nats-nkey FILE      REGSYNC_NATS_NKEY
  --nats-ca FILE, --nats-cert FILE, --nats-key FILE   TLS (REGSYNC_NATS_CA, _CERT, _KEY)
  --log-level LEVEL     REGSYNC_LOG_LEVEL (debug, info, warn, error; default info)
  --log-format FORMAT   REGSYNC_LOG_FORMAT (text or json; default text)
`

// errUsage marks a mistake in how regsync was called.
var errUsage = errors.New("usage")

// exitError carries a specific exit code, e.g. a failed sync under --wait.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := globalsFromEnv()
	err := runWith(ctx, g, os.Args[1:], os.Stdout, os.Stderr)
	if code := report(g, err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// report writes the error that ends regsync, in the log format asked for
// (so a JSON log stays JSON to its last line), and returns the exit code.
func report(g *globals, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errUsage) {
		code = 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return code
	}
	if strings.EqualFold(g.logFormat, "json") {
		logger, lerr := g.logger(stderr)
		if lerr == nil {
			logger.Error("regsync failed", "err", err.Error(), "exit_code", code)
			return code
		}
	}
	fmt.Fprintln(stderr, "regsync:", err)
	return code
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, globalsFromEnv(), args, stdout, stderr)
}

// runWith runs one command; the global flags it parses land in g.
func runWith(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, g, rest, stdout, stderr)
	case "sync":
		return syncCmd(ctx, g, rest, stdout, stderr)
	case "status":
		return statusCmd(ctx, g, rest, stdout, stderr)
	case "watch":
		return watchCmd(ctx, g, rest, stdout, stderr)
	case "validate":
		return validateCmd(ctx, g, rest, stdout, stderr)
	case "version":
		return versionCmd(stdout)
	default:
		return fmt.Errorf("%w: unknown command %q (run regsync --help)", errUsage, cmd)
	}
}

// globals are the flags every command takes.
type globals struct {
	config                                      string
	natsURL, creds, user, password, token, nkey string
	ca, cert, key                               string
	logLevel, logFormat                         string
}

func globalsFromEnv() *globals {
	return &globals{
		config:    os.Getenv("REGSYNC_CONFIG"),
		natsURL:   os.Getenv("REGSYNC_NATS_URL"),
		creds:     os.Getenv("REGSYNC_NATS_CREDS"),
		user:      os.Getenv("REGSYNC_NATS_USER"),
		password:  os.Getenv("REGSYNC_NATS_PASSWORD"),
		token:     os.Getenv("REGSYNC_NATS_TOKEN"),
		nkey:      os.Getenv("REGSYNC_NATS_NKEY"),
		ca:        os.Getenv("REGSYNC_NATS_CA"),
		cert:      os.Getenv("REGSYNC_NATS_CERT"),
		key:       os.Getenv("REGSYNC_NATS_KEY"),
		logLevel:  envOr("REGSYNC_LOG_LEVEL", "info"),
		logFormat: envOr("REGSYNC_LOG_FORMAT", "text"),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// flagSet returns a FlagSet for a command with the global flags on it.
func (g *globals) flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("regsync "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.config, "config", g.config, "configuration file (REGSYNC_CONFIG); client commands take the NATS address and credentials from it")
	fs.StringVar(&g.natsURL, "nats-url", g.natsURL, "NATS URL(s); empty: embedded server (serve) or nats://127.0.0.1:4222 (clients)")
	fs.StringVar(&g.creds, "nats-creds", g.creds, "NATS credentials file")
	fs.StringVar(&g.user, "nats-user", g.user, "NATS user")
	fs.StringVar(&g.password, "nats-password", g.password, "NATS password")
	fs.StringVar(&g.token, "nats-token", g.token, "NATS token")
	fs.StringVar(&g.nkey, "nats-nkey", g.nkey, "NATS nkey seed file")
	fs.StringVar(&g.ca, "nats-ca", g.ca, "CA file for NATS TLS")
	fs.StringVar(&g.cert, "nats-cert", g.cert, "client certificate for NATS TLS")
	fs.StringVar(&g.key, "nats-key", g.key, "client key for NATS TLS")
	fs.StringVar(&g.logLevel, "log-level", g.logLevel, "debug, info, warn or error")
	fs.StringVar(&g.logFormat, "log-format", g.logFormat, "text or json")
	return fs
}

// parse parses a command's arguments and checks the global flags.
func (g *globals) parse(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if _, err := g.logger(stderr); err != nil {
		return nil, err
	}
	return positional, nil
}

// parseArgs parses flags and positional arguments in any order.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func (g *globals) logger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		opts.ReplaceAttr = durationSeconds
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	default:
		return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, g.logFormat)
	}
}

// durationSeconds writes durations in JSON logs as seconds (a number such
// as 0.0123), the unit log pipelines and Prometheus expect, instead of
// slog's integer nanoseconds.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}
