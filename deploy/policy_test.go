package deploy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The contracts the manifests are held to. Values here come from DESIGN.md
// (CLI, exit codes) and from the memory model of the transfer path; they are
// written out once so that a change to either shows up as a failing check.
const (
	nonrootID       = 65532 // distroless "nonroot"
	secretName      = "astroingest-credentials"
	bucketURL       = "r2://astrobio-data"
	pushgatewayURL  = "http://pushgateway.monitoring:9091"
	metricsPortName = "metrics"
	metricsPort     = 9090
	exitConfigError = 2 // DESIGN.md: invalid usage or configuration
	exitBusy        = 4 // DESIGN.md: another live run holds the lease; retry later
	minGracePeriod  = 120

	// Memory model of one pod: each worker holds partsPerWorker part buffers
	// (4 in flight + 1 being filled) of partSize; beside each worker run
	// smallPerWorker transfers of small objects (ingest's SmallWorkers
	// default, 4 x --workers), each buffering at most smallBelow; plus a
	// fixed overhead for the runtime, HTTP clients and manifests.
	partSize       = 16 << 20
	partsPerWorker = 5
	smallPerWorker = 4
	smallBelow     = 1 << 20
	memOverhead    = 64 << 20
)

// credentialKeys are the keys of the Secret, as in base/secret.example.yaml.
var credentialKeys = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "R2_ACCOUNT_ID", "CDS_API_KEY"}

// cliFlags is the CLI contract of DESIGN.md for the commands a manifest may
// run; the value says whether the flag takes a value (written --flag=value in
// manifests, so the args parse one way only).
func cliFlags(command string) (map[string]bool, bool) {
	common := map[string]bool{
		"--bucket": true, "--registry": true, "--workers": true, "--shard": true,
		"--shard-count": true, "--dry-run": false, "--metrics-listen": true,
		"--pushgateway": true, "--json": false,
	}
	switch command {
	case "run", "plan":
		return common, true
	case "backfill":
		common["--domain"] = true
		common["--family"] = true
		common["--source"] = true
		common["--force"] = false
		return common, true
	}
	return nil, false
}

// parseArgs checks args against the CLI contract and returns the command and
// its flags.
func parseArgs(args []string) (string, map[string]string, error) {
	if len(args) == 0 {
		return "", nil, errors.New("no args: the image's CMD would run, set the command explicitly")
	}
	known, ok := cliFlags(args[0])
	if !ok {
		return "", nil, fmt.Errorf("args[0] %q is not a run command (run, backfill, plan)", args[0])
	}
	flags := map[string]string{}
	for i, a := range args[1:] {
		name, value, hasValue := strings.Cut(a, "=")
		takesValue, ok := known[name]
		switch {
		case !ok:
			return "", nil, fmt.Errorf("args[%d] %q: %s has no flag %s", i+1, a, args[0], name)
		case takesValue && !hasValue:
			return "", nil, fmt.Errorf("args[%d] %q: write %s=VALUE", i+1, a, name)
		case !takesValue && hasValue:
			return "", nil, fmt.Errorf("args[%d] %q: %s takes no value", i+1, a, name)
		}
		if _, dup := flags[name]; dup && name != "--registry" {
			return "", nil, fmt.Errorf("args[%d] %q: %s given twice", i+1, a, name)
		}
		flags[name] = value
	}
	return args[0], flags, nil
}

// scheduleInterval is the longest gap between two runs of a cron schedule
// over a year, so irregular schedules are judged by their worst case.
func scheduleInterval(schedule string) (time.Duration, error) {
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", schedule, err)
	}
	t := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	end := t.AddDate(1, 0, 0)
	var longest time.Duration
	for t.Before(end) {
		next := s.Next(t)
		longest = max(longest, next.Sub(t))
		t = next
	}
	return longest, nil
}

// parseGoMemLimit parses GOMEMLIMIT's format: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GOMEMLIMIT %q: %w", s, err)
	}
	return n * mult, nil
}

func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// envFromField reports whether env name comes from the pod's fieldPath
// through the downward API.
func envFromField(c *corev1.Container, name, fieldPath string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath == fieldPath
		}
	}
	return false
}

// The pod labels the Job controller sets, which the lease identity reads.
const (
	jobNameLabel = "metadata.labels['batch.kubernetes.io/job-name']"
	jobUIDLabel  = "metadata.labels['batch.kubernetes.io/controller-uid']"
)

