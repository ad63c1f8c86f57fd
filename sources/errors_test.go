package sources

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"strconv"
	"strings"
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

// reasonConsts reads the Reason* constants declared in errors.go, so that a
// constant added without being listed in Reasons fails TestReasons.
func reasonConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Reason") {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = v
			}
		}
	}
	return out
}

func TestReasons(t *testing.T) {
	list := Reasons()
	seen := map[string]bool{}
	for _, r := range list {
		if seen[r] {
			t.Errorf("Reasons lists %q twice", r)
		}
		seen[r] = true
		if strings.Trim(r, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("reason %q is not a lower-case label value", r)
		}
	}
	consts := reasonConsts(t)
	for name, v := range consts {
		if !seen[v] {
			t.Errorf("%s = %q is missing from Reasons()", name, v)
		}
	}
	if len(list) != len(consts) {
		t.Errorf("Reasons() has %d values, errors.go declares %d Reason constants", len(list), len(consts))
	}
	// DESIGN.md's closed set: today's reasons and the additions.
	for _, want := range []string{"http_404", "http_4xx", "http_5xx", "timeout", "checksum_mismatch", "size_mismatch",
		"auth_missing", "licence_required", "gated", "budget_exceeded", "job_failed", "bucket_error", "bad_response",
		"other", "too_many_redirects", "unexpected_content_type", "unrepresentable_name", "lease_lost",
		"checksum_missing", "network"} {
		if !seen[want] {
			t.Errorf("Reasons() lacks %q", want)
		}
	}
	list[0] = "changed"
	if Reasons()[0] == "changed" {
		t.Error("Reasons() returns a shared slice")
	}
}
