package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/proctest"
)

// Source keys and the S3 secret reach the services that need them
// and appear nowhere else: not on stdout or stderr (debug logging on), not
// in any object of the bucket, not in a /metrics scrape taken mid-run.
func TestE2ESecretsNeverLeak(t *testing.T) {
	x := newE2E(t)
	cds := newSource(t)
	ncbi := newSource(t)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cds.AddFile("/era/a.nc", randBytes(400, 20_000), mod)
	cds.AddFile("/era/slow.nc", randBytes(401, 150_000), mod)
	cds.Fault("/era/slow.nc", emulator.Fault{Kind: emulator.Slow, Method: http.MethodGet, BytesPerSecond: 100_000})
	ncbi.AddFile("/genomes/g1.fa", randBytes(402, 8_000), mod)
	ncbi.AddFile("/genomes/g2.fa", randBytes(403, 9_000), mod)
	ncbi.AddChecksumFile("/genomes/MD5SUM.txt", emulator.MD5Sum)

	markers := map[string]string{
		"CDS_API_KEY":           "cdsMARKER" + sha256Hex(randBytes(uint64(time.Now().UnixNano()), 8))[:16],
		"NCBI_API_KEY":          "ncbiMARKER" + sha256Hex(randBytes(uint64(time.Now().UnixNano())+1, 8))[:16],
		"AWS_SECRET_ACCESS_KEY": x.gw.SecretKey,
	}
	x.env = append(x.env, "CDS_API_KEY="+markers["CDS_API_KEY"], "NCBI_API_KEY="+markers["NCBI_API_KEY"])
	x.writeRegistry(registryYAML([]string{
		hostYAML(cds, 2, 200, "    credential: {env: CDS_API_KEY, header: PRIVATE-TOKEN, required: true}\n"),
		hostYAML(ncbi, 2, 200, "    credential: {env: NCBI_API_KEY, query: api_key}\n"),
	},
		fam{ID: "era", Domain: "climate", Kind: "http", Names: []string{"a", "slow"}, Key: "era/{n}.nc", URL: cds.URL() + "/era/{n}.nc"},
		fam{ID: "genomes", Domain: "biology", Kind: "manifest", Key: "genomes", URL: ncbi.URL() + "/genomes/MD5SUM.txt",
			Params: map[string]string{"format": "md5sum"}},
		fam{ID: "genomes-index", Domain: "biology", Kind: "index", Key: "genomes-index", URL: ncbi.URL() + "/genomes/",
			Params: map[string]string{"include": "*.fa"}},
		// A failure: its reason and detail go to the log and the run record.
		fam{ID: "missing", Domain: "biology", Kind: "http", Key: "missing.fa", URL: ncbi.URL() + "/genomes/missing.fa"},
	))

	p := x.start("backfill", "--source", "*", "--debug", "--json", "--metrics-listen", "127.0.0.1:0")
	addr := ""
	proctest.WaitFor(t, 10*time.Second, "the metrics listener's address in the log", func() bool {
		for _, l := range logLines(p.stderr.String()) {
			if l["msg"] == "serving metrics" {
				addr, _ = l["addr"].(string)
			}
		}
		return addr != ""
	})
	var scrapes bytes.Buffer
	for scraped := false; ; {
		select {
		case <-p.done:
		default:
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				scrapes.Write(body)
				scraped = scraped || bytes.Contains(body, []byte("astroingest_http_requests_total{"))
			}
			if !scraped {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		break
	}
	if !bytes.Contains(scrapes.Bytes(), []byte("astroingest_http_requests_total{")) {
		t.Fatalf("no scrape with request counts was taken while the run was live:\n%s", scrapes.String())
	}
	if code := p.wait(t, 30*time.Second); code != exitFailed {
		t.Fatalf("exit %d, want %d (the missing entry fails)\n%s", code, exitFailed, tail(p.stderr.String()))
	}

	// The keys were really sent, each to its own host only.
	sawHeader, sawQuery := false, false
	for _, r := range cds.RequestLog("/") {
		sawHeader = sawHeader || r.Header.Get("PRIVATE-TOKEN") == markers["CDS_API_KEY"]
		if strings.Contains(r.Query, markers["NCBI_API_KEY"]) {
			t.Errorf("the NCBI key was sent to the CDS host: %s?%s", r.Path, r.Query)
		}
	}
	for _, r := range ncbi.RequestLog("/") {
		sawQuery = sawQuery || strings.Contains(r.Query, "api_key="+markers["NCBI_API_KEY"])
		if r.Header.Get("PRIVATE-TOKEN") != "" {
			t.Errorf("the CDS key was sent to the NCBI host for %s", r.Path)
		}
	}
	if !sawHeader || !sawQuery {
		t.Fatalf("credentials not used: CDS header seen %v, NCBI query seen %v", sawHeader, sawQuery)
	}

	places := map[string][]byte{"stdout": []byte(p.stdout.String()), "stderr": []byte(p.stderr.String()), "/metrics": scrapes.Bytes()}
	all := x.list("")
	for k := range all {
		places["s3://"+x.bucket+"/"+k] = x.get(k)
	}
	var rec ingest.RunRecord
	if err := json.Unmarshal(places["stdout"], &rec); err != nil || len(rec.Failures) != 1 || rec.Failures[0].Entry != "missing" || rec.Counts.Done != 4 {
		t.Errorf("summary: %v, counts %+v failures %+v", err, rec.Counts, rec.Failures)
	}
	if len(all) < 10 { // 5 data objects, 5 manifests, catalog, run record
		t.Errorf("only %d objects in the bucket to search", len(all))
	}
	for where, b := range places {
		for name, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s's value appears in %s", name, where)
			}
		}
	}
}
