// Command regsync keeps MCP server registries in sync from their sources and
// publishes what changed as CloudEvents on NATS JetStream.
//
// This package turns flags into configuration and wires the pipeline
// together; the behaviour lives in the internal packages. Its sync command
// is the manual producer: it publishes sync.requested triggers through
// bus.Producer like every other producer.
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
	"strconv"
	"strings"
	"syscall"

	"github.com/regsync/regsync/internal/printable"
)

// command is one subcommand of regsync: how it is called, what it does,
// an example, and the function that does it.
type command struct {
	name    string
	args    string // the synopsis after the name
	maxArgs int    // how many arguments it takes; -1: any number
	summary string // one line for the command list
	about   string // what it does, for --help
	example string
	run     func(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{
		name: "serve", maxArgs: 0, args: "--config FILE", summary: "run the service",
		about: `Runs the service: the embedded NATS server unless --nats-url or nats.url
names a cluster, the watchers and pollers, the webhook receivers, the sync
workers and the HTTP endpoints (/healthz, /readyz, /metrics). It stops on
SIGINT or SIGTERM after finishing the syncs in flight. It refuses to start
when the configuration is invalid or a webhook secret cannot be read.`,
		example: "regsync serve --config examples/quickstart.yaml",
		run:     serveCmd,
	},
	{
		name: "sync", maxArgs: -1, args: "SOURCE... | --all [--wait] [--timeout 60s] [--request-id ID]", summary: "request a manual sync",
		about: `Publishes a manual sync request (io.regsync.sync.requested.v1) for each
SOURCE, or for every source with a status record with --all. With --wait it
prints the result event that answers each request and exits 1 if a sync
failed. A request retried with the same --request-id is not synced twice:
its answer, even one published before the retry, is printed.

Arguments:
  SOURCE   the name of a configured source`,
		example: "regsync sync toolhive --wait --timeout 2m",
		run:     syncCmd,
	},
	{
		name: "status", maxArgs: 1, args: "[SOURCE] [-o table|json]", summary: "print status records",
		about: `Prints the status records from the regsync_status bucket: of one SOURCE, or
of every source followed by every registry (regsync_registry_status: its
generation, servers, Ready and Degraded, and its sources in order). With
-o json and no SOURCE the output is {"sources": {...}, "registries": [...]},
each registry its status record with its name.

Arguments:
  SOURCE   the name of a configured source (default: all)`,
		example: "regsync status toolhive -o json",
		run:     statusCmd,
	},
	{
		name: "watch", maxArgs: 1, args: "[SOURCE | --registries [REGISTRY]] [-o text|json] [--since DURATION | --all]", summary: "stream result and registry events",
		about: `Prints result events (completed, failed, skipped) and registry changes
(registry.changed: generation, counts, causes) as they are published, until
interrupted. With SOURCE: that source's results, and the changes of the
registry named SOURCE and of every registry whose causes name SOURCE.
--registries prints registry changes only, those of REGISTRY if given.
--since replays the events of the last DURATION from the REGSYNC_RESULTS
stream first, --all every event the stream still holds.

Arguments:
  SOURCE     the name of a configured source (default: all)
  REGISTRY   with --registries, the name of a registry (default: all)`,
		example: "regsync watch toolhive --since 1h -o json",
		run:     watchCmd,
	},
	{
		name: "validate", maxArgs: 0, args: "--config FILE [--fetch]", summary: "check a configuration",
		about: `Checks a configuration file without starting anything: every problem is
reported at once, with its line. Webhook secret files and environment
variables are read. A valid file's registries are printed, each with its
sources in order of precedence. With --fetch every source is also fetched,
validated and filtered once, its counts printed before and after its filter;
a filter that keeps nothing of a source that has entries fails, as its sync
would.`,
		example: "regsync validate --config /etc/regsync/config.yaml --fetch",
		run:     validateCmd,
	},
	{
		name: "version", maxArgs: 0, summary: "print version information",
		about:   `Prints the version, the commit and the Go version regsync was built with.`,
		example: "regsync version",
		run:     versionCmd,
	},
}

// usage is the text of regsync --help.
func usage() string {
	var b strings.Builder
	b.WriteString("regsync keeps MCP server registries in sync and tells everyone what changed.\n\nUsage:\n")
	for _, c := range commands {
		line := "regsync " + c.name
		if c.args != "" {
			line += " " + c.args
		}
		fmt.Fprintf(&b, "  %s\n      %s\n", line, c.summary)
	}
	b.WriteString("\nRun regsync COMMAND --help for a command's arguments, flags and an example.\n\n")
	writeGlobalFlags(&b)
	return b.String()
}

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
	fmt.Fprintln(stderr, "regsync:", printable.String(err.Error()))
	return code
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, globalsFromEnv(), args, stdout, stderr)
}

