// Package backoff holds the one doubling backoff that every retry in
// regsync uses: publishing a trigger, polling a failing source, retrying
// a failed sync.
package backoff

import "time"

// Doubling is the wait before try n+1 after n consecutive failures (n ≥ 1):
// first, doubled after each further failure, never more than limit.
func Doubling(first, limit time.Duration, failures int) time.Duration {
	d := first
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
