package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFlagsNameWhatIsWrong runs the tool with flags it must refuse and
// expects each error to name the flag, before anything is started.
func TestFlagsNameWhatIsWrong(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-regsync", t.TempDir(), "-clients", "0", "-duration", "0s"}, &out, &errOut)
	if err == nil {
		t.Fatal("run accepted bad flags")
	}
	for _, want := range []string{"-nats-server: required", "-regsync: ", "is not a file", "-clients", "-duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := run(context.Background(), []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errOut.String(), "usage: regsync-load") {
		t.Errorf("-h printed %q, want the usage", errOut.String())
	}
}

// TestPercentile checks the percentiles the report prints.
func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := sorted(ds)
	if got := percentile(s, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %s, want 50ms", got)
	}
	if got := percentile(s, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %s, want 99ms", got)
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %s, want 0", got)
	}
}

// TestMemoryOfThisProcess reads the test's own resident memory.
func TestMemoryOfThisProcess(t *testing.T) {
	m, err := memoryOf(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.rss <= 0 || m.peak < m.rss {
		t.Errorf("memory %+v: want a resident set above 0 and a peak at least as high", m)
	}
}
