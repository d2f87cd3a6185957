//go:build unix

package bounded

import "syscall"

// openFlags open a FIFO swapped in after Open's first check without
// waiting for a writer, and a terminal without making it the process's
// controlling terminal. (Go opens every file close-on-exec.)
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
