// Package e2e holds the end-to-end tests of the built astroingest binary:
// a subprocess with --registry pointing at the internal/emulator publishers
// and --bucket at a real S3 server (versitygw) on loopback. They check what
// only the process adds to the engine, which ingest's own tests cover: exit
// codes, signals (SIGTERM mid-upload), the fault matrix (kill -9, a bucket
// outage, an overlapping run, a lost lease, and the recovery after each),
// the environment (credentials, bucket), and every output the process
// writes (stdout, stderr, the /metrics scrape) kept free of secrets; plus
// one mirror through every layer, byte-exact, that a rerun leaves alone.
//
// The package has no code of its own; its tests build the binary once per
// test run. Without versitygw they skip, or fail where the environment
// variable CI is set.
package e2e