// runWith runs one command; the global flags it parses land in g.
func runWith(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	g.stdout = stdout
	name, rest, err := g.splitCommand(args)
	if err != nil {
		return err
	}
	switch name {
	case "", "-h", "-help", "--help", "help":
		if name == "help" && len(rest) > 0 {
			return runWith(ctx, g, []string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage())
		if name == "" {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	for i := range commands {
		if c := &commands[i]; c.name == name {
			g.cmd = c
			err := c.run(ctx, g, rest, stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("%w: unknown command %q (run regsync --help)", errUsage, name)
}

// splitCommand returns the command named in args and the rest of args,
// with the global flags given before the command moved after it, so that
// `regsync --nats-url X status` is `regsync status --nats-url X`. A flag
// before the command that is not global is an error naming it.
func (g *globals) splitCommand(args []string) (string, []string, error) {
	globalFlags := g.flagSet("")
	var leading []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		arg := args[0]
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name == "h" || name == "help" {
			return arg, nil, nil
		}
		f := globalFlags.Lookup(name)
		if f == nil {
			return "", nil, fmt.Errorf("%w: %s before the command is not a global flag (run regsync --help)", errUsage, arg)
		}
		leading, args = append(leading, arg), args[1:]
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); hasValue || (ok && bf.IsBoolFlag()) {
			continue
		}
		if len(args) == 0 {
			return "", nil, fmt.Errorf("%w: flag %s needs a value", errUsage, arg)
		}
		leading, args = append(leading, args[0]), args[1:]
	}
	if len(args) == 0 {
		return "", nil, nil
	}
	return args[0], append(leading, args[1:]...), nil
}

// globals are the flags every command takes, and the command being run.
type globals struct {
	config                                      string
	natsURL, creds, user, password, token, nkey string
	ca, cert, key                               string
	logLevel, logFormat                         string

	cmd    *command  // for --help
	stdout io.Writer // where --help goes
}

// globalFlag is a flag every command takes: its name, the placeholder of
// its value in help, the environment variable it falls back to, its
// default, and the field of globals it sets.
type globalFlag struct {
	name, value, env, def, usage string
	field                        func(*globals) *string
}

// globalGroup is a titled group of global flags in help.
type globalGroup struct {
	title string
	flags []globalFlag
}

// globalFlags are the global flags, grouped as help shows them.
var globalFlags = []globalGroup{
	{"Configuration", []globalFlag{
		{"config", "FILE", "REGSYNC_CONFIG", "", "the configuration file; sync, status and watch take the NATS address and credentials from it (the embedded server's generated password included)", func(g *globals) *string { return &g.config }},
	}},
	{"NATS", []globalFlag{
		{"nats-url", "URL", "REGSYNC_NATS_URL", "", "NATS URL(s); empty: the embedded server (serve) or its listener, nats://127.0.0.1:4222 (clients); with --config it replaces the address only", func(g *globals) *string { return &g.natsURL }},
		{"nats-creds", "FILE", "REGSYNC_NATS_CREDS", "", "credentials file", func(g *globals) *string { return &g.creds }},
		{"nats-user", "NAME", "REGSYNC_NATS_USER", "", "user", func(g *globals) *string { return &g.user }},
		{"nats-password", "PASS", "REGSYNC_NATS_PASSWORD", "", "password", func(g *globals) *string { return &g.password }},
		{"nats-token", "TOKEN", "REGSYNC_NATS_TOKEN", "", "token", func(g *globals) *string { return &g.token }},
		{"nats-nkey", "FILE", "REGSYNC_NATS_NKEY", "", "nkey seed file", func(g *globals) *string { return &g.nkey }},
		{"nats-ca", "FILE", "REGSYNC_NATS_CA", "", "CA file for TLS", func(g *globals) *string { return &g.ca }},
		{"nats-cert", "FILE", "REGSYNC_NATS_CERT", "", "client certificate for TLS", func(g *globals) *string { return &g.cert }},
		{"nats-key", "FILE", "REGSYNC_NATS_KEY", "", "client key for TLS", func(g *globals) *string { return &g.key }},
	}},
	{"Logging", []globalFlag{
		{"log-level", "LEVEL", "REGSYNC_LOG_LEVEL", "info", "debug, info, warn or error", func(g *globals) *string { return &g.logLevel }},
		{"log-format", "FORMAT", "REGSYNC_LOG_FORMAT", "text", "text or json", func(g *globals) *string { return &g.logFormat }},
	}},
}

// writeGlobalFlags writes the global flags, grouped, for help.
func writeGlobalFlags(w io.Writer) {
	fmt.Fprintln(w, "Global flags, accepted before or after the command; each falls back to its environment variable:")
	for _, grp := range globalFlags {
		fmt.Fprintf(w, "  %s:\n", grp.title)
		for _, f := range grp.flags {
			about := f.env + ": " + f.usage
			if f.def != "" {
				about += " (default " + f.def + ")"
			}
			writeFlag(w, "    ", "--"+f.name+" "+f.value, about)
		}
	}
}

// writeFlag writes one flag of help: its synopsis, and what it does
// beside it (below it when the synopsis is long), wrapped at 100 columns.
func writeFlag(w io.Writer, indent, synopsis, about string) {
	const column, width = 24, 100
	pad := indent + strings.Repeat(" ", column)
	line := indent + synopsis
	if len(synopsis) >= column {
		fmt.Fprintln(w, line)
		line = pad
	} else {
		line += strings.Repeat(" ", column-len(synopsis))
	}
	first := true
	for _, word := range strings.Fields(about) {
		if !first && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line, first = pad, true
		}
		if !first {
			line += " "
		}
		line += word
		first = false
	}
	fmt.Fprintln(w, line)
}

func globalsFromEnv() *globals {
	g := &globals{}
	for _, grp := range globalFlags {
		for _, f := range grp.flags {
			*f.field(g) = envOr(f.env, f.def)
		}
	}
	return g
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// flagSet returns a FlagSet for a command with the global flags on it. It
// prints nothing: parse reports errors and prints --help.
func (g *globals) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("regsync "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, grp := range globalFlags {
		for _, f := range grp.flags {
			p := f.field(g)
			fs.StringVar(p, f.name, *p, f.usage)
		}
	}
	return fs
}

// isGlobal reports whether a flag is a global one.
func isGlobal(name string) bool {
	for _, grp := range globalFlags {
		for _, f := range grp.flags {
			if f.name == name {
				return true
			}
		}
	}
	return false
}

// parse parses a command's arguments and checks the global flags. For
// --help it prints the command's help and returns flag.ErrHelp.
func (g *globals) parse(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	positional, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		g.printHelp(fs)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w (run %s --help)", err, fs.Name())
	}
	if c := g.cmd; c != nil && c.maxArgs >= 0 && len(positional) > c.maxArgs {
		extra := positional[c.maxArgs:]
		noun := "argument"
		if len(extra) > 1 {
			noun = "arguments"
		}
		quoted := make([]string, len(extra))
		for i, a := range extra {
			quoted[i] = strconv.Quote(a)
		}
		return nil, fmt.Errorf("%w: unexpected %s %s (run %s --help)", errUsage, noun, strings.Join(quoted, " "), fs.Name())
	}
	if _, err := g.logger(stderr); err != nil {
		return nil, err
	}
	return positional, nil
}

// printHelp prints the help of the command being run: synopsis, what it
// does, its own flags, the global flags and an example.
func (g *globals) printHelp(fs *flag.FlagSet) {
	c := g.cmd
	if c == nil || g.stdout == nil {
		return
	}
	w := g.stdout
	fmt.Fprintf(w, "Usage: regsync %s %s\n\n%s\n\n", c.name, strings.TrimSpace(c.args+" [flags]"), c.about)
	var own strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if isGlobal(f.Name) {
			return
		}
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		value, about := flag.UnquoteUsage(f)
		if value == "string" {
			// Unnamed in the usage: the last word of the flag's name.
			value = f.Name[strings.LastIndex(f.Name, "-")+1:]
			if len(value) == 1 {
				value = "value"
			}
		}
		synopsis := dashes + f.Name
		if value != "" {
			synopsis += " " + strings.ToUpper(value)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			about += " (default " + f.DefValue + ")"
		}
		writeFlag(&own, "  ", synopsis, about)
	})
	if own.Len() > 0 {
		fmt.Fprintf(w, "Flags:\n%s\n", own.String())
	}
	writeGlobalFlags(w)
	fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
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
