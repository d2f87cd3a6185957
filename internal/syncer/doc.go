// Package syncer decides whether a source needs a sync and performs it. It
// keeps the vocabulary of the ToolHive Registry Server's sync package:
// Manager with ShouldSync and PerformSync, the eleven Reasons, Result, Error
// with its condition type and reason, the change detector and the interval
// checker.
//
// In the pipeline it sits behind the coordinator, which consumes triggers
// from JetStream, holds the per-source lease, asks the Manager, records the
// outcome with the state package and publishes the result event. The
// Manager itself never watches anything and never publishes.
package syncer
