package ingest

import (
	"context"
	"errors"
	"path"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// Validate names the field and value that is wrong, in terms of the
// Config, so that the command can word it as its own flag.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" when valid
		value string
	}{
		{"a run of everything", Config{Mode: ModeRun, Workers: 4}, "", ""},
		{"a bad glob", Config{Selection: Selection{Sources: []string{"e[0"}}, Workers: 1}, FieldSources, "e[0"},
		{"an unknown domain", Config{Selection: Selection{Domains: []string{"geology"}}, Workers: 1}, FieldDomains, "geology"},
		{"a backfill of nothing", Config{Mode: ModeBackfill, Workers: 1}, FieldSelection, ""},
		{"an unknown mode", Config{Mode: "sync", Workers: 1}, FieldMode, "sync"},
		{"a shard out of range", Config{Shard: Shard{Index: 3, Count: 3}, Workers: 1}, FieldShard, "3/3"},
		{"no workers", Config{Workers: 0}, FieldWorkers, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field || fe.Value != tt.value):
				t.Fatalf("Validate() = %#v, want a FieldError for %s %q", err, tt.field, tt.value)
			}
		})
	}
}

// Run refuses the same values as a UsageError (exit 2) that keeps its
// cause, so callers can still tell a bad glob from the rest.
func TestRunRefusesInvalidConfig(t *testing.T) {
	fx := newFixture(t, 1, 1, 10, nil)
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Selection = Selection{Sources: []string{"e[0"}}
	_, err := Run(context.Background(), c)
	var ue *UsageError
	var fe *FieldError
	if !errors.As(err, &ue) || !errors.As(err, &fe) || fe.Field != FieldSources || !errors.Is(err, path.ErrBadPattern) {
		t.Fatalf("err = %v, want a UsageError with the Selection.Sources FieldError, unwrapping to path.ErrBadPattern", err)
	}
}

// editHosts changes a test configuration's host policies, which are
// read-only once built.
func editHosts(c *Config, edit func([]sources.HostPolicy) []sources.HostPolicy) {
	c.Hosts = sources.NewHosts(edit(c.Hosts.Policies()))
}
