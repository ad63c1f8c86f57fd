package deploy

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one decoded Kubernetes object of a kustomize build.
type object struct {
	kind string // "batch/v1 CronJob"
	name string
	obj  any // typed k8s.io/api value
}

// newTyped maps apiVersion+kind to the k8s.io/api type an object must decode
// into. A kind missing here fails the build test on purpose: a new kind of
// object in the manifests should come with the checks it needs.
func newTyped(apiVersionKind string) (any, bool) {
	switch apiVersionKind {
	case "batch/v1 CronJob":
		return &batchv1.CronJob{}, true
	case "batch/v1 Job":
		return &batchv1.Job{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	}
	return nil, false
}

// decodeStrict decodes one YAML object into its k8s.io/api type, failing on
// unknown or duplicate fields, so that a misspelt or misplaced field (which
// the API server would drop silently with client-side apply) fails here.
func decodeStrict(doc []byte) (object, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return object{}, fmt.Errorf("read apiVersion/kind: %w", err)
	}
	kind := meta.APIVersion + " " + meta.Kind
	obj, ok := newTyped(kind)
	if !ok {
		return object{}, fmt.Errorf("%s %q: no typed decoder for this kind; add it to newTyped with its checks", kind, meta.Metadata.Name)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s %q: %w", kind, meta.Metadata.Name, err)
	}
	return object{kind: kind, name: meta.Metadata.Name, obj: obj}, nil
}

// build runs kustomize (the same code as `kubectl apply -k`) on dir and
// decodes every resulting object strictly.
func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, r.CurId(), err)
		}
		o, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// workload is the part of a CronJob or Job that the policy checks look at.
type workload struct {
	source string // overlay/kind/name, for messages
	name   string // the CronJob's or Job's metadata.name
	cron   *batchv1.CronJobSpec
	job    *batchv1.JobSpec
	labels map[string]string // pod template labels
	pod    *corev1.PodSpec
}

func workloads(t *testing.T, overlay string, objs []object) []workload {
	t.Helper()
	var ws []workload
	for _, o := range objs {
		w := workload{source: overlay + ": " + o.kind + " " + o.name, name: o.name}
		switch v := o.obj.(type) {
		case *batchv1.CronJob:
			w.cron = &v.Spec
			w.job = &v.Spec.JobTemplate.Spec
		case *batchv1.Job:
			w.job = &v.Spec
		default:
			continue
		}
		w.labels = w.job.Template.Labels
		w.pod = &w.job.Template.Spec
		ws = append(ws, w)
	}
	return ws
}

// container returns the astroingest container: podFailurePolicy rules name
// it, so it must exist under exactly this name.
func (w workload) container() (*corev1.Container, error) {
	for i := range w.pod.Containers {
		if w.pod.Containers[i].Name == containerName {
			return &w.pod.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("no container named %q", containerName)
}

const containerName = "astroingest"

func kindsOf(objs []object) []string {
	set := map[string]bool{}
	for _, o := range objs {
		set[o.kind+" "+o.name] = true
	}
	return slices.Sorted(maps.Keys(set))
}
