package sources

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/astroingest/astroingest/sources/registry"
)

// Schedules are the accepted values of a family's schedule.
func Schedules() []string { return []string{"once", "daily", "weekly", "monthly", "yearly"} }

// Family is a family's shared settings and metadata after loading.
type Family struct {
	ID       string
	Domain   string
	Kind     string
	Schedule string
	Meta     Meta
	// BudgetBytes is the per-run byte budget, 0 for none.
	BudgetBytes int64
	// AllowHTTP lets the family's URLs use plain http://; AllowHTTPReason
	// says why (e.g. the publisher serves no TLS).
	AllowHTTP       bool
	AllowHTTPReason string
	// ContentTypes and RedirectHosts are copied to every entry (see Entry).
	ContentTypes  []string
	RedirectHosts []string
	// Count is how many entries the family expanded to.
	Count int
	File  string
	Line  int
}

// Registry is a loaded, validated registry. It is read-only after loading and
// safe for concurrent use.
type Registry struct {
	// Files are the YAML files read, in load order.
	Files []string
	// Entries are ordered by file, then family, then expansion order.
	Entries  []Entry
	Families []Family
	// Hosts are the declared host policies; Hosts.For(e.URL) is the policy
	// an entry runs under.
	Hosts Hosts

	byID     map[string]int
	byFamily map[string]int
}

// ByID returns the entry with the given ID.
func (r *Registry) ByID(id string) (Entry, bool) {
	i, ok := r.byID[id]
	if !ok {
		return Entry{}, false
	}
	return r.Entries[i], true
}

// Family returns the family with the given ID.
func (r *Registry) Family(id string) (Family, bool) {
	i, ok := r.byFamily[id]
	if !ok {
		return Family{}, false
	}
	return r.Families[i], true
}

// Loader loads registries against a kind table. A Loader is a plain value,
// safe for concurrent use; each load is independent.
type Loader struct {
	// Kinds is the kind table the entries will run with (cmd's one table):
	// a family's kind must be one of its names, reported at the family's
	// kind: line otherwise. nil checks no kind names: for tools and tests
	// that read a registry without running it.
	Kinds map[string]Kind
}

// Load reads every *.yaml file under root in fsys, recursively and in lexical
// order, checking no kind names (see Loader). Table files are resolved
// relative to the YAML file inside fsys. Validation problems are returned
// together as ValidationErrors.
func Load(fsys fs.FS, root string) (*Registry, error) { return Loader{}.Load(fsys, root) }

// LoadPaths reads the given files and folders (every *.yaml inside a folder,
// recursively), in the order given, checking no kind names (see Loader).
// Table files are resolved relative to the YAML file that names them.
func LoadPaths(paths []string) (*Registry, error) { return Loader{}.LoadPaths(paths) }

// Default loads the registry embedded in the binary, checking no kind names
// (see Loader). Its files are named sources/registry/... in errors, their
// place in the repository.
func Default() (*Registry, error) { return Loader{}.Default() }

// Default is the package-level Default, checked against this loader's kinds.
func (l Loader) Default() (*Registry, error) { return l.load(embeddedFiles()) }

// Load is the package-level Load, checked against this loader's kinds.
func (l Loader) Load(fsys fs.FS, root string) (*Registry, error) {
	return l.load(fsFiles(fsys, root, ""))
}

// LoadPaths is the package-level LoadPaths, checked against this loader's kinds.
func (l Loader) LoadPaths(paths []string) (*Registry, error) {
	if len(paths) == 0 {
		return nil, errors.New("sources: no registry paths given")
	}
	var files []*srcFile
	seen := map[string]bool{}
	for _, p := range paths {
		found, err := osFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			abs, err := filepath.Abs(f.name)
			if err != nil {
				return nil, fmt.Errorf("sources: %s: %w", f.name, err)
			}
			if !seen[abs] { // a file named twice (or inside two named folders) loads once
				seen[abs] = true
				files = append(files, f)
			}
		}
	}
	return l.load(files, nil)
}

// srcFile is one registry file: the name shown in errors and entries, how to
// read it, and how to read a table named relative to it.
type srcFile struct {
	name      string
	order     int
	read      func() ([]byte, error)
	readTable func(rel string) (name string, data []byte, err error)
}

func embeddedFiles() ([]*srcFile, error) { return fsFiles(registry.FS, ".", "sources/registry/") }

func fsFiles(fsys fs.FS, root, display string) ([]*srcFile, error) {
	var files []*srcFile
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".yaml" {
			return nil
		}
		files = append(files, &srcFile{
			name: display + p,
			read: func() ([]byte, error) { return fs.ReadFile(fsys, p) },
			readTable: func(rel string) (string, []byte, error) {
				t := path.Join(path.Dir(p), rel)
				if path.IsAbs(rel) || !fs.ValidPath(t) {
					return display + rel, nil, fmt.Errorf("table file %q must be a relative path inside the registry", rel)
				}
				data, err := fs.ReadFile(fsys, t)
				return display + t, data, err
			},
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sources: reading registry %s: %w", display+root, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("sources: no *.yaml files under %s", display+root)
	}
	return files, nil
}

func osFiles(p string) ([]*srcFile, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("sources: registry path: %w", err)
	}
	if !st.IsDir() {
		return []*srcFile{osFile(p)}, nil
	}
	var files []*srcFile
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(q) == ".yaml" {
			files = append(files, osFile(q))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sources: reading registry folder %s: %w", p, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("sources: no *.yaml files under %s", p)
	}
	return files, nil
}

