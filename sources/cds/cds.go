// Package cds is the source kind for the Copernicus data stores (CDS, ADS,
// EWDS) through their 2024 "CADS" retrieve API, the OGC API - Processes
// dialect that ecmwf/cdsapi >= 0.7 and ecmwf-datastores-client speak:
//
//	POST {url}/retrieve/v1/processes/{dataset}/execution  {"inputs": {...}}
//	  -> 201 status info with jobID, status and a "monitor" link
//	GET  {monitor}  until status is successful (or failed, rejected, dismissed)
//	GET  {monitor}/results -> {"asset":{"value":{"href","file:size","type"}}}
//
// The PRIVATE-TOKEN header is added by the caller's transport. Licences are
// accepted per account on the web portal; until then the execution request
// answers 403 with title "required licences not accepted".
package cds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// Options tune the kind. Zero values take the defaults.
type Options struct {
	// CredentialEnv names the variable holding the token, for error
	// messages only (default CDS_API_KEY).
	CredentialEnv string
	// PollInitial is the first wait between status requests (default 1s);
	// each wait is 1.5 times the previous one, up to PollMax (default 60s),
	// as the official clients do.
	PollInitial time.Duration
	PollMax     time.Duration
	// MaxWait bounds the whole wait for one job (default 12h); past it the
	// entry fails with reason timeout. The CDS queue can hold requests for
	// hours.
	MaxWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.CredentialEnv == "" {
		o.CredentialEnv = "CDS_API_KEY"
	}
	if o.PollInitial <= 0 {
		o.PollInitial = time.Second
	}
	if o.PollMax <= 0 {
		o.PollMax = time.Minute
	}
	if o.PollMax < o.PollInitial {
		o.PollMax = o.PollInitial
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 12 * time.Hour
	}
	return o
}

// Kind submits one retrieve job per entry; it implements
// sources.KindValidator too. It is safe for concurrent use.
type Kind struct{ opts Options }

var _ sources.KindValidator = (*Kind)(nil)

// New returns the cds kind.
func New(opts Options) sources.Kind { return &Kind{opts: opts.withDefaults()} }

var datasetRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// statusInfo is the OGC API - Processes job status document.
type statusInfo struct {
	JobID  string `json:"jobID"`
	Status string `json:"status"`
	Links  []link `json:"links"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// problem is the error document of the API (RFC 7807 style).
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Traceback string `json:"traceback"`
}

func (p problem) message() string {
	var parts []string
	for _, s := range []string{p.Title, p.Traceback, p.Detail} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	msg := strings.Join(parts, ": ")
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	return msg
}

// parseRequest reads params dataset and request into the body of the
// execution request, for both Validate and Objects.
func parseRequest(params map[string]string) (dataset string, body []byte, err error) {
	dataset = params["dataset"]
	if !datasetRE.MatchString(dataset) {
		return "", nil, fmt.Errorf("cds: params dataset %q: want a dataset name, e.g. reanalysis-era5-single-levels", dataset)
	}
	var inputs map[string]any
	if err := json.Unmarshal([]byte(params["request"]), &inputs); err != nil || inputs == nil {
		return "", nil, fmt.Errorf("cds: params request must be a JSON object of the dataset's inputs: %v", err)
	}
	body, err = json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		return "", nil, fmt.Errorf("cds: encode params request: %w", err)
	}
	return dataset, body, nil
}

// Validate implements sources.KindValidator: dataset and request.
func (k *Kind) Validate(e sources.Entry) error {
	_, _, err := parseRequest(e.Params)
	return err
}

// Objects submits the entry's request, waits for the job and returns its
// single result file. Object.Name is empty: the entry key is the object key.
// The URL is the API base (e.g. https://cds.climate.copernicus.eu/api),
// checked by the loader.
func (k *Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	base := strings.TrimSuffix(e.URL, "/")
	dataset, body, err := parseRequest(e.Params)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	j := job{k: k, c: c, dataset: dataset}

	execURL := base + "/retrieve/v1/processes/" + url.PathEscape(dataset) + "/execution"
	var st statusInfo
	if err := j.do(ctx, http.MethodPost, execURL, body, &st); err != nil {
		return nil, err
	}
	if st.JobID == "" {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("cds: dataset %s: execution reply has no jobID", dataset)}
	}
	monitor := resolve(execURL, linkHref(st.Links, "monitor"))
	if monitor == "" {
		monitor = base + "/retrieve/v1/jobs/" + url.PathEscape(st.JobID)
	}
	j.id = st.JobID

	st, err = j.wait(ctx, monitor)
	if err != nil {
		return nil, err
	}
	resultsURL := resolve(monitor, linkHref(st.Links, "results"))
	if resultsURL == "" {
		resultsURL = monitor + "/results"
	}
	var res struct {
		Asset struct {
			Value struct {
				Href string `json:"href"`
				Size *int64 `json:"file:size"`
				Type string `json:"type"`
			} `json:"value"`
		} `json:"asset"`
	}
	if err := j.do(ctx, http.MethodGet, resultsURL, nil, &res); err != nil {
		return nil, err
	}
	v := res.Asset.Value
	href := resolve(resultsURL, v.Href)
	if href == "" {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("cds: job %s (dataset %s): results have no asset href", j.id, dataset)}
	}
	size := int64(-1)
	if v.Size != nil && *v.Size >= 0 {
		size = *v.Size
	}
	// file:checksum is the server's cache key, not a digest of the content,
	// so it is not offered as a publisher checksum.
	return []sources.Object{{URL: href, Size: size, ContentType: v.Type}}, nil
}

type job struct {
	k       *Kind
	c       *http.Client
	dataset string
	id      string
}

// wait polls the monitor URL with growing intervals until the job ends.
func (j *job) wait(ctx context.Context, monitor string) (statusInfo, error) {
	start := time.Now()
	delay := j.k.opts.PollInitial
	for {
		var st statusInfo
		if err := j.do(ctx, http.MethodGet, monitor, nil, &st); err != nil {
			return st, err
		}
		switch st.Status {
		case "successful":
			return st, nil
		case "accepted", "running":
		case "failed":
			return st, j.failure(ctx, monitor, st)
		case "rejected", "dismissed", "deleted":
			return st, &sources.FetchError{Reason: sources.ReasonJobFailed, Detail: fmt.Sprintf("cds: job %s (dataset %s) ended in state %q", j.id, j.dataset, st.Status)}
		default:
			return st, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("cds: job %s (dataset %s): unknown status %q", j.id, j.dataset, st.Status)}
		}
		if time.Since(start)+delay > j.k.opts.MaxWait {
			return st, &sources.FetchError{Reason: sources.ReasonTimeout, Detail: fmt.Sprintf("cds: job %s (dataset %s) still %s after %s", j.id, j.dataset, st.Status, j.k.opts.MaxWait.Round(time.Second))}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, fmt.Errorf("cds: waiting for job %s (dataset %s): %w", j.id, j.dataset, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*3/2, j.k.opts.PollMax)
	}
}

// failure fetches the results document of a failed job, which holds the
// error (400 with title and traceback), and turns it into job_failed.
func (j *job) failure(ctx context.Context, monitor string, st statusInfo) error {
	resultsURL := resolve(monitor, linkHref(st.Links, "results"))
	if resultsURL == "" {
		resultsURL = monitor + "/results"
	}
	_, raw, err := j.send(ctx, http.MethodGet, resultsURL, nil)
	if err != nil {
		return err
	}
	var p problem
	_ = json.Unmarshal(raw, &p)
	msg := p.message()
	if msg == "" {
		msg = "the server gave no reason"
	}
	return &sources.FetchError{Reason: sources.ReasonJobFailed, Detail: fmt.Sprintf("cds: job %s (dataset %s) failed: %s", j.id, j.dataset, msg)}
}

// do sends one request and decodes a 2xx JSON reply into out. Errors are
// classified from the status and the problem document.
func (j *job) do(ctx context.Context, method, u string, body []byte, out any) error {
	code, raw, err := j.send(ctx, method, u, body)
	if err != nil {
		return err
	}
	if code/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("cds: %s %s: reply is not JSON", method, u), Err: err}
		}
		return nil
	}
	return j.httpError(method, u, code, raw)
}

// send does one request and reads the reply (up to 1 MiB).
func (j *job) send(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("cds: %s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := j.c.Do(req)
	if err != nil {
		return 0, nil, sources.TransportError(ctx, "cds: "+method+" "+u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("cds: %s %s: read reply: %w", method, u, err)
	}
	return resp.StatusCode, raw, nil
}

func (j *job) httpError(method, u string, code int, raw []byte) error {
	var p problem
	_ = json.Unmarshal(raw, &p)
	msg := p.message()
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
	}
	what := "dataset " + j.dataset
	if j.id != "" {
		what = "job " + j.id + " (dataset " + j.dataset + ")"
	}
	lower := strings.ToLower(p.Title + " " + p.Detail)
	switch {
	case code == http.StatusForbidden && strings.Contains(lower, "licence"):
		return &sources.FetchError{
			Reason: sources.ReasonLicenceRequired,
			Detail: fmt.Sprintf("cds: dataset %s: required licences not accepted; sign in with the account of %s and accept them at %s",
				j.dataset, j.k.opts.CredentialEnv, licenceURL(u, j.dataset, p.Detail)),
		}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &sources.FetchError{
			Reason: sources.ReasonAuthMissing,
			Detail: fmt.Sprintf("cds: authentication failed for %s (is %s set to a valid personal access token?): HTTP %d: %s", what, j.k.opts.CredentialEnv, code, msg),
		}
	case code == http.StatusNotFound && j.id == "":
		return &sources.FetchError{Reason: sources.ReasonHTTP404, Detail: fmt.Sprintf("cds: dataset %s not found: %s %s: %s", j.dataset, method, u, msg)}
	}
	return &sources.FetchError{
		Reason: sources.StatusReason(code),
		Detail: fmt.Sprintf("cds: %s: %s %s: HTTP %d: %s", what, method, u, code, msg),
	}
}

var urlRE = regexp.MustCompile(`https?://[^\s"']+`)

// licenceURL is the page where the licences are accepted: the one the
// server names, or the portal's dataset page, which lives beside /api.
func licenceURL(reqURL, dataset, detail string) string {
	if m := urlRE.FindString(detail); m != "" {
		return strings.TrimRight(m, ".,;)")
	}
	pu, err := url.Parse(reqURL)
	if err != nil {
		return "the dataset's page"
	}
	root := pu.Path
	if i := strings.Index(root, "/retrieve/v1/"); i >= 0 {
		root = root[:i]
	}
	root = strings.TrimSuffix(root, "/api")
	return pu.Scheme + "://" + pu.Host + root + "/datasets/" + dataset + "?tab=download#manage-licences"
}

func linkHref(links []link, rel string) string {
	for _, l := range links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// resolve makes ref absolute against base; "" stays "".
func resolve(base, ref string) string {
	if ref == "" {
		return ""
	}
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}
