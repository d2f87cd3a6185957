package webhook

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// sweepEvery is how often idle clients are forgotten.
	sweepEvery = time.Minute
	// maxClients bounds the clients tracked at once. Past it, clients not
	// yet tracked are let through untracked rather than refused, so a flood
	// of addresses cannot lock out a forge.
	maxClients = 1 << 16
)

// limiter is a token bucket per client: each client may make burst
// requests at once and rate requests per second on average.
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{
		rate:    rate,
		burst:   float64(burst),
		now:     time.Now,
		clients: make(map[string]*bucket),
	}
}

// allow takes a token from client's bucket. When there is none it reports
// false and how long until there is one.
func (l *limiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if since := now.Sub(l.swept); since >= sweepEvery || (len(l.clients) >= maxClients && since >= time.Second) {
		l.sweep(now)
	}
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= maxClients {
			return true, 0
		}
		b = &bucket{tokens: l.burst, last: now}
		l.clients[client] = b
	}
	b.tokens = min(l.burst, b.tokens+max(0, now.Sub(b.last).Seconds())*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets the clients whose bucket has filled up again: they are
// indistinguishable from new ones.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	for c, b := range l.clients {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.clients, c)
		}
	}
}

// clientKey returns the client a request is counted against: the remote
// IP address, and for IPv6 its /64 network, as one host usually holds a
// whole /64. Headers such as X-Forwarded-For are not trusted: anyone can
// send them.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}
