package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CDSOptions configure the CDS emulator; NewCDS copies them.
type CDSOptions struct {
	// Prefix is where the handler is mounted; the API base (the entry URL)
	// is server URL + Prefix + "/api".
	Prefix string
	// Token is the one valid PRIVATE-TOKEN. Requests without it get 401
	// "Authentication required", with another token 401 as well.
	Token string
	// Accepted and Running are how long a new job stays in each state
	// before it ends (successful, or failed for a dataset with Fail set).
	Accepted, Running time.Duration
	// FileBase, when set, is where result hrefs point: FileBase +
	// "/<dataset>/<filename>"; the test serves the files (see Files). When
	// empty the emulator serves them under Prefix + "/download/".
	FileBase string
}

// CDSDataset is one retrievable dataset. AddDataset keeps Data, which the
// caller must not change afterwards.
type CDSDataset struct {
	// Licences the account must have accepted; AcceptLicences accepts them.
	Licences []string
	// Fail, when set, makes every job of the dataset fail with this
	// traceback.
	Fail string
	// Data is the result file; when nil, Size deterministic bytes.
	Data        []byte
	Size        int64
	Filename    string // default "<dataset>.nc"
	ContentType string // default "application/netcdf"
}

// CDSJob is a job as the emulator recorded it; Jobs hands out copies.
type CDSJob struct {
	ID      string
	Dataset string
	Inputs  map[string]any
	Created time.Time
	// Polls counts status requests for the job.
	Polls     int
	dismissed bool
}

// CDS emulates the Copernicus data stores' retrieve API (CADS, 2024+), an
// OGC API - Processes service at <base>/api/retrieve/v1: POST
// processes/<dataset>/execution with {"inputs": ...}, the job lifecycle
// accepted -> running -> successful or failed polled at jobs/<id>, the
// results document, DELETE to dismiss, licence and PRIVATE-TOKEN checks with
// the API's problem+json errors, and the result download. It is an
// http.Handler; all methods are safe for concurrent use, also while
// requests are served.
type CDS struct {
	opts CDSOptions

	mu       sync.Mutex
	datasets map[string]CDSDataset
	accepted map[string]bool
	jobs     map[string]*CDSJob
	order    []string
	now      func() time.Time
}

// NewCDS returns a CDS emulator without datasets.
func NewCDS(opts CDSOptions) *CDS {
	return &CDS{
		opts:     opts,
		datasets: map[string]CDSDataset{},
		accepted: map[string]bool{},
		jobs:     map[string]*CDSJob{},
		now:      time.Now,
	}
}

// AddDataset adds or replaces a dataset.
func (c *CDS) AddDataset(id string, d CDSDataset) {
	if d.Data == nil {
		d.Data = patternBytes("cds:"+id, d.Size)
	}
	if d.Filename == "" {
		d.Filename = id + ".nc"
	}
	if d.ContentType == "" {
		d.ContentType = "application/netcdf"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.datasets[id] = d
}

// AcceptLicences records licences as accepted by the token's account.
func (c *CDS) AcceptLicences(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.accepted[id] = true
	}
}

// Data is a dataset's result file content.
func (c *CDS) Data(dataset string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.datasets[dataset].Data
}

// Files maps "<dataset>/<filename>" to content, for tests that serve the
// results from a shared server at FileBase.
func (c *CDS) Files() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	for id, d := range c.datasets {
		out[id+"/"+d.Filename] = d.Data
	}
	return out
}

// Jobs is a copy of the submitted jobs, oldest first.
func (c *CDS) Jobs() []CDSJob {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CDSJob, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, *c.jobs[id])
	}
	return out
}

