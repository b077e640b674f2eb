package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/glpwinner/glp-sidecar/config"
)

// manifests are a file's Kubernetes objects, decoded strictly into the
// real API types: a field Kubernetes does not know (a typo, a wrong level)
// is an error, as kubectl apply's server-side validation would make it.
type manifests struct {
	statefulSets []appsv1.StatefulSet
	deployments  []appsv1.Deployment
	services     []corev1.Service
	pdbs         []policyv1.PodDisruptionBudget
	pods         []corev1.Pod
	claims       []corev1.PersistentVolumeClaim
}

func readManifests(t *testing.T, file string) manifests {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m manifests
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s, document %d: %v", file, i+1, err)
		}
		var target any
		switch head.Kind {
		case "StatefulSet":
			m.statefulSets = append(m.statefulSets, appsv1.StatefulSet{})
			target = &m.statefulSets[len(m.statefulSets)-1]
		case "Deployment":
			m.deployments = append(m.deployments, appsv1.Deployment{})
			target = &m.deployments[len(m.deployments)-1]
		case "Service":
			m.services = append(m.services, corev1.Service{})
			target = &m.services[len(m.services)-1]
		case "PodDisruptionBudget":
			m.pdbs = append(m.pdbs, policyv1.PodDisruptionBudget{})
			target = &m.pdbs[len(m.pdbs)-1]
		case "Pod":
			m.pods = append(m.pods, corev1.Pod{})
			target = &m.pods[len(m.pods)-1]
		case "PersistentVolumeClaim":
			m.claims = append(m.claims, corev1.PersistentVolumeClaim{})
			target = &m.claims[len(m.claims)-1]
		default:
			t.Fatalf("%s, document %d: kind %q is not checked here", file, i+1, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Errorf("%s, document %d (%s): %v", file, i+1, head.Kind, err)
		}
	}
	return m
}

// selects reports whether a selector (equality only, as a Service's) picks
// pods with labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func knownGLPVars() map[string]bool {
	known := map[string]bool{}
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		if n := ct.Field(i).Tag.Get("envconfig"); n != "" {
			known[config.Prefix+"_"+n] = true
		}
	}
	return known
}

func TestEveryKubernetesManifestDecodesIntoTheAPITypes(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) < 4 {
		t.Fatalf("only %v", files)
	}
	known := knownGLPVars()
	for _, f := range files {
		m := readManifests(t, f)
		var specs []corev1.PodSpec
		for _, s := range m.statefulSets {
			specs = append(specs, s.Spec.Template.Spec)
		}
		for _, d := range m.deployments {
			specs = append(specs, d.Spec.Template.Spec)
		}
		for _, p := range m.pods {
			specs = append(specs, p.Spec)
		}
		for _, spec := range specs {
			for _, c := range append(spec.InitContainers, spec.Containers...) {
				for name := range envOf(c) {
					if strings.HasPrefix(name, "GLP_") && !known[name] {
						t.Errorf("%s: %s sets %s, which the sidecar does not read", f, c.Name, name)
					}
				}
			}
		}
	}
}

