package httpkind

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

func TestObjects(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	mt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s.AddFile("/ersst/ersst.v5.185401.nc", []byte("january"), mt)
	s.AddFile("/ersst/ersst.v5.185402.nc", []byte("february"), mt)
	s.AddChecksumFile("/ersst/MD5SUM.txt", emulator.MD5Sum)
	md5Jan := s.MD5("/ersst/ersst.v5.185401.nc")
	const sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

	tests := []struct {
		name      string
		url       string
		checksums string
		params    map[string]string
		want      *sources.Checksum
		wantErr   string
		requests  int // to the emulator, in total
	}{
		{name: "no checksum", url: "/ersst/ersst.v5.185401.nc"},
		{name: "from listing by basename", url: "/ersst/ersst.v5.185401.nc", checksums: "/ersst/MD5SUM.txt",
			want: &sources.Checksum{Algo: "md5", Value: md5Jan}, requests: 1},
		{name: "param md5 upper case", url: "/ersst/ersst.v5.185401.nc", params: map[string]string{"md5": strings.ToUpper(md5Jan)},
			want: &sources.Checksum{Algo: "md5", Value: md5Jan}},
		{name: "param sha256 wins over listing", url: "/ersst/ersst.v5.185401.nc", checksums: "/ersst/MD5SUM.txt", params: map[string]string{"sha256": sha},
			want: &sources.Checksum{Algo: "sha256", Value: sha}},
		{name: "listing lacks the file", url: "/ersst/ersst.v5.185403.nc", checksums: "/ersst/MD5SUM.txt",
			wantErr: `has no line for "ersst.v5.185403.nc"`, requests: 1},
		{name: "listing missing", url: "/ersst/ersst.v5.185401.nc", checksums: "/ersst/nope.txt",
			wantErr: "404", requests: 1},
		{name: "md5 param of wrong length", url: "/ersst/ersst.v5.185401.nc", params: map[string]string{"md5": sha},
			wantErr: "reg.yaml:7: entry e1: params md5"},
		{name: "two params", url: "/ersst/ersst.v5.185401.nc", params: map[string]string{"md5": md5Jan, "sha256": sha},
			wantErr: "both set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetRequests()
			e := sources.Entry{ID: "e1", File: "reg.yaml", Line: 7, URL: tc.url, Params: tc.params}
			if strings.HasPrefix(tc.url, "/") {
				e.URL = s.URL() + tc.url
			}
			if tc.checksums != "" {
				e.Checksums = s.URL() + tc.checksums
			}
			objs, err := New().Objects(context.Background(), s.Client(), e)
			if got := s.TotalRequests(); got != tc.requests {
				t.Errorf("%d requests to the server, want %d (no HEAD)", got, tc.requests)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if tc.name == "listing lacks the file" && sources.ReasonOf(err) != sources.ReasonChecksumMissing {
					t.Fatalf("reason %s, want checksum_missing", sources.ReasonOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].URL != e.URL || objs[0].Name != "" || objs[0].Size != -1 {
				t.Fatalf("objects %+v", objs)
			}
			got := objs[0].Checksum
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("checksum %+v, want %+v", got, tc.want)
			}
		})
	}
}
