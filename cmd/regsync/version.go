package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func versionCmd(_ context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	if _, err := g.parse(g.flagSet("version"), args, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "regsync %s\ncommit %s\n%s %s/%s\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// readBuildInfo is debug.ReadBuildInfo; a test seam.
var readBuildInfo = debug.ReadBuildInfo

// buildCommit is the commit the binary was built from: the one -ldflags
// gave, else the VCS revision Go stamps into a binary built in a checkout,
// else "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if info, ok := readBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}
