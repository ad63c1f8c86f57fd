package ingest

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
)

// A usage error keeps its cause: callers can still tell a bad glob from
// the rest, and the message names the flag.
func TestUsageErrorKeepsCause(t *testing.T) {
	fx := newFixture(t, 1, 1, 10, nil)
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Selection = Selection{Sources: []string{"e[0"}}
	_, err := Run(context.Background(), c)
	var ue *UsageError
	if !errors.As(err, &ue) || !errors.Is(err, path.ErrBadPattern) || !strings.Contains(err.Error(), `--source "e[0"`) {
		t.Fatalf("err = %v, want a UsageError naming --source that unwraps to path.ErrBadPattern", err)
	}
}