func osFile(p string) *srcFile {
	return &srcFile{
		name: p,
		read: func() ([]byte, error) { return os.ReadFile(p) },
		readTable: func(rel string) (string, []byte, error) {
			if filepath.IsAbs(rel) {
				return rel, nil, fmt.Errorf("table file %q must be a path relative to %s", rel, p)
			}
			t := filepath.Join(filepath.Dir(p), filepath.FromSlash(rel))
			data, err := os.ReadFile(t)
			return t, data, err
		},
	}
}

func (l Loader) load(files []*srcFile, err error) (*Registry, error) {
	if err != nil {
		return nil, err
	}
	var kinds []string // sorted, for a stable "want one of" message
	if l.Kinds != nil {
		kinds = slices.Sorted(maps.Keys(l.Kinds))
	}
	decs := make([]*fileDecoder, len(files))
	for i, f := range files {
		f.order = i
		decs[i] = &fileDecoder{f: f, kinds: kinds, checkKinds: l.Kinds != nil, domains: Domains()}
	}
	if err := decodeAll(decs); err != nil {
		return nil, err
	}
	s := &loadState{kinds: l.Kinds, reg: &Registry{byID: map[string]int{}, byFamily: map[string]int{}}}
	s.merge(decs)
	if len(s.errs.errs) > 0 {
		s.errs.errs.sort()
		return nil, s.errs.errs
	}
	return s.reg, nil
}

// decodeAll reads and decodes the files on all cores: YAML parsing is most
// of a load's cost, and files are independent until they are merged.
func decodeAll(decs []*fileDecoder) error {
	readErrs := make([]error, len(decs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(decs)) {
		wg.Go(func() {
			for i := range next {
				data, err := decs[i].f.read()
				if err != nil {
					readErrs[i] = fmt.Errorf("sources: %w", err)
					continue
				}
				decs[i].file(data)
			}
		})
	}
	for i := range decs {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(readErrs...)
}

// loadState merges decoded files, in load order, into one registry.
type loadState struct {
	kinds  map[string]Kind // nil: kinds are not checked
	errs   errList
	reg    *Registry
	fams   []famPos // parallel to reg.Families
	entFam []int32  // entry index -> family index
}

// merge registers hosts and families, expands the sound families into one
// slice sized up front (where each entry's kind validates it), and runs the
// checks that span files.
func (s *loadState) merge(decs []*fileDecoder) {
	hostAt := map[string]at{}
	var hosts []HostPolicy
	total := 0
	for _, d := range decs {
		s.reg.Files = append(s.reg.Files, d.f.name)
		s.errs.errs = append(s.errs.errs, d.errs.errs...)
		for _, hd := range d.hosts {
			if prev, dup := hostAt[hd.h.Host]; dup {
				s.errs.add(d.f, hd.line, hd.field, "host %q is declared twice (first at %s)", hd.h.Host, prev)
				continue
			}
			hostAt[hd.h.Host] = at{d.f, hd.line}
			hosts = append(hosts, hd.h)
		}
		for _, sp := range d.fams {
			if id := sp.fam.ID; id != "" {
				if i, dup := s.reg.byFamily[id]; dup {
					prev := s.fams[i]
					s.errs.add(d.f, sp.pos.famIDLine, sp.pos.path+".id", "duplicate family ID %q (first declared at %s:%d)", id, prev.f.name, prev.famIDLine)
					// A copied family would repeat every entry ID and key
					// of the first; one error says it all.
					sp.sound = false
				} else {
					s.reg.byFamily[id] = len(s.reg.Families)
				}
			}
			s.reg.Families = append(s.reg.Families, sp.fam)
			s.fams = append(s.fams, sp.pos)
			if sp.sound {
				total += sp.fam.Count
			}
		}
	}

	s.reg.Hosts = NewHosts(hosts)

	s.reg.Entries = make([]Entry, total)
	s.entFam = make([]int32, total)
	off, fi := 0, 0
	for _, d := range decs {
		for _, sp := range d.fams {
			if sp.sound {
				n := sp.fam.Count
				v, _ := s.kinds[sp.fam.Kind].(KindValidator)
				expandEntries(sp, s.reg.Entries[off:off+n], &s.errs, v)
				for i := off; i < off+n; i++ {
					s.entFam[i] = int32(fi)
				}
				off += n
			}
			fi++
		}
	}
	s.crossCheck()
}

// at is a place in a file.
type at struct {
	f    *srcFile
	line int
}

func (a at) String() string { return fmt.Sprintf("%s:%d", a.f.name, a.line) }

// famPos keeps the places a family's entries are reported at.
type famPos struct {
	path                                                      string // "families[3]"
	f                                                         *srcFile
	famIDLine, idLine, keyLine, urlLine, sumsLine, paramsLine int
}
