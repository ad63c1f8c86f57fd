package s3

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/redact"
)

const (
	// MiB is 2^20 bytes.
	MiB = 1 << 20
	// GiB is 2^30 bytes.
	GiB = 1 << 30

	// DefaultPartSize is the multipart part size when Config.PartSize is 0.
	// With an unknown stream length the part size cannot grow, so the largest
	// object a Put accepts without a SizeHint is MaxParts*PartSize
	// (10,000 × 16 MiB ≈ 156 GiB at the default).
	DefaultPartSize = 16 * MiB
	// MinPartSize and MaxPartSize are the S3 and R2 limits on every part but
	// the last.
	MinPartSize = 5 * MiB
	MaxPartSize = 5 * GiB
	// MaxParts is the S3 and R2 limit on parts per multipart upload.
	MaxParts = 10000
	// DefaultConcurrency is the number of parts in flight per upload.
	DefaultConcurrency = 4
	// DefaultMaxAttempts is how often a request is tried, the first try
	// included, when Config.MaxAttempts is 0: see "Retries" in the package
	// comment.
	DefaultMaxAttempts = 5
)

// Secret is a credential that never prints; it is redact.Secret, named
// here so that callers building a Config need not import the redact
// package.
type Secret = redact.Secret

// Config describes one bucket. The zero value of every optional field picks
// the default documented on it. Config holds no YAML tags: the command
// builds it, usually through ParseURL.
type Config struct {
	// Bucket is the bucket name. Required. A key prefix is not part of the
	// Config: ParseURL returns it apart, for bucket.WithPrefix.
	Bucket string
	// Endpoint is the service's base URL, e.g. https://ID.r2.cloudflarestorage.com.
	// Empty means AWS S3 for Region.
	Endpoint string
	// Region is the signing region ("auto" for R2). Required.
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET instead of
	// BUCKET.ENDPOINT. R2 and most S3-compatible servers want it.
	PathStyle bool

	// AccessKeyID and SecretAccessKey (and SessionToken for temporary
	// credentials) sign requests. Credentials, when set, replaces them.
	AccessKeyID     string
	SecretAccessKey Secret
	SessionToken    Secret
	Credentials     aws.CredentialsProvider

	// PartSize is the multipart part size (default DefaultPartSize, at least
	// MinPartSize). Puts with a SizeHint may use larger parts to stay within
	// MaxParts.
	PartSize int64
	// Concurrency bounds the parts in flight per Put (default 4). A Put holds
	// at most Concurrency+1 part buffers.
	Concurrency int
	// MaxAttempts bounds the tries of each request, the first included
	// (default DefaultMaxAttempts; 1 turns the SDK's retries off). It is
	// the whole retry budget of the bucket side: see "Retries" in the
	// package comment.
	MaxAttempts int

	// HTTPClient is used for every request. Nil builds one from
	// NewTransport(CABundle). When CABundle is set, HTTPClient's Transport
	// must be nil or an *http.Transport so the bundle can be loaded into it;
	// callers that wrap transports should wrap one from NewTransport.
	HTTPClient *http.Client
	// CABundle is a PEM file of extra trusted roots (AWS_CA_BUNDLE).
	CABundle string
	// Logger receives debug and info events (retried parts, aborted stale
	// uploads). Nil discards them. Secrets are never logged.
	Logger *slog.Logger
}

// FromEnv is ParseURL with the process environment.
func FromEnv(raw string) (cfg Config, prefix string, err error) { return ParseURL(raw, os.Getenv) }

var (
	bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	accountIDRE  = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
)

// ParseURL builds a Config from s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX]
// and the environment read through getenv (os.Getenv when nil). It
// returns PREFIX apart, checked and without a trailing '/', or "": the
// caller applies it with bucket.WithPrefix (cmd's one stacking function
// does), since New builds a bucket without one. The variables read are:
//
//   - both: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (required),
//     AWS_SESSION_TOKEN, AWS_CA_BUNDLE;
//   - s3://: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), AWS_REGION (or
//     AWS_DEFAULT_REGION; required without an endpoint, else us-east-1).
//     Path-style addressing is used with a custom endpoint;
//   - r2://: R2_ACCOUNT_ID (required), giving the endpoint
//     https://<id>.r2.cloudflarestorage.com, region auto, path-style.
//
// Errors name the missing or malformed variable, never a secret's value.
// ParseURL is safe for concurrent use when getenv is.
func ParseURL(raw string, getenv func(string) string) (cfg Config, prefix string, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	shown := redact.URL(raw)
	bad := func(format string, args ...any) (Config, string, error) {
		return Config{}, "", fmt.Errorf("bucket URL %q: %s", shown, fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("want s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX]")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "s3" && scheme != "r2" {
		return bad("unsupported scheme %q (want s3 or r2)", scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return bad("query and fragment are not supported")
	}
	name, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(name, "@") {
		return bad("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if name == "" {
		return bad("missing bucket name")
	}
	if !bucketNameRE.MatchString(name) || strings.Contains(name, "..") {
		return bad("invalid bucket name %q (3-63 lower-case letters, digits, '.' and '-')", name)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := bucket.ValidateKey(prefix); err != nil {
			return bad("prefix: %v", err)
		}
	}

	cfg = Config{
		Bucket:          name,
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: Secret(getenv("AWS_SECRET_ACCESS_KEY")),
		SessionToken:    Secret(getenv("AWS_SESSION_TOKEN")),
		CABundle:        getenv("AWS_CA_BUNDLE"),
	}
	var missing []string
	if cfg.AccessKeyID == "" {
		missing = append(missing, "AWS_ACCESS_KEY_ID")
	}
	if cfg.SecretAccessKey == "" {
		missing = append(missing, "AWS_SECRET_ACCESS_KEY")
	}

	switch scheme {
	case "r2":
		id := getenv("R2_ACCOUNT_ID")
		if id == "" {
			missing = append(missing, "R2_ACCOUNT_ID")
		} else if !accountIDRE.MatchString(id) {
			return bad("R2_ACCOUNT_ID is not a Cloudflare account ID (letters and digits only)")
		}
		if len(missing) > 0 {
			return bad("missing environment variable(s) %s", strings.Join(missing, ", "))
		}
		cfg.Endpoint = "https://" + id + ".r2.cloudflarestorage.com"
		cfg.Region = "auto"
		cfg.PathStyle = true
	case "s3":
		if len(missing) > 0 {
			return bad("missing environment variable(s) %s", strings.Join(missing, ", "))
		}
		if problem := cfg.s3Endpoint(getenv); problem != "" {
			return bad("%s", problem)
		}
	}
	return cfg, prefix, nil
}

// s3Endpoint sets the endpoint, addressing and region of an s3:// bucket
// from the environment, or says what is wrong with it.
func (cfg *Config) s3Endpoint(getenv func(string) string) (problem string) {
	endpointVar := "AWS_ENDPOINT_URL_S3"
	cfg.Endpoint = getenv(endpointVar)
	if cfg.Endpoint == "" {
		endpointVar = "AWS_ENDPOINT_URL"
		cfg.Endpoint = getenv(endpointVar)
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return endpointVar + " is not an http(s) URL without credentials"
		}
		cfg.PathStyle = true
	}
	cfg.Region = getenv("AWS_REGION")
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_DEFAULT_REGION")
	}
	if cfg.Region == "" {
		if cfg.Endpoint == "" {
			return "AWS_REGION is not set (required for AWS S3; set AWS_ENDPOINT_URL_S3 for another S3 service)"
		}
		cfg.Region = "us-east-1"
	}
	return ""
}
