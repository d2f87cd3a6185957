package main

import (
	"errors"

	"github.com/regsync/regsync/internal/childproc"
)

// proc is a child process: a nats-server, a regsync replica or a client.
type proc = childproc.Proc

// procs keeps every process the suite started, so that all of them are
// killed at the end, whatever happened.
type procs = childproc.Set

var errInterrupted = errors.New("interrupted")
