package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/versitygw"
)

// TestAWSPullEnvMatchesPull: the AWS CLI gets pull's GETs in flight and
// part size, and nothing of the caller's AWS profile or endpoint.
func TestAWSPullEnvMatchesPull(t *testing.T) {
	e := &env{gw: &gateway{Gateway: &versitygw.Gateway{}}, workers: 4, concurrency: 4, partSize: 16 * mib, dir: t.TempDir()}
	ws := buildWorkloads(defaultSizes())
	one := ws["large"]
	one.files = one.files[:1] // one large object: its 4 ranged GETs only
	for _, tc := range []struct {
		w        workload
		inFlight string
	}{
		{ws["small"], "max_concurrent_requests = 16\n"},
		{one, "max_concurrent_requests = 4\n"},
	} {
		env, err := e.awsPullEnv(tc.w)
		if err != nil {
			t.Fatal(err)
		}
		var conf string
		for _, kv := range env {
			if p, ok := strings.CutPrefix(kv, "AWS_CONFIG_FILE="); ok {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				conf = string(b)
			}
		}
		for _, want := range []string{tc.inFlight, "multipart_chunksize = 16777216\n", "multipart_threshold = 33554432\n", "addressing_style = path\n"} {
			if !strings.Contains(conf, want) {
				t.Errorf("%s: config lacks %q:\n%s", tc.w.name, want, conf)
			}
		}
		for _, drop := range []string{"AWS_PROFILE=", "AWS_ENDPOINT_URL_S3=", "AWS_CA_BUNDLE="} {
			if !strings.Contains(strings.Join(env, "\n"), drop) {
				t.Errorf("%s: env does not clear %s", tc.w.name, drop)
			}
		}
	}
}

func TestReportPeers(t *testing.T) {
	for _, tc := range []struct {
		name string
		aws  []sample
		want []string // substrings; none means no section at all
	}{
		{"no peer", nil, nil},
		{"transfer", []sample{{Wall: 4, Bytes: 100 * mib}, {Wall: 2, Bytes: 100 * mib}},
			[]string{"The AWS CLI (aws-cli/1.0)", "pull-small: aws s3 sync 37.5 MiB/s (3.00 s); astroingest 4.00x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResults()
			r.Meta.AWSVersion = "aws-cli/1.0"
			r.add("pull-small", "astroingest", sample{Wall: 1, Bytes: 100 * mib})
			r.add("pull-small", "astroingest", sample{Wall: 0.5, Bytes: 100 * mib})
			for _, s := range tc.aws {
				r.add("pull-small", "aws", s)
			}
			var out bytes.Buffer
			r.reportPeers(&out)
			if len(tc.want) == 0 && out.Len() > 0 {
				t.Errorf("printed %q with no peer samples", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
