package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// gateway is a versitygw process (posix backend) on loopback. Each
// measured run gets a fresh bucket, whose directory is removed afterwards
// so that a long benchmark does not fill the disk.
type gateway struct {
	endpoint  string
	accessKey string
	secretKey string
	dir       string
	cmd       *exec.Cmd
	done      chan error
	client    *s3.Client
}

const gatewayRegion = "us-east-1"

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startGateway(ctx context.Context, bin, dir string) (*gateway, error) {
	g := &gateway{accessKey: "AK" + randHex(8), secretKey: randHex(20), dir: dir}
	var lastErr error
	// Picking a free port and releasing it races with other processes:
	// retry a few times.
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("versitygw: pick a port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if lastErr = g.launch(ctx, bin, addr); lastErr == nil {
			g.endpoint = "http://" + addr
			g.client = s3.New(s3.Options{
				Region:                     gatewayRegion,
				BaseEndpoint:               aws.String(g.endpoint),
				UsePathStyle:               true,
				Credentials:                credentials.NewStaticCredentialsProvider(g.accessKey, g.secretKey, ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
			})
			return g, nil
		}
	}
	return nil, fmt.Errorf("versitygw %s: %w", bin, lastErr)
}

func (g *gateway) launch(ctx context.Context, bin, addr string) error {
	log, err := os.Create(filepath.Join(g.dir, "..", "versitygw.log"))
	if err != nil {
		return err
	}
	// versitygw closes every connection after one response unless told
	// otherwise; S3 and R2 keep them alive, and so must the benchmark, or
	// both tools spend their time dialling (every request was a new TCP
	// connection).
	cmd := exec.Command(bin, "--port", addr, "--quiet", "--keep-alive", "posix", g.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.accessKey, "ROOT_SECRET_KEY="+g.secretKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); log.Close() }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("exited before answering on %s: %v (see versitygw.log)", addr, err)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return ctx.Err()
		default:
		}
		if resp, err := hc.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				g.cmd, g.done = cmd, done
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no answer on %s within 15s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	_ = os.RemoveAll(filepath.Join(g.dir, name))
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
	if g.cmd != nil {
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}
