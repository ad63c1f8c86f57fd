package sources

import (
	"fmt"
	"strconv"
	"testing"
	"testing/fstest"
)

// digitsKind validates that param n is a whole number, and counts the
// entries it saw.
type digitsKind struct {
	nameOnlyKind
	seen *[]string
}

func (k digitsKind) Validate(e Entry) error {
	*k.seen = append(*k.seen, e.ID)
	if _, err := strconv.Atoi(e.Params["n"]); err != nil {
		return fmt.Errorf("params n %q: want a whole number", e.Params["n"])
	}
	return nil
}

// TestLoaderCallsKindValidator checks how the loader runs a kind's
// Validate: once per entry, reported at the params line of the family, a
// problem shared by several entries once in full and then counted, and not
// at all without a kind table. The kinds' own checks are tested in cmd,
// against the real kind table.
func TestLoaderCallsKindValidator(t *testing.T) {
	yaml := edit(family,
		"kind: http", "kind: digits",
		"    entry:\n", "    expand:\n      - list: {var: v, values: [\"1\", x, y, \"4\"]}\n    entry:\n",
		`id: "a-1"`, `id: "a-{v}"`,
		`key: "a/file.nc"`, `key: "a/{v}.nc"`,
		`url: "https://example.org/a.nc"`, "url: \"https://example.org/a.nc\"\n      params: {n: \"{v}\"}")
	fsys := fstest.MapFS{"a.yaml": {Data: []byte(yaml)}}
	var seen []string
	_, err := Loader{Kinds: map[string]Kind{"digits": digitsKind{seen: &seen}}}.Load(fsys, ".")
	want := `a.yaml:16: families[0].entry.params: entry "a-x": params n "x": want a whole number` + "\n" +
		`a.yaml:16: families[0].entry.params: 1 more entries of family "fam-a" have the same problem`
	if err == nil || err.Error() != want {
		t.Errorf("load: %v\nwant:\n%s", err, want)
	}
	if fmt.Sprint(seen) != "[a-1 a-x a-y a-4]" {
		t.Errorf("Validate saw %v, want every entry once", seen)
	}

	seen = nil
	if _, err := Load(fsys, "."); err != nil || seen != nil {
		t.Errorf("without a kind table: %v, Validate saw %v", err, seen)
	}
	if _, err := (Loader{Kinds: map[string]Kind{"digits": nameOnlyKind{}}}).Load(fsys, "."); err != nil {
		t.Errorf("a kind without Validate: %v", err)
	}
}