// firstRule returns the action of the first podFailurePolicy rule that
// matches exit code in our container, "" when none does (the default:
// counted against the backoff limit).
func firstRule(pfp *batchv1.PodFailurePolicy, code int32) batchv1.PodFailurePolicyAction {
	for _, r := range pfp.Rules {
		if r.OnExitCodes != nil && matchesExit(r.OnExitCodes, containerName, code) {
			return r.Action
		}
	}
	return ""
}

// exitCodesSeen are the exit codes a pod of ours can end with: DESIGN.md's
// 0 to 4, and deaths by SIGKILL (the OOM killer, 137) and SIGTERM (143).
var exitCodesSeen = []int32{1, 2, 3, 4, 137, 143}

type check struct {
	name    string
	applies func(w workload) bool // nil: every workload
	fn      func(w workload) error
}

func isCron(w workload) bool    { return w.cron != nil }
func isIndexed(w workload) bool { return w.cron == nil }

// policyChecks is the deployment policy of issue 5, one entry per rule.
func policyChecks() []check {
	return []check{
		{name: "restartPolicy Never", fn: func(w workload) error {
			// podFailurePolicy requires Never, and a restarted container
			// would hide the exit code from it.
			if w.pod.RestartPolicy != corev1.RestartPolicyNever {
				return fmt.Errorf("restartPolicy %q, want Never", w.pod.RestartPolicy)
			}
			return nil
		}},
		{name: "grace period covers upload aborts", fn: func(w workload) error {
			if g := w.pod.TerminationGracePeriodSeconds; g == nil || *g < minGracePeriod {
				return fmt.Errorf("terminationGracePeriodSeconds %v, want >= %d", deref(g), minGracePeriod)
			}
			return nil
		}},
		{name: "pod security context", fn: func(w workload) error {
			sc := w.pod.SecurityContext
			if sc == nil {
				return errors.New("no pod securityContext")
			}
			var errs []error
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				errs = append(errs, errors.New("runAsNonRoot is not true"))
			}
			if sc.RunAsUser == nil || *sc.RunAsUser != nonrootID {
				errs = append(errs, fmt.Errorf("runAsUser %v, want %d", deref(sc.RunAsUser), nonrootID))
			}
			if sc.RunAsGroup == nil || *sc.RunAsGroup != nonrootID {
				errs = append(errs, fmt.Errorf("runAsGroup %v, want %d", deref(sc.RunAsGroup), nonrootID))
			}
			if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				errs = append(errs, errors.New("seccompProfile is not RuntimeDefault"))
			}
			return errors.Join(errs...)
		}},
		{name: "container security context", fn: func(w workload) error {
			var errs []error
			for _, c := range append(slices.Clone(w.pod.InitContainers), w.pod.Containers...) {
				sc := c.SecurityContext
				if sc == nil {
					errs = append(errs, fmt.Errorf("container %s: no securityContext", c.Name))
					continue
				}
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					errs = append(errs, fmt.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name))
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					errs = append(errs, fmt.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name))
				}
				if sc.Privileged != nil && *sc.Privileged {
					errs = append(errs, fmt.Errorf("container %s: privileged", c.Name))
				}
				if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
					errs = append(errs, fmt.Errorf("container %s: capabilities must drop ALL and add none", c.Name))
				}
			}
			return errors.Join(errs...)
		}},
		{name: "writable /tmp is an emptyDir", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			for _, m := range c.VolumeMounts {
				if m.MountPath != "/tmp" {
					continue
				}
				for _, v := range w.pod.Volumes {
					if v.Name == m.Name && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
						return nil
					}
				}
				return fmt.Errorf("/tmp volume %q is not an emptyDir with a sizeLimit", m.Name)
			}
			return errors.New("nothing mounted at /tmp (the root filesystem is read-only)")
		}},
		{name: "no service account token", fn: func(w workload) error {
			if t := w.pod.AutomountServiceAccountToken; t == nil || *t {
				return errors.New("automountServiceAccountToken is not false")
			}
			return nil
		}},
		{name: "memory fits workers", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			_, flags, err := parseArgs(c.Args)
			if err != nil {
				return err
			}
			workers, err := strconv.ParseInt(flags["--workers"], 10, 64)
			if err != nil || workers < 1 {
				return fmt.Errorf("--workers=%q: must be set explicitly, the memory limit is derived from it", flags["--workers"])
			}
			perWorker := int64(partsPerWorker*partSize + smallPerWorker*smallBelow)
			bound := workers*perWorker + memOverhead
			limit, request := c.Resources.Limits.Memory(), c.Resources.Requests.Memory()
			var errs []error
			if limit.IsZero() || limit.Value() < bound {
				errs = append(errs, fmt.Errorf("memory limit %s is below %d workers x (%d parts x %d MiB + %d small x %d MiB) + %d MiB = %d MiB",
					limit, workers, partsPerWorker, partSize>>20, smallPerWorker, smallBelow>>20, memOverhead>>20, bound>>20))
			}
			if request.IsZero() || request.Cmp(*limit) > 0 {
				errs = append(errs, fmt.Errorf("memory request %s must be set and at most the limit %s", request, limit))
			}
			if c.Resources.Requests.Cpu().IsZero() {
				errs = append(errs, errors.New("no CPU request"))
			}
			gml, ok := envValue(c, "GOMEMLIMIT")
			if !ok {
				return errors.Join(append(errs, errors.New("GOMEMLIMIT not set"))...)
			}
			n, err := parseGoMemLimit(gml)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			// Above the working set (or the GC thrashes), below the limit
			// (or it never runs before the OOM kill).
			if n < bound || n >= limit.Value() {
				errs = append(errs, fmt.Errorf("GOMEMLIMIT %s must lie in [%d MiB, limit %s)", gml, bound>>20, limit))
			}
			return errors.Join(errs...)
		}},
		{name: "credentials from the Secret", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			found := false
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name == secretName {
					if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
						return fmt.Errorf("envFrom secret %s is optional: a missing Secret must stop the pod, not run it without credentials", secretName)
					}
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no envFrom secretRef %s", secretName)
			}
			for _, e := range c.Env {
				if slices.Contains(credentialKeys, e.Name) {
					return fmt.Errorf("env %s is set inline; credentials come only from the Secret", e.Name)
				}
			}
			return nil
		}},
		{name: "bucket", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			if v, _ := envValue(c, "ASTROINGEST_BUCKET"); v != bucketURL {
				return fmt.Errorf("ASTROINGEST_BUCKET %q, want %q", v, bucketURL)
			}
			return nil
		}},
		{name: "metrics endpoint and push", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			_, flags, err := parseArgs(c.Args)
			if err != nil {
				return err
			}
			var errs []error
			if want := fmt.Sprintf(":%d", metricsPort); flags["--metrics-listen"] != want {
				errs = append(errs, fmt.Errorf("--metrics-listen=%q, want %q", flags["--metrics-listen"], want))
			}
			if flags["--pushgateway"] != pushgatewayURL {
				errs = append(errs, fmt.Errorf("--pushgateway=%q, want %q", flags["--pushgateway"], pushgatewayURL))
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
				return p.Name == metricsPortName && p.ContainerPort == metricsPort
			}) {
				errs = append(errs, fmt.Errorf("no container port %s=%d", metricsPortName, metricsPort))
			}
			return errors.Join(errs...)
		}},
		{name: "CLI contract", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			if len(c.Command) > 0 {
				return errors.New("command overrides the image ENTRYPOINT; set args only")
			}
			_, _, err = parseArgs(c.Args)
			return err
		}},
		{name: "env references resolve", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			// Kubernetes leaves an unknown $(VAR) in place as literal text.
			for _, a := range c.Args {
				for _, m := range envRef.FindAllStringSubmatch(a, -1) {
					if _, ok := envValue(c, m[1]); !ok {
						return fmt.Errorf("arg %q refers to $(%s), which is not in env", a, m[1])
					}
				}
			}
			return nil
		}},
		{name: "image pinned", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			if err := checkImage(c.Image); err != nil {
				return err
			}
			if c.ImagePullPolicy == "" {
				return errors.New("imagePullPolicy unset")
			}
			return nil
		}},
		{name: "pod labels for the PodMonitor", fn: func(w workload) error {
			if w.labels["app.kubernetes.io/name"] != "astroingest" {
				return fmt.Errorf("pod template labels %v lack app.kubernetes.io/name=astroingest", w.labels)
			}
			return nil
		}},
		{name: "pod failure policy", fn: func(w workload) error {
			pfp := w.job.PodFailurePolicy
			if pfp == nil {
				return errors.New("no podFailurePolicy")
			}
			// Rules apply in order, first match wins: the first rule that
			// matches exit 2 in our container must fail the Job.
			var first *batchv1.PodFailurePolicyRule
			ignoresDisruption := false
			for i, r := range pfp.Rules {
				if first == nil && r.OnExitCodes != nil && matchesExit(r.OnExitCodes, containerName, exitConfigError) {
					first = &pfp.Rules[i]
				}
				if r.Action == batchv1.PodFailurePolicyActionIgnore && slices.ContainsFunc(r.OnPodConditions, func(p batchv1.PodFailurePolicyOnPodConditionsPattern) bool {
					return p.Type == corev1.DisruptionTarget && (p.Status == "" || p.Status == corev1.ConditionTrue)
				}) {
					ignoresDisruption = true
				}
			}
			var errs []error
			if first == nil || first.Action != batchv1.PodFailurePolicyActionFailJob {
				errs = append(errs, fmt.Errorf("exit code %d in container %s is not first matched by a FailJob rule", exitConfigError, containerName))
			}
			// Only configuration fails the Job: a failed entry, a lost
			// lease, an interruption, a busy lease and a kill are retried.
			for _, code := range exitCodesSeen {
				if a := firstRule(pfp, code); code != exitConfigError && a == batchv1.PodFailurePolicyActionFailJob {
					errs = append(errs, fmt.Errorf("exit code %d fails the Job; only %d may", code, exitConfigError))
				}
			}
			// Busy wrote nothing: retried without using up the retries (the
			// Job's backoff still spaces the attempts).
			if a := firstRule(pfp, exitBusy); a != batchv1.PodFailurePolicyActionIgnore {
				errs = append(errs, fmt.Errorf("exit code %d (busy) is first matched by %q, want Ignore: a busy run is retried, not counted", exitBusy, a))
			}
			if !ignoresDisruption {
				errs = append(errs, errors.New("no Ignore rule for the DisruptionTarget pod condition"))
			}
			return errors.Join(errs...)
		}},
		{name: "replacement only after termination", fn: func(w workload) error {
			// A replacement pod takes over its predecessor's lease at once;
			// that is safe only if the predecessor is terminal.
			if p := w.job.PodReplacementPolicy; p == nil || *p != batchv1.Failed {
				return fmt.Errorf("podReplacementPolicy %v, want Failed", deref(p))
			}
			return nil
		}},
		{name: "lease identity from the downward API", fn: func(w workload) error {
			c, err := w.container()
			if err != nil {
				return err
			}
			var errs []error
			if !envFromField(c, "JOB_NAME", jobNameLabel) {
				errs = append(errs, fmt.Errorf("env JOB_NAME must come from %s: shards of this Job share one lease, another Job is refused", jobNameLabel))
			}
			if !envFromField(c, "JOB_UID", jobUIDLabel) {
				errs = append(errs, fmt.Errorf("env JOB_UID must come from %s: a Job recreated under its name is another Job", jobUIDLabel))
			}
			if w.job.CompletionMode == nil || *w.job.CompletionMode != batchv1.IndexedCompletion {
				errs = append(errs, errors.New("completionMode is not Indexed: without JOB_COMPLETION_INDEX a retried pod cannot know its predecessor's lease"))
			}
			cron, ok := envValue(c, "CRONJOB_NAME")
			switch {
			case w.cron != nil && cron != w.name:
				errs = append(errs, fmt.Errorf("env CRONJOB_NAME %q, want the CronJob's name %q: the next run takes the previous one's lease by it", cron, w.name))
			case w.cron == nil && ok:
				errs = append(errs, errors.New("env CRONJOB_NAME is set on a Job no CronJob runs: it would take the CronJob's lease"))
			}
			return errors.Join(errs...)
		}},
		{name: "retries and deadline bounded", fn: func(w workload) error {
			var errs []error
			if w.job.ActiveDeadlineSeconds == nil || *w.job.ActiveDeadlineSeconds <= 0 {
				errs = append(errs, errors.New("no activeDeadlineSeconds"))
			}
			switch {
			case w.job.BackoffLimitPerIndex != nil:
				if *w.job.BackoffLimitPerIndex < 1 || w.job.CompletionMode == nil || *w.job.CompletionMode != batchv1.IndexedCompletion {
					errs = append(errs, errors.New("backoffLimitPerIndex needs completionMode Indexed and at least 1"))
				}
			case w.job.BackoffLimit == nil || *w.job.BackoffLimit < 1 || *w.job.BackoffLimit > 6:
				errs = append(errs, fmt.Errorf("backoffLimit %v, want 1..6 (the default 6 retries a broken run too often)", deref(w.job.BackoffLimit)))
			}
			return errors.Join(errs...)
		}},
		{name: "cron schedule and deadlines", applies: isCron, fn: func(w workload) error {
			cj := w.cron
			interval, err := scheduleInterval(cj.Schedule)
			if err != nil {
				return err
			}
			var errs []error
			if cj.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				errs = append(errs, fmt.Errorf("concurrencyPolicy %q, want Forbid", cj.ConcurrencyPolicy))
			}
			if cj.TimeZone == nil || *cj.TimeZone != "Etc/UTC" {
				errs = append(errs, fmt.Errorf("timeZone %v, want Etc/UTC", deref(cj.TimeZone)))
			} else if _, err := time.LoadLocation(*cj.TimeZone); err != nil {
				errs = append(errs, fmt.Errorf("timeZone: %w", err))
			}
			if d := cj.StartingDeadlineSeconds; d == nil || *d <= 0 || time.Duration(*d)*time.Second >= interval {
				errs = append(errs, fmt.Errorf("startingDeadlineSeconds %v must be set and below the schedule interval %s", deref(d), interval))
			}
			if d := w.job.ActiveDeadlineSeconds; d == nil || time.Duration(*d)*time.Second >= interval {
				errs = append(errs, fmt.Errorf("activeDeadlineSeconds %v must be below the schedule interval %s, or a hung run makes Forbid skip the next", deref(d), interval))
			}
			if cj.SuccessfulJobsHistoryLimit == nil || cj.FailedJobsHistoryLimit == nil || *cj.FailedJobsHistoryLimit < 1 {
				errs = append(errs, errors.New("successful/failedJobsHistoryLimit must be set, keeping at least one failed Job"))
			}
			return errors.Join(errs...)
		}},
		{name: "indexed shards", applies: isIndexed, fn: func(w workload) error {
			j := w.job
			c, err := w.container()
			if err != nil {
				return err
			}
			cmd, flags, err := parseArgs(c.Args)
			if err != nil {
				return err
			}
			var errs []error
			if j.CompletionMode == nil || *j.CompletionMode != batchv1.IndexedCompletion {
				errs = append(errs, errors.New("completionMode is not Indexed: JOB_COMPLETION_INDEX would be unset"))
			}
			sc, _ := envValue(c, "SHARD_COUNT")
			n, err := strconv.Atoi(sc)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("env SHARD_COUNT %q is not a positive number", sc))
			}
			if j.Completions == nil || int(*j.Completions) != n || j.Parallelism == nil || int(*j.Parallelism) != n {
				errs = append(errs, fmt.Errorf("completions %v and parallelism %v must both equal SHARD_COUNT %s", deref(j.Completions), deref(j.Parallelism), sc))
			}
			if flags["--shard-count"] != "$(SHARD_COUNT)" {
				errs = append(errs, fmt.Errorf("--shard-count=%q, want $(SHARD_COUNT) so the shard count has one source", flags["--shard-count"]))
			}
			if _, ok := flags["--shard"]; ok {
				errs = append(errs, errors.New("--shard is fixed; each pod must take its shard from JOB_COMPLETION_INDEX"))
			}
			if cmd == "backfill" && flags["--domain"] == "" && flags["--family"] == "" && flags["--source"] == "" {
				errs = append(errs, errors.New("backfill needs a selection: --domain, --family or --source"))
			}
			return errors.Join(errs...)
		}},
	}
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func matchesExit(r *batchv1.PodFailurePolicyOnExitCodesRequirement, container string, code int32) bool {
	if r.ContainerName != nil && *r.ContainerName != container {
		return false
	}
	in := slices.Contains(r.Values, code)
	if r.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn {
		return !in
	}
	return in
}

// checkImage wants a registry host and a tag other than latest, or a digest.
func checkImage(image string) error {
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("image %q: digest is not sha256", image)
		}
	}
	if !strings.Contains(name, "/") || !strings.Contains(strings.Split(name, "/")[0], ".") {
		return fmt.Errorf("image %q has no registry host; kustomize's images: did not rewrite it", image)
	}
	last := name[strings.LastIndex(name, "/")+1:]
	_, tag, hasTag := strings.Cut(last, ":")
	if !hasDigest && (!hasTag || tag == "latest") {
		return fmt.Errorf("image %q is not pinned by tag or digest", image)
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// quantity is a test helper for building mutated resources.
func quantity(s string) resource.Quantity { return resource.MustParse(s) }
