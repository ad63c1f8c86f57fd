package annotations

import (
	"time"

	"github.com/astroingest/astroingest/sources"
)

// Record is one mirrored object: where it is, where it came from and how
// to check it. Its JSON form is the same in both format versions.
type Record struct {
	Key               string            `json:"key"`
	SourceURL         string            `json:"source_url"`
	Size              int64             `json:"size"`
	SHA256            string            `json:"sha256"`
	PublisherChecksum *sources.Checksum `json:"publisher_checksum,omitempty"`
	SourceETag        string            `json:"source_etag,omitempty"`
	LastModified      string            `json:"last_modified,omitempty"`
	ContentType       string            `json:"content_type,omitempty"`
	RetrievedAt       time.Time         `json:"retrieved_at"`
	RunID             string            `json:"run_id"`
}

// Equal reports whether two records say the same thing.
func (r Record) Equal(o Record) bool {
	if (r.PublisherChecksum == nil) != (o.PublisherChecksum == nil) ||
		r.PublisherChecksum != nil && *r.PublisherChecksum != *o.PublisherChecksum {
		return false
	}
	r.PublisherChecksum, o.PublisherChecksum = nil, nil
	return r.RetrievedAt.Equal(o.RetrievedAt) && r.withoutTime() == o.withoutTime()
}

func (r Record) withoutTime() Record {
	r.RetrievedAt = time.Time{}
	return r
}

// Meta is the entry's description, copied from its family into every
// head so that a head read alone says what the data is and how to cite it.
type Meta struct {
	ID       string `json:"id"`
	Family   string `json:"family"`
	Domain   string `json:"domain"`
	Kind     string `json:"kind,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	Title    string `json:"title"`
	Provider string `json:"provider"`
	License  string `json:"license"`
	Citation string `json:"citation"`
	DOI      string `json:"doi,omitempty"`
	Homepage string `json:"homepage,omitempty"`
}

// MetaOf is the Meta of a registry entry.
func MetaOf(e sources.Entry) Meta {
	return Meta{
		ID: e.ID, Family: e.Family, Domain: e.Domain, Kind: e.Kind, Schedule: e.Schedule,
		Title: e.Meta.Title, Provider: e.Meta.Provider, License: e.Meta.License,
		Citation: e.Meta.Citation, DOI: e.Meta.DOI, Homepage: e.Meta.Homepage,
	}
}
