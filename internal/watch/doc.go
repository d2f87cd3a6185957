// Package watch holds the producers that watch the sources themselves.
// A producer notices that a source may have changed and publishes a
// trigger CloudEvent on the source's trigger subject
// (regsync.trigger.<source>). It never syncs: fetching, deciding and
// storing are the sync workers' job, and a worker answers a trigger whose
// revision equals the synced one with "skipped", without fetching. So a
// producer errs on the side of publishing, and says which revision it saw
// whenever it knows it.
//
// FileWatcher watches the local files of file.path sources with fsnotify.
// GitPoller lists the watched ref of git sources. HTTPPoller checks api and
// file.url sources with a conditional GET or one narrow API query. All
// three publish their source.changed triggers the one way this package
// implements (triggers: the newest observation wins, ids that collapse
// across replicas).
//
// The other producers live where their input arrives: package webhook
// (forge deliveries), package reload (sources a configuration reload adds
// or changes), package coordinator (the interval safety net and the pass
// at startup, both decided from the status records the workers keep) and
// the sync command of cmd/regsync (manual requests). Every producer stores
// its events through bus.Producer. The producers of this package, the
// webhook receiver and the interval fallback pass the conformance suite of
// package watchtest.
package watch
