package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket/s3"
)

const secretValue = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseURL(t *testing.T) {
	creds := []string{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY", secretValue}
	with := func(kv ...string) func(string) string { return env(append(append([]string{}, creds...), kv...)...) }
	for _, tc := range []struct {
		name    string
		raw     string
		getenv  func(string) string
		want    s3.Config // compared on the non-secret fields
		prefix  string    // the prefix ParseURL returns apart
		wantErr []string  // substrings the error must contain
	}{
		{name: "s3 aws", raw: "s3://my-bucket/some/prefix", getenv: with("AWS_REGION", "eu-west-1"),
			want: s3.Config{Bucket: "my-bucket", Region: "eu-west-1"}, prefix: "some/prefix"},
		{name: "s3 trailing slash", raw: "s3://my-bucket/p/", getenv: with("AWS_REGION", "eu-west-1"),
			want: s3.Config{Bucket: "my-bucket", Region: "eu-west-1"}, prefix: "p"},
		{name: "s3 default region var", raw: "s3://my-bucket", getenv: with("AWS_DEFAULT_REGION", "us-west-2"),
			want: s3.Config{Bucket: "my-bucket", Region: "us-west-2"}},
		{name: "s3 endpoint", raw: "s3://my-bucket", getenv: with("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7070"),
			want: s3.Config{Bucket: "my-bucket", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true}},
		{name: "s3 generic endpoint", raw: "s3://my-bucket", getenv: with("AWS_ENDPOINT_URL", "https://minio.local", "AWS_REGION", "x"),
			want: s3.Config{Bucket: "my-bucket", Endpoint: "https://minio.local", Region: "x", PathStyle: true}},
		{name: "s3 ca bundle", raw: "s3://my-bucket", getenv: with("AWS_REGION", "r", "AWS_CA_BUNDLE", "/etc/ca.pem"),
			want: s3.Config{Bucket: "my-bucket", Region: "r", CABundle: "/etc/ca.pem"}},
		{name: "r2", raw: "r2://mirror/astro", getenv: with("R2_ACCOUNT_ID", "0123456789abcdef0123456789abcdef"),
			want: s3.Config{Bucket: "mirror", Endpoint: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com", Region: "auto", PathStyle: true}, prefix: "astro"},
		{name: "R2 scheme case", raw: "R2://mirror", getenv: with("R2_ACCOUNT_ID", "abc"),
			want: s3.Config{Bucket: "mirror", Endpoint: "https://abc.r2.cloudflarestorage.com", Region: "auto", PathStyle: true}},

		{name: "r2 without account", raw: "r2://mirror", getenv: with(), wantErr: []string{"R2_ACCOUNT_ID"}},
		{name: "r2 bad account", raw: "r2://mirror", getenv: with("R2_ACCOUNT_ID", "evil.example.com/x"), wantErr: []string{"R2_ACCOUNT_ID"}},
		{name: "r2 nothing set", raw: "r2://mirror", getenv: env(), wantErr: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "R2_ACCOUNT_ID"}},
		{name: "no credentials", raw: "s3://my-bucket", getenv: env("AWS_REGION", "r"), wantErr: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}},
		{name: "no secret", raw: "s3://my-bucket", getenv: env("AWS_REGION", "r", "AWS_ACCESS_KEY_ID", "AK"), wantErr: []string{"AWS_SECRET_ACCESS_KEY"}},
		{name: "no region", raw: "s3://my-bucket", getenv: with(), wantErr: []string{"AWS_REGION"}},
		{name: "bad endpoint", raw: "s3://my-bucket", getenv: with("AWS_ENDPOINT_URL_S3", "ftp://x"), wantErr: []string{"AWS_ENDPOINT_URL_S3"}},
		{name: "endpoint with userinfo", raw: "s3://my-bucket", getenv: with("AWS_ENDPOINT_URL_S3", "http://u:"+secretValue+"@h"), wantErr: []string{"AWS_ENDPOINT_URL_S3"}},
		{name: "no scheme", raw: "my-bucket", getenv: with(), wantErr: []string{"s3://BUCKET"}},
		{name: "file scheme", raw: "file://./mirror", getenv: with(), wantErr: []string{`unsupported scheme "file"`}},
		{name: "empty bucket", raw: "s3:///prefix", getenv: with(), wantErr: []string{"missing bucket name"}},
		{name: "upper-case bucket", raw: "s3://My_Bucket", getenv: with(), wantErr: []string{"invalid bucket name"}},
		{name: "short bucket", raw: "s3://ab", getenv: with(), wantErr: []string{"invalid bucket name"}},
		{name: "bad prefix", raw: "s3://my-bucket/a/../b", getenv: with(), wantErr: []string{"prefix", `".." segment`}},
		{name: "double slash prefix", raw: "s3://my-bucket/a//b", getenv: with(), wantErr: []string{"prefix"}},
		{name: "query", raw: "s3://my-bucket?region=x", getenv: with(), wantErr: []string{"query"}},
		{name: "userinfo", raw: "s3://AKID:" + secretValue + "@my-bucket", getenv: with(), wantErr: []string{"credentials do not belong in the URL", `"s3://my-bucket"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, prefix, err := s3.ParseURL(tc.raw, tc.getenv)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseURL(%q) = %+v, want an error", tc.raw, got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if strings.Contains(err.Error(), secretValue) {
					t.Errorf("error leaks the secret: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tc.raw, err)
			}
			if prefix != tc.prefix {
				t.Errorf("ParseURL(%q) prefix = %q, want %q", tc.raw, prefix, tc.prefix)
			}
			if got.AccessKeyID != "AKIDEXAMPLE" || string(got.SecretAccessKey) != secretValue {
				t.Errorf("credentials not taken from the environment")
			}
			got.AccessKeyID, got.SecretAccessKey = "", ""
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
				t.Errorf("ParseURL(%q) =\n%#v\nwant\n%#v", tc.raw, got, tc.want)
			}
		})
	}
}

// TestSecretNeverPrinted formats and logs a whole Config every way a
// careless caller might.
func TestSecretNeverPrinted(t *testing.T) {
	cfg := s3.Config{Bucket: "b", AccessKeyID: "AK", SecretAccessKey: secretValue, SessionToken: secretValue}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "cfg", cfg, "secret", cfg.SecretAccessKey)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "cfg", cfg, "secret", cfg.SecretAccessKey)
	for _, out := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg.SecretAccessKey, cfg.SecretAccessKey),
		logBuf.String(),
	} {
		if strings.Contains(out, secretValue) {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, "redacted") {
			t.Fatalf("no redaction marker in %s", out)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := s3.Config{Bucket: "b", Region: "r", AccessKeyID: "AK", SecretAccessKey: "s"}
	for _, tc := range []struct {
		name    string
		mod     func(*s3.Config)
		wantErr string
	}{
		{"valid", func(*s3.Config) {}, ""},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, "bucket name is empty"},
		{"no region", func(c *s3.Config) { c.Region = "" }, "region is empty"},
		{"small parts", func(c *s3.Config) { c.PartSize = s3.MinPartSize - 1 }, "part size"},
		{"huge parts", func(c *s3.Config) { c.PartSize = s3.MaxPartSize + 1 }, "part size"},
		{"negative concurrency", func(c *s3.Config) { c.Concurrency = -1 }, "concurrency"},
		{"negative attempts", func(c *s3.Config) { c.MaxAttempts = -1 }, "max attempts"},
		{"no credentials", func(c *s3.Config) { c.AccessKeyID = ""; c.SecretAccessKey = "" }, "AWS_ACCESS_KEY_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := s3.New(context.Background(), c)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}
