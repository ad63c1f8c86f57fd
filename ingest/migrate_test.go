package ingest

import (
	"testing"
)

// v1Fixture is the mirror the migration test upgrades.
func v1Fixture(t *testing.T) *fixture {
	fx := newFixture(t, 6, 3, 300, map[string]string{"checksum": "md5", "size": "known"})
	fx.entries[5].Params = map[string]string{"files": "f0.dat", "single": "true", "checksum": "md5", "size": "known"}
	return fx
}
