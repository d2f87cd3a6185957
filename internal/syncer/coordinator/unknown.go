package coordinator

import (
	"container/list"
	"sync"
	"time"
)

// Anyone allowed to publish a trigger can name any source, so the answers
// to names regsync does not sync are bounded: a name is answered at most
// once per unknownPeriod, and the memory of answered names holds at most
// unknownNames of them (the least recently answered go first).
const (
	unknownPeriod = time.Minute
	unknownNames  = 1024
)

// answeredNames remembers when unknown source names were last answered: a
// fixed-size memory, least recently answered first out.
type answeredNames struct {
	size   int
	period time.Duration
	now    func() time.Time

	mu    sync.Mutex
	order *list.List // of *answeredName, least recently answered at the front
	names map[string]*list.Element
}

type answeredName struct {
	name string
	at   time.Time
}

func newAnsweredNames(size int, period time.Duration) *answeredNames {
	return &answeredNames{size: size, period: period, now: time.Now, order: list.New(), names: map[string]*list.Element{}}
}

// answer reports whether name may be answered now, and if so remembers it
// as answered now. A name answered less than a period ago is not.
func (a *answeredNames) answer(name string) bool {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.names[name]; ok {
		n := e.Value.(*answeredName)
		if now.Sub(n.at) < a.period {
			return false
		}
		n.at = now
		a.order.MoveToBack(e)
		return true
	}
	if a.order.Len() >= a.size {
		oldest := a.order.Front()
		a.order.Remove(oldest)
		delete(a.names, oldest.Value.(*answeredName).name)
	}
	a.names[name] = a.order.PushBack(&answeredName{name: name, at: now})
	return true
}

// forget lets name be answered again at once: its answer was not
// published.
func (a *answeredNames) forget(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.names[name]; ok {
		a.order.Remove(e)
		delete(a.names, name)
	}
}
