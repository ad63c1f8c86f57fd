// Package versitygw starts a local Versity S3 Gateway (posix backend) for
// tests, so that the S3 bucket backend is proven against a real S3 server on
// loopback rather than against a mock, and for cmd/astrobench (Launch).
package versitygw

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
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

// Options configure Launch.
type Options struct {
	// KeepAlive keeps client connections open between requests, as S3 and
	// R2 do. Without it versitygw closes every connection after one
	// response, and a client measured against it spends its time dialling.
	KeepAlive bool
	// Log, if set, also receives the gateway's output for its whole life;
	// the start of it is always kept for the error of a failed start.
	Log io.Writer
	// TLS serves HTTPS (versitygw --cert, --key) with a fresh self-signed
	// certificate for 127.0.0.1, whose PEM is at Gateway.CAFile, for
	// tests of AWS_CA_BUNDLE and of requests over TLS.
	TLS bool
}

// Gateway is a running versitygw process (posix backend) on loopback with
// random root credentials. Stop it when done.
type Gateway struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint  string
	AccessKey string
	SecretKey string
	// Dir is the posix root; Dir/<bucket> holds a bucket's objects.
	Dir string
	// CAFile is the PEM of the certificate the gateway serves with
	// Options.TLS (its --cert); "" without.
	CAFile  string
	keyFile string
	// roots holds that certificate, for the gateway's own clients.
	roots *x509.CertPool

	cmd      *exec.Cmd
	done     chan error
	stopOnce sync.Once
	// bin and opts are what Launch was given, for Restart.
	bin  string
	opts Options
}

// Server is a running gateway with one empty bucket, stopped when the test
// that started it ends.
type Server struct {
	*Gateway
	Bucket string
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
	return StartWith(t, Options{})
}

// StartWith is Start with options (KeepAlive, say).
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		const msg = "versitygw binary not found in PATH or $(go env GOPATH)/bin; install with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	g, err := Launch(context.Background(), bin, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	s := &Server{Gateway: g, Bucket: "test-" + randHex(6)}
	s.createBucket(t)
	return s
}

// Launch starts bin on a free loopback port with dir as its posix root and
// waits until it answers. A cancelled ctx stops the waiting (and the
// process); once started, the process runs until Stop.
func Launch(ctx context.Context, bin, dir string, opts Options) (*Gateway, error) {
	g := &Gateway{AccessKey: "AK" + randHex(8), SecretKey: randHex(20), Dir: dir, bin: bin, opts: opts}
	if opts.TLS {
		if err := g.makeCert(); err != nil {
			return nil, fmt.Errorf("versitygw: %w", err)
		}
	}
	// Picking a port then releasing it races with other processes, so retry
	// a few times if the gateway fails to bind.
	var lastErr error
	for range 5 {
		addr, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("versitygw: pick a port: %w", err)
		}
		if lastErr = g.launch(ctx, bin, addr, opts); lastErr == nil {
			g.Endpoint = g.scheme() + addr
			return g, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("versitygw %s: %w", bin, lastErr)
}

// launch starts the process and waits for it to answer HTTP.
func (g *Gateway) launch(ctx context.Context, bin, addr string, opts Options) error {
	args := []string{"--port", addr, "--quiet"}
	if opts.KeepAlive {
		args = append(args, "--keep-alive")
	}
	if opts.TLS {
		args = append(args, "--cert", g.CAFile, "--key", g.keyFile)
	}
	cmd := exec.Command(bin, append(args, "posix", g.Dir)...)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY="+g.AccessKey,
		"ROOT_SECRET_KEY="+g.SecretKey,
	)
	var out syncBuffer
	var w io.Writer = &out
	if opts.Log != nil {
		w = io.MultiWriter(&out, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func() {
		_ = cmd.Process.Kill()
		<-done
	}

	client := &http.Client{Timeout: time.Second, Transport: g.transport()}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("exited before answering on %s (%v): %s", addr, err, out.String())
		case <-ctx.Done():
			kill()
			return ctx.Err()
		default:
		}
		resp, err := client.Get(g.scheme() + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				g.cmd, g.done = cmd, done
				return nil
			}
		}
		if time.Now().After(deadline) {
			kill()
			return fmt.Errorf("no answer on %s within 15s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the gateway and waits for it to exit. It may be called more
// than once.
func (g *Gateway) Stop() {
	g.stopOnce.Do(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
}

// Restart starts the gateway again after Stop, on the same address, root
// and credentials, as a server coming back after an outage: clients keep
// their endpoint, and the buckets, objects and unfinished multipart uploads
// in the root are still there. It must not run concurrently with Stop.
func (g *Gateway) Restart(ctx context.Context) error {
	g.Stop()
	g.stopOnce = sync.Once{}
	addr := strings.TrimPrefix(g.Endpoint, g.scheme())
	var err error
	// The port was ours a moment ago; another process may bind it first,
	// which a retry will not fix, but a slow release of the socket will be.
	for range 5 {
		if err = g.launch(ctx, g.bin, addr, g.opts); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		// Leave a Gateway that Stop can still be called on.
		g.stopOnce.Do(func() {})
		return fmt.Errorf("versitygw restart on %s: %w", addr, err)
	}
	return nil
}

// Client returns a plain SDK client for the gateway, for assertions that go
// around the code under test (listing multipart uploads, raw heads).
func (g *Gateway) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(g.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(g.AccessKey, g.SecretKey, ""),
		HTTPClient:   &http.Client{Transport: g.transport()},
		// Same settings as the backend: no default CRC32 headers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates another empty bucket on the same gateway and returns its
// name, for tests that need isolation without a second process.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "test-" + randHex(6)
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

// randHex returns n random bytes in hex. crypto/rand.Read does not fail
// (it crashes the program instead, since Go 1.24).
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
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
