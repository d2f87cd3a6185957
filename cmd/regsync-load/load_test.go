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

// TestStepsReportNamesTheSlowStep prints the breakdown of edits, the
// slowest first after the median, with "?" for a step not seen.
func TestStepsReportNamesTheSlowStep(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	fast := steps{write: at, stored: ms(5), started: ms(8), completed: ms(30), changed: ms(35), replicas: []time.Time{ms(31), ms(32), ms(33)}}
	slow := steps{write: at, stored: ms(5), started: ms(755), completed: ms(780), replicas: []time.Time{ms(781), ms(782), ms(790)}}
	var out bytes.Buffer
	reportSteps(&out, []steps{fast, slow, fast})
	text := out.String()
	for _, want := range []string{
		"p50      total 33.00 ms: stored 5.00 ms, started 3.00 ms, completed 22.00 ms, changed 5.00 ms; replicas 1.00 ms 2.00 ms 3.00 ms",
		"slowest  total 790.00 ms: stored 5.00 ms, started 750.00 ms, completed 25.00 ms, changed ?; replicas 1.00 ms 2.00 ms 10.00 ms",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

// The measurements wait for a listing that holds servers: a registry is
// served empty before its source's first sync.
func TestListsServers(t *testing.T) {
	for body, want := range map[string]bool{
		`{"servers":[],"metadata":{"count":0}}`:                             false,
		`{"servers":[{"server":{"name":"io.x/a"}}],"metadata":{"count":1}}`: true,
		`not json`: false,
	} {
		if got := listsServers([]byte(body)); got != want {
			t.Errorf("listsServers(%s) = %v, want %v", body, got, want)
		}
	}
}

// TestCPUTimeOfThisProcess reads the test's own CPU time, which grows as
// it works.
func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	x := 0
	for i := range 200_000_000 {
		x ^= i
	}
	after, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before < 0 || after <= before {
		t.Errorf("CPU time %s, then %s after a loop (%d): want it to grow", before, after, x)
	}
}

// TestThousands writes the target rates as the report prints them.
func TestThousands(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999: "999", 5000: "5,000", 20000: "20,000", 1234567: "1,234,567"} {
		if got := thousands(f); got != want {
			t.Errorf("thousands(%v) = %q, want %q", f, got, want)
		}
	}
}

// The machine's busy and stolen time are read from the cpu line of
// /proc/stat; anything else is an error that quotes it.
func TestParseMachineCPU(t *testing.T) {
	got, err := parseMachineCPU([]byte("cpu  300 5 100 2000 40 7 8 9 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (machineTimes{busy: 4200 * time.Millisecond, steal: 90 * time.Millisecond}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
	if _, err := parseMachineCPU([]byte("intr 1 2 3\n")); err == nil || !strings.Contains(err.Error(), `"intr 1 2 3"`) {
		t.Fatalf("error %v, want one quoting the line", err)
	}
}
