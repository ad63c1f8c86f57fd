package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/proctest"
)

// faultWorld is one row's world: a gateway bucket and the interrupt
// fixture (three small entries that finish at once, two big ones that
// upload as multipart for a few seconds).
type faultWorld struct {
	x *e2e
	f *interruptFixture
	// holder is a lease holder a row's fault names for its next run.
	holder string
}

// backfill is the fixture's run, with its summary on stdout.
var backfill = []string{"backfill", "--family", "small", "--family", "big", "--workers", "4", "--json"}

// Identities a Kubernetes pod passes to the run (see deploy/): the same
// Job's pod of index 0, and two successive Jobs of one CronJob.
var (
	jobPod   = []string{"JOB_NAME=astroingest-backfill", "JOB_UID=5f0c-uid-1", "JOB_COMPLETION_INDEX=0"}
	cronRun1 = []string{"CRONJOB_NAME=astroingest", "JOB_NAME=astroingest-29000000", "JOB_UID=uid-night-1", "JOB_COMPLETION_INDEX=0"}
	cronRun2 = []string{"CRONJOB_NAME=astroingest", "JOB_NAME=astroingest-29001440", "JOB_UID=uid-night-2", "JOB_COMPLETION_INDEX=0"}
)

// faultRow is one fault of the matrix. fault brings the world into it and
// returns the run the row judges, finished; the matrix then holds that run
// to wantExit (and wantReason in its summary), checks that no partial
// object is visible and that no multipart upload is left (unless
// keepsUploads: a busy run must not touch another holder's), and that the
// next run (next's env and args, the plain run when nil) converges and
// verify --deep passes. A row adds its own checks inside fault.
type faultRow struct {
	name       string
	fault      func(t *testing.T, w *faultWorld) *proc
	wantExit   int
	wantReason string
	// keepsUploads: the judged run leaves the uploads it found in place.
	keepsUploads bool
	next         func(w *faultWorld) (env, args []string)
}

// The fault matrix of issue 11: each row is a way a run can be cut short
// or kept out, and the promise is the same for all of them: the exit code
// says what happened, nothing partial is visible, nothing is left staged,
// and the next run converges to a mirror that verifies. The lease rows are
// here; other faults (login pages, odd names, DNS, redirects, MAST) are
// rows to add.
func TestE2EFaultMatrix(t *testing.T) {
	for _, row := range faultRows() {
		t.Run(row.name, func(t *testing.T) { row.check(t) })
	}
}