// ServeHTTP answers the API below Prefix; anything else is a 404 problem.
func (c *CDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, c.opts.Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/download/"); ok && c.opts.FileBase == "" {
		c.download(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(p, "/api/retrieve/v1/")
	if !ok {
		cdsProblem(w, r, http.StatusNotFound, "not found", "not found", "")
		return
	}
	if !c.authorised(w, r) {
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[0] == "processes" && parts[2] == "execution" && r.Method == http.MethodPost:
		c.execute(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "jobs" && r.Method == http.MethodGet:
		c.status(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "jobs" && r.Method == http.MethodDelete:
		c.dismiss(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "results" && r.Method == http.MethodGet:
		c.results(w, r, parts[1])
	default:
		cdsProblem(w, r, http.StatusNotFound, "not found", "not found", "")
	}
}

// authorised answers 401 the way the API does when the token is missing or
// refused. The token itself never appears in a reply.
func (c *CDS) authorised(w http.ResponseWriter, r *http.Request) bool {
	tok := r.Header.Get("PRIVATE-TOKEN")
	switch {
	case tok == "":
		cdsProblem(w, r, http.StatusUnauthorized, "permission denied", "permission denied", "Authentication required")
		return false
	case tok != c.opts.Token:
		cdsProblem(w, r, http.StatusUnauthorized, "permission denied", "permission denied", "Authentication failed")
		return false
	}
	return true
}

func (c *CDS) execute(w http.ResponseWriter, r *http.Request, dataset string) {
	var body struct {
		Inputs map[string]any `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Inputs == nil {
		cdsProblem(w, r, http.StatusUnprocessableEntity, "invalid parameter", "invalid parameter", `the body must be {"inputs": {...}}`)
		return
	}
	c.mu.Lock()
	d, ok := c.datasets[dataset]
	var missing []string
	for _, l := range d.Licences {
		if !c.accepted[l] {
			missing = append(missing, l)
		}
	}
	c.mu.Unlock()
	if !ok {
		cdsProblem(w, r, http.StatusNotFound, "no such process", "process not found", fmt.Sprintf("dataset %s not found", dataset))
		return
	}
	if len(missing) > 0 {
		portal := mountURL(r, c.opts.Prefix)
		cdsProblem(w, r, http.StatusForbidden, "permission denied", "required licences not accepted",
			fmt.Sprintf("Not all the required licences have been accepted; please visit %s/datasets/%s?tab=download#manage-licences to accept the required licence(s).", portal, dataset))
		return
	}
	var idb [16]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:4]) + "-" + hex.EncodeToString(idb[4:6]) + "-" + hex.EncodeToString(idb[6:8]) + "-" + hex.EncodeToString(idb[8:10]) + "-" + hex.EncodeToString(idb[10:])
	j := &CDSJob{ID: id, Dataset: dataset, Inputs: body.Inputs, Created: c.now()}
	c.mu.Lock()
	c.jobs[id] = j
	c.order = append(c.order, id)
	info := c.statusInfo(r, j)
	c.mu.Unlock()
	api := mountURL(r, c.opts.Prefix) + "/api/retrieve/v1"
	info["links"] = []map[string]string{
		{"href": api + "/processes/" + dataset + "/execution", "rel": "self", "type": "application/json"},
		{"href": api + "/jobs/" + id, "rel": "monitor", "type": "application/json", "title": "job status info"},
	}
	w.Header().Set("Location", api+"/jobs/"+id)
	cdsJSON(w, http.StatusCreated, info)
}

// state is the job's status now; c.mu is held.
func (c *CDS) state(j *CDSJob) string {
	if j.dismissed {
		return "dismissed"
	}
	age := c.now().Sub(j.Created)
	switch {
	case age < c.opts.Accepted:
		return "accepted"
	case age < c.opts.Accepted+c.opts.Running:
		return "running"
	case c.datasets[j.Dataset].Fail != "":
		return "failed"
	}
	return "successful"
}

// statusInfo is the OGC status document; c.mu is held.
func (c *CDS) statusInfo(r *http.Request, j *CDSJob) map[string]any {
	st := c.state(j)
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }
	info := map[string]any{
		"processID": j.Dataset,
		"type":      "process",
		"jobID":     j.ID,
		"status":    st,
		"created":   ts(j.Created),
		"updated":   ts(c.now()),
		"metadata":  map[string]any{"request": map[string]any{"ids": j.Inputs}},
	}
	if st != "accepted" {
		info["started"] = ts(j.Created.Add(c.opts.Accepted))
	}
	if st == "successful" || st == "failed" {
		info["finished"] = ts(j.Created.Add(c.opts.Accepted + c.opts.Running))
	}
	return info
}

func (c *CDS) status(w http.ResponseWriter, r *http.Request, id string) {
	c.mu.Lock()
	j, ok := c.jobs[id]
	if !ok {
		c.mu.Unlock()
		cdsProblem(w, r, http.StatusNotFound, "no such job", "job not found", fmt.Sprintf("Can't find the job %s.", id))
		return
	}
	j.Polls++
	info := c.statusInfo(r, j)
	c.mu.Unlock()
	self := mountURL(r, c.opts.Prefix) + "/api/retrieve/v1/jobs/" + id
	links := []map[string]string{{"href": self, "rel": "self", "type": "application/json"}}
	if st := info["status"]; st == "successful" || st == "failed" {
		links = append(links, map[string]string{"href": self + "/results", "rel": "results"})
	}
	info["links"] = links
	cdsJSON(w, http.StatusOK, info)
}

func (c *CDS) dismiss(w http.ResponseWriter, r *http.Request, id string) {
	c.mu.Lock()
	j, ok := c.jobs[id]
	if ok {
		j.dismissed = true
	}
	var info map[string]any
	if ok {
		info = c.statusInfo(r, j)
	}
	c.mu.Unlock()
	if !ok {
		cdsProblem(w, r, http.StatusNotFound, "no such job", "job not found", fmt.Sprintf("Can't find the job %s.", id))
		return
	}
	cdsJSON(w, http.StatusOK, info)
}

func (c *CDS) results(w http.ResponseWriter, r *http.Request, id string) {
	c.mu.Lock()
	j, ok := c.jobs[id]
	var st string
	var d CDSDataset
	if ok {
		st = c.state(j)
		d = c.datasets[j.Dataset]
	}
	c.mu.Unlock()
	switch {
	case !ok:
		cdsProblem(w, r, http.StatusNotFound, "no such job", "job not found", fmt.Sprintf("Can't find the job %s.", id))
	case st == "accepted" || st == "running":
		cdsProblem(w, r, http.StatusNotFound, "results not ready", "job results not ready", fmt.Sprintf("Status of %s is %s.", id, st))
	case st == "failed":
		cdsProblem(w, r, http.StatusBadRequest, "RuntimeError", "job results failed", d.Fail)
	case st == "dismissed":
		cdsProblem(w, r, http.StatusNotFound, "no such job", "job not found", fmt.Sprintf("Can't find the job %s.", id))
	default:
		href := mountURL(r, c.opts.Prefix) + "/download/" + id + "/" + d.Filename
		if c.opts.FileBase != "" {
			href = c.opts.FileBase + "/" + j.Dataset + "/" + d.Filename
		}
		cdsJSON(w, http.StatusOK, map[string]any{"asset": map[string]any{"value": map[string]any{
			"type":            d.ContentType,
			"href":            href,
			"file:checksum":   fmt.Sprintf("%x", patternBytes(id, 16)),
			"file:size":       len(d.Data),
			"file:local_path": "s3://cache/" + id + "/" + d.Filename,
		}}})
	}
}

func (c *CDS) download(w http.ResponseWriter, r *http.Request, rest string) {
	id, name, _ := strings.Cut(rest, "/")
	c.mu.Lock()
	j, ok := c.jobs[id]
	var d CDSDataset
	if ok {
		d = c.datasets[j.Dataset]
		ok = c.state(j) == "successful" && d.Filename == name
	}
	c.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", d.ContentType)
	http.ServeContent(w, r, name, apiModTime, bytes.NewReader(d.Data))
}

func cdsProblem(w http.ResponseWriter, r *http.Request, code int, typ, title, detail string) {
	p := map[string]any{"type": typ, "title": title, "status": code, "instance": r.URL.String(), "trace_id": "emulated"}
	if detail != "" {
		p["detail"] = detail
	}
	cdsJSON(w, code, p)
}

func cdsJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
