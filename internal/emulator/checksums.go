package emulator

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// ChecksumFormat is the format of a checksum file built from the tree, as
// the publisher named writes it.
type ChecksumFormat int

const (
	// MD5Sum lines are "<md5>  <name>" (md5sum's text mode, as Gaia's
	// _MD5SUM.txt and most MD5SUM.txt files).
	MD5Sum ChecksumFormat = iota
	// MD5SumDotSlash lines are "<md5>  ./<name>", as NCBI md5checksums.txt.
	MD5SumDotSlash
	// Metalink is UniProt's RELEASE.metalink (metalink 3.0 XML).
	Metalink
)

// checksumFile is a checksum file the tree builds on request.
type checksumFile struct {
	format ChecksumFormat
}

// AddChecksumFile makes p a checksum file built on each request from the
// files in p's directory and below (names relative to that directory,
// excluding checksum files), so it always tells the true digests.
func (s *Server) AddChecksumFile(p string, format ChecksumFormat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.checksums[cleanPath(p)] = checksumFile{format: format}
}

// renderChecksums builds a checksum file for the files below dir.
func (s *Server) renderChecksums(dir string, format ChecksumFormat) ([]byte, time.Time) {
	s.mu.Lock()
	var refs []fileRef
	for _, fr := range s.tree.filesUnder(dir) {
		if _, isCk := s.tree.checksums[fr.path]; isCk || fr.f == nil {
			continue
		}
		refs = append(refs, fr)
	}
	s.mu.Unlock()

	var mod time.Time
	var b bytes.Buffer
	if format == Metalink {
		b.WriteString(metalinkHead)
	}
	for _, fr := range refs {
		rel := strings.TrimPrefix(fr.path, dir)
		m, _ := fr.f.sums()
		if fr.f.modTime.After(mod) {
			mod = fr.f.modTime
		}
		switch format {
		case MD5Sum:
			fmt.Fprintf(&b, "%s  %s\n", m, rel)
		case MD5SumDotSlash:
			fmt.Fprintf(&b, "%s  ./%s\n", m, rel)
		case Metalink:
			fmt.Fprintf(&b, metalinkFile, xmlEscape(rel), fr.f.size, m, xmlEscape(rel), xmlEscape(rel), xmlEscape(rel))
		}
	}
	if format == Metalink {
		b.WriteString(metalinkTail)
	}
	return b.Bytes(), mod
}

// The shape UniProt publishes at
// https://ftp.uniprot.org/pub/databases/uniprot/current_release/knowledgebase/complete/RELEASE.metalink:
// metalink 3.0, one <file> per download, md5 under <verification>, and only
// ftp:// mirrors under <resources>.
const metalinkHead = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="http://www.metalinker.org/" version="3.0">
 <publisher>
  <name>UniProt Consortium</name>
  <url>http://www.uniprot.org</url>
 </publisher>
 <files>
`

const metalinkFile = `  <file name="%s">
   <size>%d</size>
   <verification>
    <hash type="md5">%s</hash>
   </verification>
   <resources>
    <url location="ch">ftp://ftp.expasy.org/databases/uniprot/current_release/knowledgebase/complete/%s</url>
    <url location="uk">ftp://ftp.ebi.ac.uk/pub/databases/uniprot/current_release/knowledgebase/complete/%s</url>
    <url location="us">ftp://ftp.uniprot.org/pub/databases/uniprot/current_release/knowledgebase/complete/%s</url>
   </resources>
  </file>
`

const metalinkTail = ` </files>
</metalink>
`