// faultRows are the rows of TestE2EFaultMatrix.
func faultRows() []faultRow {
	return []faultRow{
		{
			name: "kill -9 of a Job's pod mid-upload, its replacement at once",
			fault: func(t *testing.T, w *faultWorld) *proc {
				killed := w.kill(t, w.f.startMidUploadWith(t, w.x, jobPod))
				return w.takeOver(t, jobPod, killed.Holder)
			},
			wantExit: exitOK,
		},
		{
			name: "the bucket goes away mid-run and comes back; the CronJob's next run at once",
			fault: func(t *testing.T, w *faultWorld) *proc {
				p := w.f.startMidUploadWith(t, w.x, cronRun1)
				w.x.gw.Stop()
				if code := p.wait(t, 120*time.Second); code != exitFailed {
					t.Fatalf("the run whose bucket went away: exit %d, want %d\n%s", code, exitFailed, tail(p.stderr.String()))
				}
				if err := w.x.gw.Restart(w.x.ctx()); err != nil {
					t.Fatal(err)
				}
				return w.takeOver(t, cronRun2, w.deadLease(t, "the outage").Holder)
			},
			wantExit: exitOK,
		},
		{
			name: "an overlapping run is busy",
			fault: func(t *testing.T, w *faultWorld) *proc {
				// The first run is held in its big downloads once the small
				// entries are recorded, so that the bucket stands still
				// while the second run tries.
				gate := make(chan struct{})
				w.f.srv.ClearFaults()
				w.f.srv.Fault("/big/*.nc", emulator.Fault{Kind: emulator.Hold, Until: gate, Method: http.MethodGet})
				first := w.x.start(backfill...)
				proctest.WaitFor(t, 20*time.Second, "the first run's small entries and held downloads", func() bool {
					return len(w.x.list(ingest.ManifestPrefix)) == 3 && w.f.srv.Inflight() == 2
				})
				before, requests := w.x.list(""), w.f.srv.TotalRequests()
				r := w.x.run(exitBusy, backfill...)
				if !strings.Contains(r.stderr.String(), "busy") {
					t.Errorf("the busy run does not say so:\n%s", tail(r.stderr.String()))
				}
				w.unchanged(t, before, "the busy run")
				if n := w.f.srv.TotalRequests() - requests; n != 0 {
					t.Errorf("the busy run made %d source requests", n)
				}
				close(gate)
				if code := first.wait(t, 60*time.Second); code != exitOK {
					t.Errorf("the first run: exit %d\n%s", code, tail(first.stderr.String()))
				}
				return r
			},
			wantExit: exitBusy,
		},
		{
			name: "the lease is lost mid-run",
			fault: func(t *testing.T, w *faultWorld) *proc {
				p := w.f.startMidUpload(t, w.x, "--json", "--lease-ttl", "3s")
				thief := ingest.Lease{Holder: "elsewhere/pid-9/thief", RunID: "thief", Expires: time.Now().Add(time.Hour).UTC()}
				data, _ := json.Marshal(thief)
				if _, err := w.x.s3.PutObject(w.x.ctx(), &awss3.PutObjectInput{Bucket: aws.String(w.x.bucket), Key: aws.String(ingest.BucketLeaseKey), Body: bytes.NewReader(data)}); err != nil {
					t.Fatal(err)
				}
				// Renewed every second: the run notices at once.
				p.wait(t, 60*time.Second)
				if runs := w.x.list(ingest.RunPrefix); len(runs) != 0 {
					t.Errorf("the run that lost its lease wrote a run record: %v", slices.Collect(maps.Keys(runs)))
				}
				if got := len(w.x.list(ingest.ManifestPrefix)); got != 3 {
					t.Errorf("%d manifests after the loss, want only the 3 written before it", got)
				}
				var still ingest.Lease
				if w.x.getJSON(ingest.BucketLeaseKey, &still); still.Holder != thief.Holder {
					t.Errorf("the run that lost its lease touched it: now held by %q", still.Holder)
				}
				return p
			},
			wantExit:   exitFailed,
			wantReason: "lease_lost",
			next: func(w *faultWorld) (env, args []string) {
				return nil, []string{"--break-lease", "elsewhere/pid-9/thief"}
			},
		},
		{
			name: "kill -9 outside Kubernetes: busy until --break-lease",
			fault: func(t *testing.T, w *faultWorld) *proc {
				killed := w.kill(t, w.f.startMidUpload(t, w.x))
				before, uploads := w.x.list(""), w.x.uploads()
				r := w.x.run(exitBusy, backfill...)
				if !strings.Contains(r.stderr.String(), killed.Holder) || !strings.Contains(r.stderr.String(), "--break-lease") {
					t.Errorf("the busy run names neither the holder %q nor --break-lease:\n%s", killed.Holder, tail(r.stderr.String()))
				}
				w.unchanged(t, before, "the busy run")
				if got := w.x.uploads(); !slices.Equal(got, uploads) {
					t.Errorf("the busy run touched the dead run's uploads: %q, were %q", got, uploads)
				}
				w.holder = killed.Holder
				return r
			},
			wantExit:     exitBusy,
			keepsUploads: true,
			next: func(w *faultWorld) (env, args []string) {
				return nil, []string{"--break-lease", w.holder}
			},
		},
		{
			name: "kill -9 outside Kubernetes: the lease expires",
			fault: func(t *testing.T, w *faultWorld) *proc {
				killed := w.kill(t, w.f.startMidUpload(t, w.x))
				// The TTL is 10 minutes: the expiry is moved to the moment
				// of the kill, as if that time had passed.
				killed.Expires = time.Now().UTC()
				data, _ := json.Marshal(killed)
				if _, err := w.x.s3.PutObject(w.x.ctx(), &awss3.PutObjectInput{Bucket: aws.String(w.x.bucket), Key: aws.String(ingest.BucketLeaseKey), Body: bytes.NewReader(data)}); err != nil {
					t.Fatal(err)
				}
				return w.takeOver(t, nil, killed.Holder)
			},
			wantExit: exitOK,
		},
	}
}

