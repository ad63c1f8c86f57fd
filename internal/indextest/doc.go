// Package indextest reads a mirror's object index the way the training
// side does, with DuckDB, and holds it to the manifests. It is a module
// of its own so that DuckDB (cgo, a large static library) stays out of
// the service's go.mod and build: the main module's go test ./... skips
// it, and make test runs it as index-test.
package indextest
