package sources

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoBucketImport holds DESIGN.md's layering: sources knows nothing of
// buckets, in any of its packages (tests included).
func TestNoBucketImport(t *testing.T) {
	const bucketPkg = "github.com/astroingest/astroingest/bucket"
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == bucketPkg || strings.HasPrefix(path, bucketPkg+"/") {
				t.Errorf("sources/%s imports %s", filepath.ToSlash(p), path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