// check runs the row in a world of its own and holds it to the matrix's
// promise.
func (row faultRow) check(t *testing.T) {
	w := &faultWorld{x: newE2E(t)}
	w.f = newInterruptFixture(t, w.x)
	r := row.fault(t, w)
	if r.code != row.wantExit {
		t.Fatalf("exit %d, want %d\n%s", r.code, row.wantExit, tail(r.stderr.String()))
	}
	if row.wantReason != "" {
		var rec ingest.RunRecord
		if err := json.Unmarshal([]byte(r.stdout.String()), &rec); err != nil {
			t.Fatalf("summary: %v\n%s", err, tail(r.stdout.String()))
		}
		if !slices.ContainsFunc(rec.Failures, func(f ingest.Failure) bool { return f.Reason == row.wantReason }) {
			t.Errorf("summary failures %+v, want one with reason %s", rec.Failures, row.wantReason)
		}
	}
	if u := w.x.uploads(); len(u) != 0 && !row.keepsUploads {
		t.Errorf("multipart uploads left: %q\n%s", u, w.uploadStory(r))
	}
	w.noPartialObject(t)

	var env, args []string
	if row.next != nil {
		env, args = row.next(w)
	}
	w.f.srv.ClearFaults()
	next := w.x.runWith(exitOK, env, append(slices.Clone(backfill), args...)...)
	w.f.checkBytes(t, w.x, append(slices.Clone(w.f.small), w.f.big...))
	if u := w.x.uploads(); len(u) != 0 {
		t.Errorf("multipart uploads left after the next run: %q\n%s", u, w.uploadStory(next))
	}
	if l := w.x.liveLeases(); len(l) != 0 {
		t.Errorf("live leases after the next run: %q", l)
	}
	w.x.run(exitOK, "verify", "--deep")
}

// uploadStory tells how an upload came to be left, for a failure to be
// read from CI's log alone: each upload's id and initiation time as the
// store reports them, and what run r logged about uploads and leases.
func (w *faultWorld) uploadStory(r *proc) string {
	var b strings.Builder
	out, err := w.x.s3.ListMultipartUploads(w.x.ctx(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(w.x.bucket)})
	if err != nil {
		fmt.Fprintf(&b, "list multipart uploads: %v\n", err)
	} else {
		for _, u := range out.Uploads {
			fmt.Fprintf(&b, "upload %s id %s initiated %s\n", aws.ToString(u.Key), aws.ToString(u.UploadId), aws.ToTime(u.Initiated).Format(time.RFC3339Nano))
		}
	}
	for _, l := range logLines(r.stderr.String()) {
		msg, _ := l["msg"].(string)
		if strings.Contains(msg, "upload") || strings.Contains(msg, "lease") || l["level"] != "INFO" {
			line, _ := json.Marshal(l)
			fmt.Fprintf(&b, "log: %s\n", line)
		}
	}
	return b.String()
}

// kill kills p with SIGKILL mid-upload and returns the lease it left.
func (w *faultWorld) kill(t *testing.T, p *proc) ingest.Lease {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("exit %d after SIGKILL, want death by signal", code)
	}
	if len(w.x.uploads()) == 0 {
		t.Fatal("no multipart upload left after kill -9; the test did not catch the run mid-upload")
	}
	return w.deadLease(t, "kill -9")
}

// deadLease returns the one live lease, that of the run the fault ended.
func (w *faultWorld) deadLease(t *testing.T, after string) ingest.Lease {
	t.Helper()
	leases := w.x.liveLeases()
	if len(leases) != 1 {
		t.Fatalf("live leases after %s: %q, want the dead run's", after, leases)
	}
	var l ingest.Lease
	w.x.getJSON(leases[0], &l)
	return l
}

// takeOver runs the backfill again at full speed with env, expecting it to
// take over holder's lease at once, and returns it.
func (w *faultWorld) takeOver(t *testing.T, env []string, holder string) *proc {
	t.Helper()
	w.f.srv.ClearFaults()
	r := w.x.runWith(exitOK, env, backfill...)
	for _, l := range logLines(r.stderr.String()) {
		if l["msg"] == "taking over the lease of a run that is gone" && l["holder"] == holder {
			return r
		}
	}
	t.Errorf("the run did not report taking over %s's lease:\n%s", holder, tail(r.stderr.String()))
	return r
}

// unchanged checks that the bucket holds what before held.
func (w *faultWorld) unchanged(t *testing.T, before map[string]objInfo, who string) {
	t.Helper()
	after := w.x.list("")
	for k, v := range after {
		if b, ok := before[k]; !ok || b.etag != v.etag {
			t.Errorf("%s wrote %s", who, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s removed %s", who, k)
		}
	}
}

// noPartialObject checks that every visible data object is one of the
// fixture's, byte-exact.
func (w *faultWorld) noPartialObject(t *testing.T) {
	t.Helper()
	for k := range w.x.dataObjects() {
		p, ok := w.f.paths[k]
		if !ok {
			t.Errorf("unexpected object %s", k)
			continue
		}
		if got, want := sha256Hex(w.x.get(k)), w.f.srv.SHA256(p); got != want {
			t.Errorf("%s is visible but not byte-exact", k)
		}
	}
}
