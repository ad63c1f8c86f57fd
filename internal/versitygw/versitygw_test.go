package versitygw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartServesBucket(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.Client()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("head bucket %s: %v", s.Bucket, err)
	}
	other := s.NewBucket(t)
	if other == s.Bucket {
		t.Fatalf("NewBucket returned the existing bucket %s", other)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(other)}); err != nil {
		t.Fatalf("head bucket %s: %v", other, err)
	}
}

// TestLaunchKeepAlive: the option decides whether a client's second
// request reuses the first one's connection (the benchmark depends on it).
func TestLaunchKeepAlive(t *testing.T) {
	bin := requireBinary(t)
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keepalive=", keep), func(t *testing.T) {
			g, err := Launch(context.Background(), bin, t.TempDir(), Options{KeepAlive: keep})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Stop()
			defer g.Stop() // a second Stop must not block
			hc := &http.Client{Timeout: 5 * time.Second}
			var reused []bool
			for range 2 {
				req, err := http.NewRequest(http.MethodGet, g.Endpoint+"/", nil)
				if err != nil {
					t.Fatal(err)
				}
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) },
				}))
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if len(reused) != 2 || reused[1] != keep {
				t.Errorf("second request reused its connection: %v, want %v", reused, keep)
			}
		})
	}
}

func TestLaunchCancelled(t *testing.T) {
	bin := requireBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if g, err := Launch(ctx, bin, t.TempDir(), Options{}); !errors.Is(err, context.Canceled) {
		if g != nil {
			g.Stop()
		}
		t.Fatalf("Launch on a cancelled context: %v, want context.Canceled", err)
	}
}

// requireBinary finds versitygw: optional on a laptop, required in CI.
func requireBinary(t *testing.T) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("versitygw not found in CI (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
		t.Skip("versitygw binary not found")
	}
	return bin
}

// After Restart the gateway answers on the same endpoint with the same
// credentials, and what was stored before is still there.
func TestRestartKeepsEndpointAndData(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("k")}, func(o *s3.Options) { o.RetryMaxAttempts = 1 }); err == nil {
		t.Fatal("a stopped gateway answered")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("k")}); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
