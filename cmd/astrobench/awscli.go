package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/astroingest/astroingest/internal/versitygw"
)

// The AWS CLI's `aws s3 sync` is the read side's second peer, where it is
// installed: a training notebook's other stock way down from a bucket.
// It is given the same GETs in flight as pull (its
// s3.max_concurrent_requests counts requests across all files, as
// pullStreams does), ranged GETs of the same part size from two parts, as
// rclone's --multi-thread-cutoff, and path-style addressing for the
// loopback gateway. Like rclone it verifies nothing against the index.

// findAWS returns the AWS CLI at bin, or "" with the reason logged when it
// is not there or does not run: the peer is optional, rclone is not.
func findAWS(ctx context.Context, bin string, log *slog.Logger) (path, version string) {
	if bin == "" {
		return "", ""
	}
	path, err := exec.LookPath(bin)
	if err == nil {
		version = toolVersion(ctx, path, "--version")
	}
	if version == "" {
		log.Info("aws CLI not found or not runnable; the read side races rclone only", "aws", bin)
		return "", ""
	}
	return path, version
}

// awsPullArgs is `aws s3 sync` of w's prefix into dir.
func (e *env) awsPullArgs(bucketName string, w workload, dir string) []string {
	return []string{"s3", "sync", "s3://" + bucketName + "/" + strings.TrimSuffix(w.prefix(), "/"), dir,
		"--endpoint-url", e.gw.Endpoint, "--no-progress", "--only-show-errors"}
}

// awsPullEnv writes w's CLI configuration (the concurrency and part size
// are settings of a profile, not flags) and returns the environment that
// points the CLI at it with the gateway's credentials.
func (e *env) awsPullEnv(w workload) ([]string, error) {
	conf := fmt.Sprintf("[default]\nregion = %s\ns3 =\n  max_concurrent_requests = %d\n  multipart_threshold = %d\n  multipart_chunksize = %d\n  addressing_style = path\n",
		versitygw.Region, e.pullStreams(w), 2*e.partSize, e.partSize)
	path, err := writeFile(e.dir, "aws-"+w.name+".conf", conf)
	if err != nil {
		return nil, err
	}
	return []string{
		"AWS_CONFIG_FILE=" + path,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(e.dir, "no-aws-credentials"),
		"AWS_ACCESS_KEY_ID=" + e.gw.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.gw.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PROFILE=", "AWS_DEFAULT_PROFILE=", "AWS_CA_BUNDLE=", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=",
	}, nil
}

// reportPeers prints, under the table, each workload's figures for the
// peers the table has no column for (the AWS CLI), against astroingest's
// from the same rounds.
func (r *results) reportPeers(w io.Writer) {
	first := true
	for _, wl := range r.order {
		ai, peer := r.Samples[wl]["astroingest"], r.Samples[wl]["aws"]
		if len(ai) == 0 || len(peer) == 0 {
			continue
		}
		if first {
			fmt.Fprintf(w, "\nThe AWS CLI (%s), same rounds:\n", r.Meta.AWSVersion)
			first = false
		}
		wall := med(peer, func(s sample) float64 { return s.Wall })
		if ai[0].Bytes == 0 {
			ratio := pairMedian(ai, peer, func(a, b sample) float64 { return b.Wall / a.Wall })
			fmt.Fprintf(w, "  %s: aws s3 sync %s s; astroingest %sx faster; peak RSS %s MiB\n", wl, f2(wall), f2(ratio), f1(med(peer, rssMiB)))
			continue
		}
		ratio := pairMedian(ai, peer, func(a, b sample) float64 { return a.mibps() / b.mibps() })
		fmt.Fprintf(w, "  %s: aws s3 sync %s MiB/s (%s s); astroingest %sx; CPU %s s/GiB; peak RSS %s MiB\n",
			wl, f1(med(peer, sample.mibps)), f2(wall), f2(ratio), f2(med(peer, sample.cpuPerGiB)), f1(med(peer, rssMiB)))
	}
}
