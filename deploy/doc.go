// Package deploy holds the files an operator ships: the container build,
// the systemd unit, the NATS cluster configuration, the Helm values for the
// official NATS chart, the Kubernetes kustomize base and a compose file for
// a local cluster. It has no code; its tests parse every file with the
// parser of the program that reads it (nats-server's configuration parser,
// the Kubernetes API types, regsync's own configuration loader) and check
// that the files agree with each other, and that the Makefile's test, lint
// and fuzz targets reach every module and every fuzz target of the
// repository.
//
// It is a Go module of its own, so that the Kubernetes API types its tests
// decode with stay out of the service's go.mod.
package deploy
