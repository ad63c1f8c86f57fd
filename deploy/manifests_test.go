package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// overlays lists every overlay and exactly the objects it must produce; a
// Secret appearing here would mean credentials in the repository.
var overlays = []struct {
	dir  string
	want []string
}{
	{"overlays/scheduled", []string{"batch/v1 CronJob astroingest", "v1 ServiceAccount astroingest"}},
	{"overlays/backfill", []string{"batch/v1 Job astroingest-backfill", "v1 ServiceAccount astroingest"}},
}

func TestOverlaysBuild(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.dir, func(t *testing.T) {
			objs := build(t, o.dir)
			if got := kindsOf(objs); !slices.Equal(got, o.want) {
				t.Fatalf("objects = %q, want %q", got, o.want)
			}
			for _, obj := range objs {
				m := objectMeta(t, obj)
				if m.ns != "astroingest" {
					t.Errorf("%s %s: namespace %q, want astroingest", obj.kind, obj.name, m.ns)
				}
				if m.labels["app.kubernetes.io/name"] != "astroingest" {
					t.Errorf("%s %s: labels %v lack app.kubernetes.io/name=astroingest", obj.kind, obj.name, m.labels)
				}
			}
		})
	}
}

type meta struct {
	ns     string
	labels map[string]string
}

func objectMeta(t *testing.T, o object) meta {
	t.Helper()
	switch v := o.obj.(type) {
	case *batchv1.CronJob:
		return meta{v.Namespace, v.Labels}
	case *batchv1.Job:
		return meta{v.Namespace, v.Labels}
	case *corev1.ServiceAccount:
		if v.AutomountServiceAccountToken == nil || *v.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s: automountServiceAccountToken is not false", v.Name)
		}
		return meta{v.Namespace, v.Labels}
	}
	t.Fatalf("%s %s: no metadata accessor", o.kind, o.name)
	return meta{}
}

