package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

func TestTransportError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		err        error
		wantReason string
		wantIs     error
	}{
		{"cancelled", cancelled, io.ErrUnexpectedEOF, "", context.Canceled},
		{"timeout", context.Background(), os.ErrDeadlineExceeded, ReasonTimeout, os.ErrDeadlineExceeded},
		{"other", context.Background(), io.ErrUnexpectedEOF, "", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := TransportError(tc.ctx, "tap: POST http://x/sync", tc.err)
			if got := ReasonOf(err); got != tc.wantReason {
				t.Errorf("reason %q, want %q", got, tc.wantReason)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("%v does not wrap %v", err, tc.wantIs)
			}
			if want := "tap: POST http://x/sync: " + tc.wantIs.Error(); err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
		})
	}
}
