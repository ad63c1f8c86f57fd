package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/internal/versitygw"
)

// gateway is a versitygw process (posix backend) on loopback. Each
// measured run gets a fresh bucket, whose directory is removed afterwards
// so that a long benchmark does not fill the disk.
type gateway struct {
	*versitygw.Gateway
	client *s3.Client
	log    *os.File
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startGateway starts bin with dir as its root; its output goes to
// versitygw.log next to dir.
func startGateway(ctx context.Context, bin, dir string) (*gateway, error) {
	log, err := os.Create(filepath.Join(dir, "..", "versitygw.log"))
	if err != nil {
		return nil, fmt.Errorf("versitygw log: %w", err)
	}
	// S3 and R2 keep connections alive, and so must the benchmark, or both
	// tools spend their time dialling.
	g, err := versitygw.Launch(ctx, bin, dir, versitygw.Options{KeepAlive: true, Log: log})
	if err != nil {
		log.Close()
		return nil, err
	}
	return &gateway{Gateway: g, client: g.Client(), log: log}, nil
}

// newBucket creates an empty bucket named after the run.
func (g *gateway) newBucket(ctx context.Context, label string) (string, error) {
	name := "b-" + label + "-" + randHex(4)
	if _, err := g.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", fmt.Errorf("create bucket %s: %w", name, err)
	}
	return name, nil
}

// dropBucket removes the bucket's directory from the posix root directly:
// deleting thousands of objects through the API would cost more than the
// measured run.
func (g *gateway) dropBucket(name string) {
	_ = os.RemoveAll(filepath.Join(g.Dir, name))
}

// countObjects lists the bucket under prefix: the check that a tool really
// mirrored every object and byte.
func (g *gateway) countObjects(ctx context.Context, bucket, prefix string) (n int, bytes int64, err error) {
	p := s3.NewListObjectsV2Paginator(g.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			n++
			bytes += aws.ToInt64(o.Size)
		}
	}
	return n, bytes, nil
}

func (g *gateway) stop() {
	g.Stop()
	g.log.Close()
}