func TestWorkloadPolicy(t *testing.T) {
	var all []workload
	for _, o := range overlays {
		all = append(all, workloads(t, o.dir, build(t, o.dir))...)
	}
	if len(all) != 2 {
		t.Fatalf("found %d workloads, want the CronJob and the backfill Job", len(all))
	}
	for _, c := range policyChecks() {
		for _, w := range all {
			if c.applies != nil && !c.applies(w) {
				continue
			}
			t.Run(c.name+"/"+w.source, func(t *testing.T) {
				if err := c.fn(w); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestPolicyChecksCatch shows that each check fails on the mistake it exists
// for, starting from the real scheduled CronJob.
func TestPolicyChecksCatch(t *testing.T) {
	base := only[*batchv1.CronJob](t, "overlays/scheduled")
	ctr := func(cj *batchv1.CronJob) *corev1.Container {
		return &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	}
	pod := func(cj *batchv1.CronJob) *corev1.PodSpec { return &cj.Spec.JobTemplate.Spec.Template.Spec }
	setArg := func(cj *batchv1.CronJob, prefix, arg string) {
		c := ctr(cj)
		for i, a := range c.Args {
			if strings.HasPrefix(a, prefix) {
				c.Args[i] = arg
				return
			}
		}
		c.Args = append(c.Args, arg)
	}
	tests := []mutation[*batchv1.CronJob]{
		{"restart OnFailure", "restartPolicy Never", func(cj *batchv1.CronJob) { pod(cj).RestartPolicy = corev1.RestartPolicyOnFailure }},
		{"short grace period", "grace period covers upload aborts", func(cj *batchv1.CronJob) { pod(cj).TerminationGracePeriodSeconds = ptr[int64](30) }},
		{"root user", "pod security context", func(cj *batchv1.CronJob) { pod(cj).SecurityContext.RunAsUser = ptr[int64](0) }},
		{"no seccomp", "pod security context", func(cj *batchv1.CronJob) { pod(cj).SecurityContext.SeccompProfile = nil }},
		{"writable root", "container security context", func(cj *batchv1.CronJob) { ctr(cj).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }},
		{"capability added", "container security context", func(cj *batchv1.CronJob) {
			ctr(cj).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		{"tmp on hostPath", "writable /tmp is an emptyDir", func(cj *batchv1.CronJob) {
			pod(cj).Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
		}},
		{"token mounted", "no service account token", func(cj *batchv1.CronJob) { pod(cj).AutomountServiceAccountToken = nil }},
		{"more workers, same limit", "memory fits workers", func(cj *batchv1.CronJob) { setArg(cj, "--workers=", "--workers=16") }},
		{"GOMEMLIMIT at limit", "memory fits workers", func(cj *batchv1.CronJob) {
			for i := range ctr(cj).Env {
				if ctr(cj).Env[i].Name == "GOMEMLIMIT" {
					ctr(cj).Env[i].Value = "768MiB"
				}
			}
		}},
		{"request above limit", "memory fits workers", func(cj *batchv1.CronJob) { ctr(cj).Resources.Requests[corev1.ResourceMemory] = quantity("1Gi") }},
		{"optional secret", "credentials from the Secret", func(cj *batchv1.CronJob) { ctr(cj).EnvFrom[0].SecretRef.Optional = ptr(true) }},
		{"inline credential", "credentials from the Secret", func(cj *batchv1.CronJob) {
			ctr(cj).Env = append(ctr(cj).Env, corev1.EnvVar{Name: "AWS_SECRET_ACCESS_KEY", Value: "x"})
		}},
		{"other bucket", "bucket", func(cj *batchv1.CronJob) { setEnv(cj, "ASTROINGEST_BUCKET", "file://./mirror") }},
		{"metrics on other port", "metrics endpoint and push", func(cj *batchv1.CronJob) { setArg(cj, "--metrics-listen=", "--metrics-listen=:8080") }},
		{"misspelt flag", "CLI contract", func(cj *batchv1.CronJob) { setArg(cj, "--workers=", "--worker=8") }},
		{"flag value as next arg", "CLI contract", func(cj *batchv1.CronJob) { ctr(cj).Args = append(ctr(cj).Args, "--registry", "/r") }},
		{"unknown command", "CLI contract", func(cj *batchv1.CronJob) { ctr(cj).Args[0] = "sync" }},
		{"undefined env ref", "env references resolve", func(cj *batchv1.CronJob) { setArg(cj, "--shard-count=", "--shard-count=$(SHARDS)") }},
		{"latest image", "image pinned", func(cj *batchv1.CronJob) { ctr(cj).Image = "ghcr.io/astroingest/astroingest:latest" }},
		{"unrewritten image", "image pinned", func(cj *batchv1.CronJob) { ctr(cj).Image = "astroingest" }},
		{"exit 2 retried", "pod failure policy", func(cj *batchv1.CronJob) {
			rules := &cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules
			*rules = append([]batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionCount,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0}},
			}}, *rules...)
		}},
		{"disruption counted", "pod failure policy", func(cj *batchv1.CronJob) {
			rules := &cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules
			*rules = slices.DeleteFunc(*rules, func(r batchv1.PodFailurePolicyRule) bool { return len(r.OnPodConditions) > 0 })
		}},
		{"busy fails the Job", "pod failure policy", func(cj *batchv1.CronJob) {
			r := &cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules[0]
			r.OnExitCodes.Values = append(r.OnExitCodes.Values, 4)
		}},
		{"an OOM kill fails the Job", "pod failure policy", func(cj *batchv1.CronJob) {
			r := &cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules[0]
			r.OnExitCodes.Values = append(r.OnExitCodes.Values, 137)
		}},
		{"busy counted", "pod failure policy", func(cj *batchv1.CronJob) {
			rules := &cj.Spec.JobTemplate.Spec.PodFailurePolicy.Rules
			*rules = slices.DeleteFunc(*rules, func(r batchv1.PodFailurePolicyRule) bool {
				return r.OnExitCodes != nil && slices.Contains(r.OnExitCodes.Values, 4)
			})
		}},
		{"replacement while terminating", "replacement only after termination", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.PodReplacementPolicy = ptr(batchv1.TerminatingOrFailed)
		}},
		{"no replacement policy", "replacement only after termination", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.PodReplacementPolicy = nil
		}},
		{"no Job uid", "lease identity from the downward API", func(cj *batchv1.CronJob) {
			ctr(cj).Env = slices.DeleteFunc(ctr(cj).Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_UID" })
		}},
		{"Job name typed in", "lease identity from the downward API", func(cj *batchv1.CronJob) { setEnv(cj, "JOB_NAME", "astroingest") }},
		{"CronJob renamed, not its env", "lease identity from the downward API", func(cj *batchv1.CronJob) { cj.Name = "astroingest-nightly" }},
		{"not indexed", "lease identity from the downward API", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.CompletionMode = ptr(batchv1.NonIndexedCompletion)
		}},
		{"default backoff", "retries and deadline bounded", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.BackoffLimit = nil }},
		{"hourly schedule", "cron schedule and deadlines", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 * * * *" }},
		{"concurrent runs", "cron schedule and deadlines", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent }},
		{"local time zone", "cron schedule and deadlines", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = nil }},
	}
	catches(t, base.DeepCopy, cronWorkload, tests)
}

