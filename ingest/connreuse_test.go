package ingest

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// countingProxy forwards loopback TCP to target and counts the connections
// it accepts: what the bucket's server sees of a client's connection pool.
type countingProxy struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn // to close at the end: idle keep-alive ones stay open
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(c, target) })
		}
	})
	return p
}

func (p *countingProxy) pipe(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// TestConnectionReuse runs 5,000 small objects into versitygw through a
// counting proxy: the run keeps its connections to the bucket alive and
// reuses them, so it opens about as many as it has transfers at once, not
// one per object. Go's net/http dials a new connection for a request that
// finds none idle, even when one is about to come free; under load that
// race costs a few extra dials, hence the quarter of slack.
func TestConnectionReuse(t *testing.T) {
	const n = 5000
	// Kept alive, as S3 and R2 do; by default versitygw closes every
	// connection after one response.
	gw := versitygw.StartWith(t, versitygw.Options{KeepAlive: true})
	proxy := startCountingProxy(t, gw.Endpoint[len("http://"):])
	b, err := s3.New(context.Background(), s3.Config{
		Bucket: gw.Bucket, Endpoint: "http://" + proxy.ln.Addr().String(), Region: versitygw.Region, PathStyle: true,
		AccessKeyID: gw.AccessKey, SecretAccessKey: s3.Secret(gw.SecretKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, e := bigEntry(t, n)
	c := bigConfig(b, srv, e)
	c.Workers, c.SmallWorkers = 4, 16
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.ObjectsUploaded != n {
		t.Fatalf("uploaded %d objects, want %d: %+v", rec.Counts.ObjectsUploaded, n, rec.Failures)
	}
	conc := int64(c.Workers + c.SmallWorkers)
	got := proxy.accepted.Load()
	t.Logf("%d objects over %d connections at concurrency %d", n, got, conc)
	if got > conc+conc/4 {
		t.Errorf("the run opened %d connections to the bucket for %d objects, want at most %d (concurrency %d plus a quarter)", got, n, conc+conc/4, conc)
	}
}
