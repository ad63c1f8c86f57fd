package deploy

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const dockerfilePath = "../Dockerfile"

type instruction struct {
	line int    // first line, for messages
	cmd  string // upper-case keyword
	args string
}

type stage struct {
	from, name string
	instrs     []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// backslash continuations and dropping comments. It knows only what this
// repository's Dockerfile uses, and fails on anything before the first FROM
// except ARG.
func parseDockerfile(path string) ([]stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		stages  []stage
		cur     strings.Builder
		start   int
		lineNum int
	)
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		kw, rest, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(kw), args: strings.TrimSpace(rest)}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(s string) bool { return strings.HasPrefix(s, "--platform=") })
			s := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
			return nil
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				return fmt.Errorf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			return nil
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNum++
		line := sc.Text()
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") || (t == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = lineNum
		}
		if l, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", path)
	}
	return stages, nil
}

func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// goBuildLine returns the build stage's RUN that calls go build, split into
// its --mount flags and the shell command.
func goBuildLine(stages []stage) (mounts []string, shell string, err error) {
	for _, s := range stages {
		for _, in := range s.find("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			rest := in.args
			for strings.HasPrefix(rest, "--") {
				flag, after, _ := strings.Cut(rest, " ")
				mounts = append(mounts, flag)
				rest = strings.TrimSpace(after)
			}
			return mounts, rest, nil
		}
	}
	return nil, "", fmt.Errorf("%s: no RUN with go build", dockerfilePath)
}

// rootGoVersion is the major.minor of the service module's go directive.
func rootGoVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("../go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	stages, err := parseDockerfile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build + final", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// Tags here; digests are added at release (see the Dockerfile's header).
	wantBuild := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(rootGoVersion(t)) + `-bookworm(@sha256:[0-9a-f]{64})?$`)
	if !wantBuild.MatchString(build.from) || build.name != "build" {
		t.Errorf("build stage FROM %s AS %s, want golang:%s-bookworm (the go.mod version) AS build", build.from, build.name, rootGoVersion(t))
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static-debian12:nonroot(@sha256:[0-9a-f]{64})?$`).MatchString(final.from) {
		t.Errorf("final FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.from)
	}
	if runs := final.find("RUN"); len(runs) > 0 {
		t.Errorf("line %d: RUN in the final stage; distroless has no shell", runs[0].line)
	}

	users := final.find("USER")
	if len(users) != 1 || !regexp.MustCompile(`^\d+:\d+$`).MatchString(users[0].args) || users[0].args != fmt.Sprintf("%d:%d", nonrootID, nonrootID) {
		t.Errorf("final USER %v, want exactly one numeric USER %d:%d (runAsNonRoot can only verify a numeric user)", users, nonrootID, nonrootID)
	}

	execForm := func(cmd string) []string {
		ins := final.find(cmd)
		if len(ins) != 1 {
			t.Errorf("final stage has %d %s, want 1", len(ins), cmd)
			return nil
		}
		var argv []string
		if err := json.Unmarshal([]byte(ins[0].args), &argv); err != nil {
			// Shell form runs under /bin/sh, which distroless lacks, and
			// would keep SIGTERM from reaching the binary.
			t.Errorf("line %d: %s %s is not exec form (a JSON array): %v", ins[0].line, cmd, ins[0].args, err)
		}
		return argv
	}
	entry, cmd := execForm("ENTRYPOINT"), execForm("CMD")
	if !slices.Equal(entry, []string{"/astroingest"}) || !slices.Equal(cmd, []string{"run"}) {
		t.Errorf("ENTRYPOINT %q CMD %q, want [\"/astroingest\"] [\"run\"]", entry, cmd)
	}
	if copies := final.find("COPY"); len(copies) != 1 || copies[0].args != "--from=build /out/astroingest /astroingest" {
		t.Errorf("final COPY %v, want the one binary: --from=build /out/astroingest /astroingest", copies)
	}

	mounts, shell, err := goBuildLine(stages)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--mount=type=cache,target=/root/.cache/go-build", "--mount=type=cache,target=/go/pkg/mod"} {
		if !slices.Contains(mounts, want) {
			t.Errorf("go build RUN lacks %s (mounts %q)", want, mounts)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 ", " go build ", " -trimpath ", ` -ldflags='-s -w' `, " -o /out/astroingest ", " ./cmd/astroingest"} {
		if !strings.Contains(" "+shell+" ", want) {
			t.Errorf("go build line %q lacks %q", shell, strings.TrimSpace(want))
		}
	}
}

// buildWithDockerfileLine runs the Dockerfile's own go build line with the
// local toolchain (only the output path changes) and returns the binary.
func buildWithDockerfileLine(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the service binary; skipped with -short")
	}
	mainDir := filepath.Join("..", "cmd", "astroingest")
	if goFiles, _ := filepath.Glob(filepath.Join(mainDir, "*.go")); len(goFiles) == 0 {
		t.Fatalf("%s has no Go files: the Dockerfile builds a command that is not there", mainDir)
	}
	stages, err := parseDockerfile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	_, shell, err := goBuildLine(stages)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "astroingest")
	local := strings.Replace(shell, "-o /out/astroingest", "-o "+out, 1)
	if local == shell {
		t.Fatalf("build line %q has no -o /out/astroingest to redirect", shell)
	}
	cmd := exec.CommandContext(t.Context(), "sh", "-c", local)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", local, err, b)
	}
	return out
}

// TestDockerfileBuildLine checks that the Dockerfile's build line builds and
// gives what the distroless static image needs: static, trimmed, stripped.
func TestDockerfileBuildLine(t *testing.T) {
	out := buildWithDockerfileLine(t)
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// Go leaves -ldflags out of the build info under -trimpath (it may hold
	// paths), so -s -w is checked on the ELF sections below instead.
	for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("binary built with %s=%q, want %q", k, settings[k], want)
		}
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary is dynamically linked; distroless/static has no libc or loader")
			}
		}
		if f.Section(".symtab") != nil {
			t.Error("binary has a symbol table; -s should strip it")
		}
		for _, sec := range f.Sections {
			if strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
				t.Errorf("binary has DWARF section %s; -w should drop it", sec.Name)
				break
			}
		}
	}
}

// TestManifestArgsAgainstBinary checks every flag the manifests pass against
// the built command's own --help, so a flag renamed in cmd/astroingest fails
// here rather than as exit 2 in the cluster.
func TestManifestArgsAgainstBinary(t *testing.T) {
	bin := buildWithDockerfileLine(t)
	for _, o := range overlays {
		for _, w := range workloads(t, o.dir, build(t, o.dir)) {
			c, err := w.container()
			if err != nil {
				t.Fatal(err)
			}
			command, flags, err := parseArgs(c.Args)
			if err != nil {
				t.Fatalf("%s: %v", w.source, err)
			}
			help, err := exec.CommandContext(t.Context(), bin, command, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s --help: %v\n%s", bin, command, err, help)
			}
			for name := range flags {
				// Go's flag package lists "-name" at the start of a line.
				if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(strings.TrimPrefix(name, "-")) + `(\s|$)`).Match(help) {
					t.Errorf("%s: astroingest %s has no flag %s (see its --help)", w.source, command, name)
				}
			}
		}
	}
}