// only returns the one object of type T in the build of dir.
func only[T any](t *testing.T, dir string) T {
	t.Helper()
	var found []T
	for _, o := range build(t, dir) {
		if v, ok := o.obj.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T in %s, want one", len(found), zero, dir)
	}
	return found[0]
}

// mutation is one mistake in a workload of type T and the check that must
// catch it.
type mutation[T any] struct {
	name   string
	check  string
	mutate func(T)
}

// catches runs each mutation on a fresh copy of the real workload and
// wants its check to pass the copy and fail the mutated one.
func catches[T any](t *testing.T, fresh func() T, asWorkload func(T) workload, tests []mutation[T]) {
	t.Helper()
	checks := map[string]check{}
	for _, c := range policyChecks() {
		checks[c.name] = c
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := checks[tt.check]
			if !ok {
				t.Fatalf("no check named %q", tt.check)
			}
			if err := c.fn(asWorkload(fresh())); err != nil {
				t.Fatalf("check %q fails before the mutation: %v", tt.check, err)
			}
			w := fresh()
			tt.mutate(w)
			if err := c.fn(asWorkload(w)); err == nil {
				t.Errorf("check %q passed a workload with %s", tt.check, tt.name)
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}

// setEnv sets the container's env name to a plain value.
func setEnv(cj *batchv1.CronJob, name, value string) {
	c := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func cronWorkload(cj *batchv1.CronJob) workload {
	return workload{
		source: "mutated " + cj.Name,
		name:   cj.Name,
		cron:   &cj.Spec,
		job:    &cj.Spec.JobTemplate.Spec,
		labels: cj.Spec.JobTemplate.Spec.Template.Labels,
		pod:    &cj.Spec.JobTemplate.Spec.Template.Spec,
	}
}

func ptr[T any](v T) *T { return &v }

// TestStrictDecodeRejects shows that a misplaced or misspelt field fails the
// decode instead of being dropped.
func TestStrictDecodeRejects(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"misspelt field", `
apiVersion: batch/v1
kind: Job
metadata: {name: x}
spec:
  template:
    spec:
      restartPolicyy: Never
      containers: [{name: a, image: b}]
`},
		{"field at the wrong level", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: x}
spec:
  schedule: "* * * * *"
  activeDeadlineSeconds: 10
  jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: b}]}}}}
`},
		{"duplicate field", `