// TestTheStatefulSetTopologyKeepsTheSiteUpAndEveryOutboxOnAVolume holds
// deploy/kubernetes/sidecar-statefulset.yaml to its promise: the app keeps a
// Deployment of its own (several replicas, rolling updates that never go
// below the replica count), the sidecar is a StatefulSet of two or more
// with a volume per pod kept when scaled down, replaced one at a time
// behind a readiness probe, a PodDisruptionBudget that keeps one, the
// site's Service on the sidecars and GLP_APP_URL on the app's Service; the
// drain pod serves no Service.
func TestTheStatefulSetTopologyKeepsTheSiteUpAndEveryOutboxOnAVolume(t *testing.T) {
	m := readManifests(t, "kubernetes/sidecar-statefulset.yaml")
	if len(m.statefulSets) != 1 || len(m.deployments) != 1 || len(m.pdbs) != 1 {
		t.Fatalf("want one StatefulSet, one Deployment and one PodDisruptionBudget: %d %d %d", len(m.statefulSets), len(m.deployments), len(m.pdbs))
	}
	sts, app, pdb := m.statefulSets[0], m.deployments[0], m.pdbs[0]
	replicas := int32(1)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	if replicas < 2 {
		t.Errorf("%d sidecar replicas: a rollout or a node drain would leave none ready", replicas)
	}
	if sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		t.Errorf("update strategy %q, want RollingUpdate", sts.Spec.UpdateStrategy.Type)
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		if n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(replicas), true); err != nil || n >= int(replicas) {
			t.Errorf("maxUnavailable %v of %d: a rollout could take every sidecar down", ru.MaxUnavailable, replicas)
		}
	}
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("claim retention %v: a scaled-down pod's queued events must stay on its volume until drained", p)
	}
	pod := sts.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("sidecar pod containers: %d", len(pod.Spec.Containers))
	}
	sc := pod.Spec.Containers[0]
	env := envOf(sc)
	ports := map[string]int32{}
	for _, p := range sc.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if rp := sc.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" || (rp.HTTPGet.Port.StrVal != "admin" && rp.HTTPGet.Port.IntVal != ports["admin"]) {
		t.Errorf("readiness probe %v, want /readyz on the admin port", sc.ReadinessProbe)
	}
	if env["GLP_SHUTDOWN_DELAY"] == "" || env["GLP_DB_URL"] != "" {
		t.Errorf("env %v: want a drain delay and the outbox in SQLite", env)
	}
	var volume *corev1.PersistentVolumeClaim
	for i, c := range sts.Spec.VolumeClaimTemplates {
		for _, vm := range sc.VolumeMounts {
			if vm.Name == c.Name && filepath.Dir(env["GLP_DB_PATH"]) == vm.MountPath {
				volume = &sts.Spec.VolumeClaimTemplates[i]
			}
		}
	}
	if volume == nil || len(volume.Spec.AccessModes) != 1 || volume.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("GLP_DB_PATH %s is not on a ReadWriteOnce volume of the pod's own (a volumeClaimTemplate)", env["GLP_DB_PATH"])
	}
	if !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("the PodDisruptionBudget selects %v, not the sidecar pods %v", pdb.Spec.Selector.MatchLabels, pod.Labels)
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if n, _ := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(replicas), true); n < 1 || n >= int(replicas) {
			t.Errorf("PDB maxUnavailable %v of %d: want a drain to take one at a time and leave one", pdb.Spec.MaxUnavailable, replicas)
		}
	case pdb.Spec.MinAvailable != nil:
		if n, _ := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(replicas), true); n < 1 || n >= int(replicas) {
			t.Errorf("PDB minAvailable %v of %d: want one kept and a drain possible", pdb.Spec.MinAvailable, replicas)
		}
	default:
		t.Error("the PodDisruptionBudget bounds nothing")
	}

	services := map[string]corev1.Service{}
	var site *corev1.Service
	for i, s := range m.services {
		services[s.Name] = s
		if selects(s.Spec.Selector, pod.Labels) && s.Spec.ClusterIP != corev1.ClusterIPNone {
			site = &m.services[i]
		}
	}
	if gov, ok := services[sts.Spec.ServiceName]; !ok || gov.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %q: want a headless Service in the file", sts.Spec.ServiceName)
	}
	if site == nil {
		t.Fatal("no Service sends the site's traffic to the sidecar pods")
	}
	for _, p := range site.Spec.Ports {
		if p.TargetPort.IntVal != ports["public"] && p.TargetPort.StrVal != "public" {
			t.Errorf("the site's Service targets %v, not the sidecar's public port %d", p.TargetPort, ports["public"])
		}
	}

	for _, c := range app.Spec.Template.Spec.Containers {
		if strings.Contains(c.Image, "glp-sidecar") {
			t.Errorf("the app's Deployment runs the sidecar (%s): it must be free to scale and roll", c.Name)
		}
	}
	if app.Spec.Replicas == nil || *app.Spec.Replicas < 2 {
		t.Errorf("the app's replicas %v: the topology is for a site of several pods", app.Spec.Replicas)
	}
	if s := app.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable == nil ||
		s.RollingUpdate.MaxUnavailable.IntValue() != 0 && s.RollingUpdate.MaxUnavailable.StrVal != "0%" {
		t.Errorf("the app's strategy %v: want RollingUpdate with maxUnavailable 0", s)
	}
	target, err := url.Parse(env["GLP_APP_URL"])
	if err != nil {
		t.Fatal(err)
	}
	appSvc, ok := services[target.Hostname()]
	if !ok || !selects(appSvc.Spec.Selector, app.Spec.Template.Labels) {
		t.Fatalf("GLP_APP_URL %s is not a Service of the app's pods", env["GLP_APP_URL"])
	}
	var reached bool
	for _, p := range appSvc.Spec.Ports {
		reached = reached || target.Port() == strconv.Itoa(int(p.Port))
	}
	if !reached {
		t.Errorf("GLP_APP_URL's port %s is not a port of Service %s", target.Port(), appSvc.Name)
	}
	appEnv := envOf(app.Spec.Template.Spec.Containers[0])
	if sidecar, err := url.Parse(appEnv["SIDECAR_URL"]); err != nil || sidecar.Hostname() != site.Name {
		t.Errorf("the app's SIDECAR_URL %q is not the sidecars' Service %s", appEnv["SIDECAR_URL"], site.Name)
	}

	drain := readManifests(t, "kubernetes/drain-pod.yaml")
	if len(drain.pods) != 1 {
		t.Fatal("drain-pod.yaml: want one Pod")
	}
	for _, s := range m.services {
		if selects(s.Spec.Selector, drain.pods[0].Labels) {
			t.Errorf("Service %s would send traffic to the drain pod", s.Name)
		}
	}
	var claim string
	for _, v := range drain.pods[0].Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != "CLAIM" || envOf(drain.pods[0].Spec.Containers[0])["GLP_DB_PATH"] != env["GLP_DB_PATH"] || envOf(drain.pods[0].Spec.Containers[0])["GLP_APP_URL"] != "" {
		t.Errorf("the drain pod: claim %q, env %v: want the CLAIM placeholder, the StatefulSet's GLP_DB_PATH and no app", claim, envOf(drain.pods[0].Spec.Containers[0]))
	}
}
