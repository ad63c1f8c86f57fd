package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wanLink is a toxiproxy server between both tools and versitygw, with a
// latency toxic on both streams and, optionally, a bandwidth toxic: the
// round trip users have to R2 from a cluster, which loopback hides.
type wanLink struct {
	cmd *exec.Cmd
	api string // http://127.0.0.1:PORT
	// Endpoint is the proxied S3 endpoint both tools are given.
	Endpoint string
}

// wanOptions are the link's settings; a zero Latency means no link.
type wanOptions struct {
	Latency time.Duration // each way
	RateKBs int64         // bandwidth toxic in KB/s each way; 0: none
	Bin     string        // toxiproxy's server binary
}

// toxiproxyBin finds the binary `go install
// github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0` installs (named server).
func toxiproxyBin(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	for _, name := range []string{"toxiproxy-server", "server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("toxiproxy not found; install with: go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0, or pass --toxiproxy")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startWAN starts toxiproxy and a proxy to upstream (host:port) with o's
// toxics on it.
func startWAN(ctx context.Context, o wanOptions, upstream, logPath string) (*wanLink, error) {
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(apiAddr)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Bin, "-host", host, "-port", port)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	w := &wanLink{cmd: cmd, api: "http://" + apiAddr}
	if err := w.setUp(ctx, o, upstream); err != nil {
		w.stop()
		return nil, fmt.Errorf("toxiproxy (log %s): %w", logPath, err)
	}
	return w, nil
}

func (w *wanLink) setUp(ctx context.Context, o wanOptions, upstream string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(w.api + "/version")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no answer on %s: %w", w.api, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	if err := w.post("/proxies", map[string]any{"name": "s3", "listen": listen, "upstream": upstream, "enabled": true}); err != nil {
		return err
	}
	ms := o.Latency.Milliseconds()
	for _, stream := range []string{"upstream", "downstream"} {
		if err := w.post("/proxies/s3/toxics", map[string]any{"name": "latency_" + stream, "type": "latency", "stream": stream,
			"attributes": map[string]any{"latency": ms, "jitter": 0}}); err != nil {
			return err
		}
		if o.RateKBs > 0 {
			if err := w.post("/proxies/s3/toxics", map[string]any{"name": "bandwidth_" + stream, "type": "bandwidth", "stream": stream,
				"attributes": map[string]any{"rate": o.RateKBs}}); err != nil {
				return err
			}
		}
	}
	w.Endpoint = "http://" + listen
	return nil
}

func (w *wanLink) post(path string, body any) error {
	data, _ := json.Marshal(body)
	resp, err := http.Post(w.api+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return nil
}

func (w *wanLink) stop() {
	if w.cmd.Process != nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
}

// describe is the link for the report's header.
func (o wanOptions) describe() string {
	if o.Latency == 0 {
		return "loopback"
	}
	s := "WAN: toxiproxy, " + o.Latency.String() + " each way"
	if o.RateKBs > 0 {
		s += ", " + strconv.FormatFloat(float64(o.RateKBs)*8/1e6, 'g', 3, 64) + " Gbit/s"
	}
	return s
}
