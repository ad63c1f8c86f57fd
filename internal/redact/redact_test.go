package redact_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/redact"
)

const secret = "wJalrXUtnFEMI-K7MDENG-bPx/RfiCY+EXAMPLE"

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		raw, msg, record string
	}{
		{"https://data.example.org/a/b.nc", "https://data.example.org/a/b.nc", "https://data.example.org/a/b.nc"},
		{"https://user:" + secret + "@h.example/p", "https://h.example/p", "https://h.example/p"},
		{"https://h/p?api_key=" + secret + "&x=1", "https://h/p?...", "https://h/p?api_key=" + secret + "&x=1"},
		{"https://mast/api/v0.1/Download/file?uri=mast:JWST/a.fits", "https://mast/api/v0.1/Download/file?...", "https://mast/api/v0.1/Download/file?uri=mast:JWST/a.fits"},
		{"https://h/p#frag", "https://h/p#frag", "https://h/p#frag"},
		{"s3://AKID:" + secret + "@my-bucket/prefix", "s3://my-bucket/prefix", "s3://my-bucket/prefix"},
		{"s3://my-bucket", "s3://my-bucket", "s3://my-bucket"},
		{"file://./mirror", "file://./mirror", "file://./mirror"},
		{"file:///tmp/mirror", "file:///tmp/mirror", "file:///tmp/mirror"},
		{"http://user:" + secret + "@:9091", "http://:9091", "http://:9091"},
		{"./mirror", "./mirror", "./mirror"},
		{"", "", ""},
		// Unparsable: cut through the last '@' before the query, drop the query.
		{"s3://AKID:se/cret@my bucket/p", "s3://my bucket/p", "s3://my bucket/p"},
		{"https://u:" + secret + "@h ost/p?k=" + secret, "https://h ost/p?...", "https://h ost/p?..."},
		{"://x@y", "://y", "://y"},
		{"%zz@host", "host", "host"},
	} {
		if got := redact.URL(tc.raw); got != tc.msg {
			t.Errorf("URL(%q) = %q, want %q", tc.raw, got, tc.msg)
		}
		if got := redact.URLWithQuery(tc.raw); got != tc.record {
			t.Errorf("URLWithQuery(%q) = %q, want %q", tc.raw, got, tc.record)
		}
		if strings.Contains(redact.URL(tc.raw), secret) {
			t.Errorf("URL(%q) leaks the secret", tc.raw)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := redact.New(secret, "abc", "", "token-1234")
	for _, tc := range []struct{ in, want string }{
		{"GET https://h/p?key=" + secret + ": 403", "GET https://h/p?key=**redacted**: 403"},
		{"echo: key=wJalrXUtnFEMI-K7MDENG-bPx%2FRfiCY%2BEXAMPLE", "echo: key=**redacted**"}, // query-escaped
		{"path /wJalrXUtnFEMI-K7MDENG-bPx%2FRfiCY+EXAMPLE/x", "path /**redacted**/x"},       // path-escaped
		{"token-1234 and token-1234", "**redacted** and **redacted**"},
		{"abc is too short to redact", "abc is too short to redact"},
		{"nothing secret", "nothing secret"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (redact.Redactor{}).String("x " + secret); got != "x "+secret {
		t.Errorf("the zero Redactor changed its input: %q", got)
	}
}

// A longer secret that contains a shorter one is replaced whole, not
// broken up by the shorter one's replacement.
func TestRedactorLongestFirst(t *testing.T) {
	r := redact.New("pass", "password-9876")
	if got := r.String("x password-9876 y pass z"); got != "x **redacted** y **redacted** z" {
		t.Errorf("got %q", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	type config struct {
		User string
		Key  redact.Secret
	}
	c := config{User: "u", Key: secret}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("c", "cfg", c, "key", c.Key)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("c", "cfg", c, "key", c.Key)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c.Key, c.Key), logs.String(), string(js),
		fmt.Errorf("wrapped: %v", c).Error(),
	} {
		if strings.Contains(out, secret) || !strings.Contains(out, redact.Marker) {
			t.Errorf("secret printed or no marker: %s", out)
		}
	}
	if string(c.Key) != secret {
		t.Errorf("string(Secret) = %q, want the value", string(c.Key))
	}
}
