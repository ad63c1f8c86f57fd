// Package redact owns how secrets are kept out of what astroingest prints
// and stores: URLs cleaned of credentials (URL, URLWithQuery), known secret
// values replaced in any text (Redactor), and a string type for credentials
// that never prints (Secret). Everything here is safe for concurrent use:
// the functions are pure and a Redactor is immutable once built.
package redact

import (
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Marker is what every redacted value is replaced with.
const Marker = "**redacted**"

// Secret is a credential that never prints: fmt's verbs (%v, %+v, %#v, %s,
// %q), slog and encoding/json all show Marker, so a config struct holding
// one can be logged or wrapped in an error without leaking it. Convert it
// with string(s) where the value is really needed.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return Marker }

// GoString implements fmt.GoStringer, for %#v.
func (Secret) GoString() string { return `"` + Marker + `"` }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Marker) }

// MarshalText implements encoding.TextMarshaler, for JSON and YAML.
func (Secret) MarshalText() ([]byte, error) { return []byte(Marker), nil }

// URL makes raw fit for a message or a log line: any userinfo (user and
// password) is removed and a query is replaced by "...", since some
// services carry keys in it. A fragment is kept. raw need not be a valid
// URL (a mistyped flag is echoed through here too): when it does not
// parse, everything up to the last '@' of the part before any '?' or '#'
// goes, and the query and fragment go, which may hide more than needed but
// never less.
func URL(raw string) string { return cleanURL(raw, false) }

// URLWithQuery is URL for records (manifests, indexes): the userinfo goes,
// the query stays, because it can name the object (as MAST's uri= does).
// Pass the result through a Redactor as well, for secrets in the query.
func URLWithQuery(raw string) string { return cleanURL(raw, true) }

func cleanURL(raw string, keepQuery bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return cutUnparsable(raw)
	}
	u.User = nil
	if u.RawQuery != "" && !keepQuery {
		u.RawQuery = "..."
	}
	return u.String()
}

// cutUnparsable cleans a string url.Parse refused, without trusting any
// structure in it.
func cutUnparsable(raw string) string {
	s, query := raw, false
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		s, query = raw[:i], raw[i] == '?'
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		prefix := ""
		if scheme, _, ok := strings.Cut(s[:at], "://"); ok {
			prefix = scheme + "://"
		}
		s = prefix + s[at+1:]
	}
	if query {
		s += "?..."
	}
	return s
}

// MinSecretLen is the shortest value a Redactor replaces: shorter ones
// guess in a few thousand tries anyway, and replacing every "abc" in a
// message would garble it beyond use.
const MinSecretLen = 4

// Redactor replaces every known secret value in a string. Errors from
// sources and transports may echo request URLs or bodies, so every detail
// that leaves the engine passes through one. A secret sent as a query
// parameter travels percent-encoded, and an echo of the request shows that
// form, so each secret is known in its raw, query-escaped and path-escaped
// forms. The zero Redactor replaces nothing. A Redactor is immutable and
// safe for concurrent use.
type Redactor struct{ secrets []string }

// New returns a Redactor for the given values; values shorter than
// MinSecretLen are ignored.
func New(secrets ...string) Redactor {
	var r Redactor
	for _, v := range secrets {
		if len(v) < MinSecretLen {
			continue
		}
		for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !slices.Contains(r.secrets, f) {
				r.secrets = append(r.secrets, f)
			}
		}
	}
	// Longest first, so no form is broken up by replacing a shorter one
	// inside it.
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// String returns s with every form of every secret replaced by Marker.
func (r Redactor) String(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, Marker)
	}
	return s
}
