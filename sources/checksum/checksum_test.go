package checksum

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

func TestParseFixture(t *testing.T) {
	f, err := os.Open("../../internal/emulator/testdata/files/md5sum.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Parse(f, "md5sum.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		lookup, algo, value string
	}{
		{"hello.txt", "md5", "5d41402abc4b2a76b9719d911017c592"},
		{"world.bin", "md5", "7d793037a0760186574b0282f2f435e7"},
		{"sub/foo.dat", "md5", "acbd18db4cc2f85cedef654fccc4a4d8"},
		{"./sub/foo.dat", "md5", "acbd18db4cc2f85cedef654fccc4a4d8"},
		{"foo.dat", "md5", "acbd18db4cc2f85cedef654fccc4a4d8"}, // by unique basename
		{"bar.dat", "md5", "37b51d194a7513e45b56f6524f2d51f2"},
		{"sha.dat", "sha256", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
	}
	if len(l.Entries) != 5 {
		t.Fatalf("%d entries, want 5: %+v", len(l.Entries), l.Entries)
	}
	for _, w := range want {
		got, ok := l.Lookup(w.lookup)
		if !ok || got != (sources.Checksum{Algo: w.algo, Value: w.value}) {
			t.Errorf("Lookup(%q) = %+v %v", w.lookup, got, ok)
		}
	}
	if _, ok := l.Lookup("missing.dat"); ok {
		t.Error("found a file that is not listed")
	}
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "name=algo:value;..." or error substring prefixed "!"
	}{
		{"crlf and upper hex", "5D41402ABC4B2A76B9719D911017C592  a\r\n", "a=md5:5d41402abc4b2a76b9719d911017c592"},
		{"tab separated", "5d41402abc4b2a76b9719d911017c592\ta b", "a b=md5:5d41402abc4b2a76b9719d911017c592"},
		{"bom", "\ufeff5d41402abc4b2a76b9719d911017c592  a", "a=md5:5d41402abc4b2a76b9719d911017c592"},
		{"sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d  x", "x=sha1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"},
		{"bsd sha256", "SHA256 (x y) = 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "x y=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
		{"bad digest names line", "# c\nzz  a\n", "!line 2"},
		{"short digest", "abc  a", "!want \"<hex digest>  <file name>\""},
		{"no name", "5d41402abc4b2a76b9719d911017c592  ", "!without a file name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tc.in), "list.txt")
			if strings.HasPrefix(tc.want, "!") {
				if err == nil || !strings.Contains(err.Error(), tc.want[1:]) || !strings.Contains(err.Error(), "list.txt") {
					t.Fatalf("err %v, want one containing %q and the file name", err, tc.want[1:])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range l.Entries {
				got = append(got, e.Name+"="+e.Checksum.Algo+":"+e.Checksum.Value)
			}
			if strings.Join(got, ";") != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestAmbiguousBasename(t *testing.T) {
	l, err := Parse(strings.NewReader("5d41402abc4b2a76b9719d911017c592  a/x\n7d793037a0760186574b0282f2f435e7  b/x\n"), "l")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Lookup("x"); ok {
		t.Fatal("an ambiguous basename must not match")
	}
	if c, ok := l.Lookup("b/x"); !ok || c.Value != "7d793037a0760186574b0282f2f435e7" {
		t.Fatal("full name lookup failed")
	}
}

func TestFetchErrors(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/ok/MD5SUM.txt", []byte("5d41402abc4b2a76b9719d911017c592  a\n"), time.Now())
	s.Fault("/busy/*", emulator.Fault{Kind: emulator.Unavailable})
	tests := []struct {
		path, reason string
	}{
		{"/missing/MD5SUM.txt", sources.ReasonHTTP404},
		{"/busy/MD5SUM.txt", sources.ReasonHTTP5xx},
	}
	for _, tc := range tests {
		_, err := Fetch(context.Background(), s.Client(), s.URL()+tc.path)
		var fe *sources.FetchError
		if !errors.As(err, &fe) || fe.Reason != tc.reason || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err %v, want reason %s naming the URL", tc.path, err, tc.reason)
		}
	}
	l, err := Fetch(context.Background(), s.Client(), s.URL()+"/ok/MD5SUM.txt")
	if err != nil || len(l.Entries) != 1 {
		t.Fatalf("ok listing: %v", err)
	}
}
