// Package watch holds the producers: they notice that a source may have
// changed and publish a trigger CloudEvent on the source's trigger subject
// (regsync.trigger.<source>). They never sync: fetching, deciding and
// storing are the sync workers' job, and a worker answers a trigger whose
// revision equals the synced one with "skipped", without fetching. So a
// producer errs on the side of publishing, and says which revision it saw
// whenever it knows it.
//
// FileWatcher watches the local files of file.path sources with fsnotify.
// GitPoller lists the watched ref of git sources. HTTPPoller checks api and
// file.url sources with a conditional GET or one narrow API query. Every
// producer passes the conformance suite of package watchtest.
package watch
