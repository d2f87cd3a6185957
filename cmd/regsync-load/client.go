package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// newClient is the HTTP client of the waits and polls (readiness,
// freshness, restarts): keep-alive connections, and no gzip, so that the
// figures are the API's and not the compressor's. The throughput runs and
// the walk use conns of their own (conn.go).
func newClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        2 * clients,
			MaxIdleConnsPerHost: clients + 8,
			DisableCompression:  true,
		},
	}
}

// result is one answer: its status, ETag and body.
type result struct {
	code int
	etag string
	body []byte
}

// get sends GET url, with If-None-Match inm unless it is empty, and reads
// the whole answer.
func (b *bench) get(ctx context.Context, url, inm string) (result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, fmt.Errorf("GET %s: read the body: %w", url, err)
	}
	return result{code: resp.StatusCode, etag: resp.Header.Get("ETag"), body: body}, nil
}

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

func sorted(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

// memory is what /proc says of a process's resident memory, in bytes.
type memory struct{ rss, peak int64 }

func memoryOf(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read the memory of process %d: %w", pid, err)
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("read the memory of process %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.peak = kb << 10
		}
	}
	return m, nil
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cpuTime is the CPU time, user and system, process pid has used, from
// /proc/<pid>/stat (in clock ticks of 10 ms, Linux's USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted are those after it, from the state (field 3) on.
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("read the CPU time of process %d: %q is not a stat line", pid, data)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read the CPU time of process %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// machineTimes is the CPU time of every core of the machine together,
// from the first line of /proc/stat: busy (user, nice, system, irq,
// softirq) and stolen by the hypervisor.
type machineTimes struct{ busy, steal time.Duration }

func machineCPU() (machineTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, fmt.Errorf("read the machine's CPU time: %w", err)
	}
	return parseMachineCPU(data)
}

// parseMachineCPU reads the "cpu" line of /proc/stat: user, nice,
// system, idle, iowait, irq, softirq, steal, in clock ticks of 10 ms.
func parseMachineCPU(data []byte) (machineTimes, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return machineTimes{}, fmt.Errorf("read the machine's CPU time: %q is not the cpu line of /proc/stat", line)
	}
	var ticks [8]int64
	for i := range ticks {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineTimes{}, fmt.Errorf("read the machine's CPU time: %w", err)
		}
		ticks[i] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }
	return machineTimes{busy: tick(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]), steal: tick(ticks[7])}, nil
}
