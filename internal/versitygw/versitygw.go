// Package versitygw starts a local Versity S3 Gateway (posix backend) for
// tests, so that the S3 bucket backend is proven against a real S3 server on
// loopback rather than against a mock.
package versitygw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Region is the region the gateway is started with.
const Region = "us-east-1"

// Server is a running gateway with one empty bucket.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	// Dir is the posix root; Dir/Bucket holds the objects.
	Dir string
}

// Binary returns the path of the versitygw executable: $PATH first, then
// $(go env GOPATH)/bin. It returns "" when neither has it.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for p := range strings.SplitSeq(gopath, string(os.PathListSeparator)) {
		if p == "" {
			continue
		}
		bin := filepath.Join(p, "bin", "versitygw")
		if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
			return bin
		}
	}
	return ""
}

// Start launches versitygw on a free loopback port with random root
// credentials, waits until it answers, creates a bucket and stops the
// gateway when the test ends. Without the binary it skips the test locally
// and fails it in CI (env CI non-empty), so a broken CI image is noticed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		const msg = "versitygw binary not found in PATH or $(go env GOPATH)/bin; install with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	dir := t.TempDir()
	s := &Server{
		Bucket:    "test-" + randHex(t, 6),
		AccessKey: "AK" + randHex(t, 8),
		SecretKey: randHex(t, 20),
		Dir:       dir,
	}

	// Picking a port then releasing it races with other processes, so retry
	// a few times if the gateway fails to bind.
	var lastErr error
	for range 5 {
		addr, err := freePort()
		if err != nil {
			t.Fatalf("versitygw: pick port: %v", err)
		}
		if err := s.launch(t, bin, addr); err != nil {
			lastErr = err
			continue
		}
		s.Endpoint = "http://" + addr
		s.createBucket(t)
		return s
	}
	t.Fatalf("versitygw: %v", lastErr)
	return nil
}

// launch starts the process and waits for it to answer HTTP.
func (s *Server) launch(t testing.TB, bin, addr string) error {
	t.Helper()
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", s.Dir)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY="+s.AccessKey,
		"ROOT_SECRET_KEY="+s.SecretKey,
	)
	var out syncBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("exited before answering (%v): %s", err, out.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				t.Cleanup(stop)
				return nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("no answer on %s within 15s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a plain SDK client for the gateway, for assertions that go
// around the code under test (listing multipart uploads, raw heads).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		// Same settings as the backend: no default CRC32 headers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates another empty bucket on the same gateway and returns its
// name, for tests that need isolation without a second process.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "test-" + randHex(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("versitygw: create bucket %s: %v", name, err)
	}
	return name
}

func (s *Server) createBucket(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("versitygw: create bucket %s: %v", s.Bucket, err)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("versitygw: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects the gateway's output for error messages; the process
// writes to it from its own goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