apiVersion: v1
kind: ServiceAccount
metadata: {name: x}
automountServiceAccountToken: false
automountServiceAccountToken: true
`},
		{"unchecked kind", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeStrict([]byte(tt.doc)); err == nil {
				t.Error("decoded without error")
			}
		})
	}
}

func TestSecretExample(t *testing.T) {
	doc, err := os.ReadFile("base/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict(doc)
	if err != nil {
		t.Fatalf("base/secret.example.yaml: %v", err)
	}
	s := o.obj.(*corev1.Secret)
	if s.Name != secretName || s.Namespace != "astroingest" {
		t.Errorf("Secret %s/%s, want astroingest/%s (the name the workloads' envFrom uses)", s.Namespace, s.Name, secretName)
	}
	if len(s.Data) > 0 {
		t.Error("the example has base64 data; placeholders belong in stringData")
	}
	keys := make([]string, 0, len(s.StringData))
	for k, v := range s.StringData {
		keys = append(keys, k)
		if !strings.HasPrefix(v, "REPLACE_WITH_") {
			t.Errorf("key %s has value %q, want a REPLACE_WITH_ placeholder, never a real credential", k, v)
		}
	}
	if want := slices.Sorted(slices.Values(credentialKeys)); !slices.Equal(slices.Sorted(slices.Values(keys)), want) {
		t.Errorf("keys %q, want %q", slices.Sorted(slices.Values(keys)), want)
	}
	// The example must stay out of every build: TestOverlaysBuild lists each
	// overlay's objects exactly, and no kustomization may name the file.
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var k struct {
			Resources []string `json:"resources"`
		}
		if err := yaml.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range k.Resources {
			if filepath.Base(r) == "secret.example.yaml" {
				t.Errorf("%s lists %s as a resource", path, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// podMonitor is the part of monitoring.coreos.com/v1 PodMonitor we use,
// decoded strictly. The operator's own Go types would pull in its whole API
// module and client machinery for one object; a strict local struct still
// fails on any misspelt or unexpected field (adding a field means adding it
// here, on purpose), and the checks below tie it to the workloads.
type podMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

func TestPodMonitor(t *testing.T) {
	doc, err := os.ReadFile("monitoring/podmonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pm podMonitor
	if err := yaml.UnmarshalStrict(doc, &pm); err != nil {
		t.Fatalf("monitoring/podmonitor.yaml: %v", err)
	}
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" {
		t.Fatalf("%s %s, want monitoring.coreos.com/v1 PodMonitor", pm.APIVersion, pm.Kind)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d podMetricsEndpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port != metricsPortName || ep.Path != "/metrics" {
		t.Errorf("endpoint port %q path %q, want %s /metrics", ep.Port, ep.Path, metricsPortName)
	}
	if iv := intstr.FromString(ep.Interval); iv.StrVal == "" || ep.ScrapeTimeout == "" {
		t.Errorf("interval %q and scrapeTimeout %q must be set", ep.Interval, ep.ScrapeTimeout)
	}
	if len(pm.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("empty selector would select every pod")
	}
	// Every workload's pods must be selected, in a watched namespace, and
	// expose the named port.
	for _, o := range overlays {
		objs := build(t, o.dir)
		for _, w := range workloads(t, o.dir, objs) {
			for k, v := range pm.Spec.Selector.MatchLabels {
				if w.labels[k] != v {
					t.Errorf("%s: pod label %s=%q, PodMonitor selects %q", w.source, k, w.labels[k], v)
				}
			}
			if ns := objectMeta(t, objs[0]).ns; !slices.Contains(pm.Spec.NamespaceSelector.MatchNames, ns) {
				t.Errorf("%s: namespace %q not in the PodMonitor's namespaceSelector %q", w.source, ns, pm.Spec.NamespaceSelector.MatchNames)
			}
			c, err := w.container()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == ep.Port }) {
				t.Errorf("%s: no container port named %q", w.source, ep.Port)
			}
		}
	}
}

func TestGrafanaConfigMap(t *testing.T) {
	objs := build(t, "grafana")
	if len(objs) != 1 {
		t.Fatalf("grafana kustomization built %d objects, want 1 ConfigMap", len(objs))
	}
	cm, ok := objs[0].obj.(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("built %s, want a ConfigMap", objs[0].kind)
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v lack grafana_dashboard=1 (the sidecar's default)", cm.Labels)
	}
	want, err := os.ReadFile("grafana/astroingest.json")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["astroingest.json"] != string(want) {
		t.Error("ConfigMap data astroingest.json differs from grafana/astroingest.json")
	}
}

// The checks that differ for the backfill Job fail on its own mistakes.
func TestPolicyChecksCatchJob(t *testing.T) {
	base := only[*batchv1.Job](t, "overlays/backfill")
	ctr := func(j *batchv1.Job) *corev1.Container { return &j.Spec.Template.Spec.Containers[0] }
	tests := []mutation[*batchv1.Job]{
		{"a CronJob name on a backfill", "lease identity from the downward API", func(j *batchv1.Job) {
			ctr(j).Env = append(ctr(j).Env, corev1.EnvVar{Name: "CRONJOB_NAME", Value: "astroingest"})
		}},
		{"no Job uid", "lease identity from the downward API", func(j *batchv1.Job) {
			ctr(j).Env = slices.DeleteFunc(ctr(j).Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_UID" })
		}},
		{"replacement while terminating", "replacement only after termination", func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr(batchv1.TerminatingOrFailed)
		}},
		{"busy counted", "pod failure policy", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy.Rules = slices.DeleteFunc(j.Spec.PodFailurePolicy.Rules, func(r batchv1.PodFailurePolicyRule) bool {
				return r.OnExitCodes != nil && slices.Contains(r.OnExitCodes.Values, 4)
			})
		}},
	}
	jobWorkload := func(j *batchv1.Job) workload {
		return workload{source: "mutated " + j.Name, name: j.Name, job: &j.Spec, labels: j.Spec.Template.Labels, pod: &j.Spec.Template.Spec}
	}
	catches(t, base.DeepCopy, jobWorkload, tests)
}
