package backoff

import (
	"testing"
	"time"
)

func TestDoubling(t *testing.T) {
	tests := []struct {
		name         string
		first, limit time.Duration
		failures     int
		want         time.Duration
	}{
		{"first failure waits first", time.Second, time.Minute, 1, time.Second},
		{"no failure counted waits first", time.Second, time.Minute, 0, time.Second},
		{"each failure doubles", time.Second, time.Minute, 4, 8 * time.Second},
		{"capped at the limit", time.Second, time.Minute, 50, time.Minute},
		{"a first wait over the limit is capped", time.Hour, time.Minute, 1, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Doubling(tt.first, tt.limit, tt.failures); got != tt.want {
				t.Errorf("Doubling(%v, %v, %d) = %v, want %v", tt.first, tt.limit, tt.failures, got, tt.want)
			}
		})
	}
}
