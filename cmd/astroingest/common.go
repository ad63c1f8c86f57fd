package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	fsbucket "github.com/astroingest/astroingest/bucket/fs"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/prometheus/client_golang/prometheus"
)

const defaultBucket = "file://./mirror"

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// userAgent is what astroingest tells publishers it is.
func userAgent() string {
	return fmt.Sprintf("astroingest/%s (+https://github.com/astroingest/astroingest)", version())
}

// processName names this process in its leases (with the run ID that the
// engine adds), so an operator who finds a lease knows where to look.
func processName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/pid-%d", host, os.Getpid())
}

// bucketFlag registers --bucket with ASTROINGEST_BUCKET as its default, so
// that --help shows where the value comes from.
func bucketFlag(fs *flag.FlagSet, def string) *string {
	if env := os.Getenv("ASTROINGEST_BUCKET"); env != "" {
		def = env
	}
	return fs.String("bucket", def, "destination: file://DIR, s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX] (env ASTROINGEST_BUCKET)")
}

// configError marks errors that mean "fix your configuration" (exit 2).
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// access says whether a command writes to the bucket. Commands that only
// read (plan, --dry-run, verify) open a file:// bucket without creating
// anything, as the contract "plan writes nothing" asks.
type access bool

const (
	readWrite access = false
	readOnly  access = true
)

// openBucket opens the bucket named by raw for a command that writes (run,
// backfill, demo, probe), with its operations counted on reg when reg is
// not nil, and checks that it answers.
func openBucket(ctx context.Context, raw string, getenv func(string) string, logger *slog.Logger, reg prometheus.Registerer) (bucket.Bucket, error) {
	return openStack(ctx, raw, readWrite, getenv, logger, reg)
}

// openReader opens the bucket named by raw for a command that only reads
// (plan, --dry-run, verify). It returns a bucket.Reader, so that such a
// command cannot write by type, and a file:// directory is not created.
func openReader(ctx context.Context, raw string, getenv func(string) string, logger *slog.Logger) (bucket.Reader, error) {
	b, err := openStack(ctx, raw, readOnly, getenv, logger, nil)
	if err != nil {
		return nil, err
	}
	return bucket.ReadOnly(b), nil
}

// openStack builds the backend named by raw and stacks the decorators on
// it in bucket.Stack's one fixed order (backend, then the URL's prefix,
// then metrics on reg). A remote bucket is then asked a question, so that
// a wrong endpoint or credential is reported before any work starts.
func openStack(ctx context.Context, raw string, mode access, getenv func(string) string, logger *slog.Logger, reg prometheus.Registerer) (bucket.Bucket, error) {
	backend, prefix, err := openBackend(ctx, raw, mode, getenv, logger)
	if err != nil {
		return nil, err
	}
	b, err := bucket.Stack(backend, bucket.Layers{Prefix: prefix, Metrics: reg})
	if err != nil {
		return nil, configError{fmt.Errorf("--bucket %q: %w", redact.URL(raw), err)}
	}
	if _, local := backend.(*fsbucket.Bucket); local {
		return b, nil
	}
	if err := checkReachable(ctx, b); err != nil {
		return nil, configError{fmt.Errorf("--bucket %q is not usable: %w (check AWS_ENDPOINT_URL_S3 / R2_ACCOUNT_ID, the credentials and that the bucket exists)", redact.URL(raw), err)}
	}
	return b, nil
}

// openBackend picks the backend by raw's scheme and returns it with the
// key prefix the URL names, for bucket.Stack.
func openBackend(ctx context.Context, raw string, mode access, getenv func(string) string, logger *slog.Logger) (bucket.Bucket, string, error) {
	shown := redact.URL(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, "", configError{fmt.Errorf("--bucket %q: want file://DIR, s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX]", shown)}
	}
	switch strings.ToLower(scheme) {
	case "file":
		if rest == "" {
			return nil, "", configError{fmt.Errorf("--bucket %q: file:// needs a directory, e.g. file://./mirror", shown)}
		}
		open := fsbucket.New
		if mode == readOnly {
			open = fsbucket.Open
		}
		b, err := open(filepath.FromSlash(rest))
		if err != nil {
			return nil, "", configError{fmt.Errorf("--bucket %q: %w", shown, err)}
		}
		// The whole path is the directory: a file:// bucket has no prefix.
		return b, "", nil
	case "s3", "r2":
		cfg, prefix, err := s3.ParseURL(raw, getenv)
		if err != nil {
			return nil, "", configError{err}
		}
		cfg.Logger = logger
		b, err := s3.New(ctx, cfg)
		if err != nil {
			return nil, "", configError{fmt.Errorf("--bucket: %w", err)}
		}
		return b, prefix, nil
	}
	return nil, "", configError{fmt.Errorf("--bucket %q: unknown scheme %q; want file://DIR, s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX]", shown, scheme)}
}

// checkReachable stats a key that does not exist: "not found" proves the
// endpoint, the credentials and the bucket are all right, and writes nothing.
func checkReachable(ctx context.Context, b bucket.Reader) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := b.Stat(ctx, "annotations/.reachability-check")
	if err == nil || errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	return err
}

// newLogger writes JSON lines when stderr is not a terminal (CronJob logs)
// and text otherwise.
func newLogger(stderr io.Writer, debugOn bool) *slog.Logger {
	level := slog.LevelInfo
	if debugOn {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(stderr) {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newFlagSet returns a FlagSet whose errors are reported by the caller and
// whose usage prints the command's own help text before the flags.
func newFlagSet(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(help, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps the outcome to an exit code: -1 to go on,
// exitOK for --help, exitUsage for bad flags.
func parseFlags(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return -1
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	default:
		return exitUsage
	}
}

// parseNoArgs is parseFlags for commands that take flags only: a positional
// argument is a usage error that names it.
func parseNoArgs(fs *flag.FlagSet, args []string) int {
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage
	}
	return -1
}

// checkOutputFlags checks --metrics-listen and --pushgateway when the flags
// are parsed, so that a typo is a usage error before the run rather than a
// failed listen or a warning after it. Empty values mean "off".
func checkOutputFlags(metricsListen, pushgateway string) error {
	if metricsListen != "" {
		_, port, err := net.SplitHostPort(metricsListen)
		if err == nil && port == "" {
			err = errors.New("missing port")
		}
		if err == nil {
			_, err = net.LookupPort("tcp", port)
		}
		if err != nil {
			return fmt.Errorf("--metrics-listen %q: want HOST:PORT or :PORT, e.g. :9090 (%w)", metricsListen, err)
		}
	}
	if pushgateway != "" {
		u, err := url.Parse(pushgateway)
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "") {
			err = errors.New("want an http:// or https:// URL with a host")
		}
		if err != nil {
			// url.Parse's own error quotes the URL in full, password and all.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("--pushgateway %q: %w, e.g. http://pushgateway:9091", redact.URL(pushgateway), err)
		}
	}
	return nil
}
