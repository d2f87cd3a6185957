// Package ratelog bounds repeated log lines. A flood of one kind of event
// (malformed triggers, webhook deliveries, rejected requests) must not
// flood the log: the first records of each message in a period are
// written as they come, the rest of the period are counted, and the first
// record written after the period says how many were suppressed. Metrics
// count every event; the log keeps a readable sample of them.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of New.
const (
	DefaultBurst  = 10
	DefaultPeriod = time.Minute
)

// maxKeys bounds the messages tracked. Messages are fixed strings in the
// code, so the bound is never reached in practice; past it, records of new
// messages pass unbounded rather than be lost.
const maxKeys = 1024

// New returns a logger writing through l's handler that passes at most
// burst records of each level and message per period (DefaultBurst and
// DefaultPeriod when not positive). The first record passed after records
// were suppressed carries suppressed=<count> and suppressed_since=<time>.
// Loggers derived with With or WithGroup share the bound.
func New(l *slog.Logger, burst int, period time.Duration) *slog.Logger {
	if burst <= 0 {
		burst = DefaultBurst
	}
	if period <= 0 {
		period = DefaultPeriod
	}
	return slog.New(&handler{next: l.Handler(), s: &state{burst: burst, period: period, now: time.Now, keys: map[key]*window{}}})
}

type key struct {
	level slog.Level
	msg   string
}

// window counts one message's records in the current period.
type window struct {
	start      time.Time
	passed     int
	suppressed int
	since      time.Time // of the first suppressed record
}

type state struct {
	burst  int
	period time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[key]*window
}

// admit decides whether a record passes, and how many before it were
// suppressed since when.
func (s *state) admit(k key) (pass bool, suppressed int, since time.Time) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.keys[k]
	if w == nil {
		if len(s.keys) >= maxKeys {
			return true, 0, time.Time{}
		}
		w = &window{start: now}
		s.keys[k] = w
	}
	if now.Sub(w.start) >= s.period {
		suppressed, since = w.suppressed, w.since
		*w = window{start: now}
	}
	if w.passed >= s.burst {
		if w.suppressed == 0 {
			w.since = now
		}
		w.suppressed++
		return false, 0, time.Time{}
	}
	w.passed++
	return true, suppressed, since
}

type handler struct {
	next slog.Handler
	s    *state
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	pass, suppressed, since := h.s.admit(key{r.Level, r.Message})
	if !pass {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed), slog.Time("suppressed_since", since))
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(attrs), s: h.s}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), s: h.s}
}
