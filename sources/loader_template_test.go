package sources

import "testing"

func TestTemplate(t *testing.T) {
	slots := map[string]int{"yyyy": 0, "mm": 1}
	names := []string{"yyyy", "mm"}
	vals := []string{"2024", "07"}
	tests := []struct {
		src, want, err string
		vars           bool
	}{
		{src: "", want: ""},
		{src: "plain", want: "plain"},
		{src: "{{yyyy}}", want: "{yyyy}"},
		{src: "{yyyy}{mm}", want: "202407", vars: true},
		{src: "a/{yyyy}/b-{mm}.nc", want: "a/2024/b-07.nc", vars: true},
		{src: "{{yyyy}} }}{{ {{{yyyy}}}", want: "{yyyy} }{ {2024}", vars: true},
		{src: "{dd}", err: "unknown template variable {dd} (defined: yyyy, mm)"},
		{src: "{a-b}", err: `invalid variable name {a-b} at offset 0 (want letters, digits and "_")`},
		{src: "{}", err: `invalid variable name {} at offset 0 (want letters, digits and "_")`},
		{src: "x{yyyy", err: `unclosed "{" at offset 1 (write "{{" for a literal brace)`},
		{src: "x}y", err: `"}" at offset 1 has no matching "{" (write "}}" for a literal brace)`},
	}
	for _, tt := range tests {
		tpl, err := compileTemplate(tt.src, slots, names)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.src, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.src, err)
		default:
			if got := tpl.render(vals); got != tt.want {
				t.Errorf("%q renders %q, want %q", tt.src, got, tt.want)
			}
			if got := tpl.hasVars(); got != tt.vars {
				t.Errorf("%q: hasVars = %v, want %v", tt.src, got, tt.vars)
			}
		}
	}
}

func TestExpandTSV(t *testing.T) {
	it, errs := expandTSV([]byte("# note\n\nacc\tname\r\nA1\tx\n\nA2\ty\n"))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if it.n != 2 || it.vars[0] != "acc" || it.vars[1] != "name" || it.cols[0][1] != "A2" || it.cols[1][0] != "x" {
		t.Errorf("table = %+v", it)
	}
	_, errs = expandTSV([]byte("a\ta\n1\t2\n"))
	if len(errs) != 1 || errs[0].line != 1 || errs[0].msg != `column "a" appears twice` {
		t.Errorf("duplicate column: %v", errs)
	}
}
