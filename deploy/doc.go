// Package deploy holds no service logic: it is the home of the Kubernetes
// manifests, Prometheus rules and Grafana dashboard of astroingest, and of the
// tests that hold them to the contracts in DESIGN.md (CLI flags, exit codes,
// metric names). It is a module of its own so that the Kubernetes and
// kustomize dependencies of these tests stay out of the service's go.mod.
package deploy
