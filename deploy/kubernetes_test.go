package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/regsync/regsync/internal/config"
)

const k8sDir = "kubernetes"

// kustomization is the part of kustomize's Kustomization that the base
// uses; decoding it strictly rejects any other field.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
		IncludeTemplates bool              `json:"includeTemplates"`
	} `json:"labels"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests are the base's resources, decoded strictly into the
// Kubernetes API types.
type manifests struct {
	kustomization  kustomization
	deployment     *appsv1.Deployment
	service        *corev1.Service
	pdb            *policyv1.PodDisruptionBudget
	networkPolicy  *networkingv1.NetworkPolicy
	serviceAccount *corev1.ServiceAccount
}

// readStrict decodes a YAML file as the API server does with strict field
// validation: duplicate keys, unknown fields and fields spelled in another
// case are errors.
func readStrict(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	strict, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, e := range strict {
		t.Errorf("%s: %v", file, e)
	}
	if len(strict) > 0 {
		t.FailNow()
	}
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	readStrict(t, filepath.Join(k8sDir, "kustomization.yaml"), &m.kustomization)
	for _, res := range m.kustomization.Resources {
		file := filepath.Join(k8sDir, res)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tm metav1.TypeMeta // the kind picks the type to decode strictly into
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "v1 Service":
			m.service = &corev1.Service{}
			obj = m.service
		case "policy/v1 PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		case "networking.k8s.io/v1 NetworkPolicy":
			m.networkPolicy = &networkingv1.NetworkPolicy{}
			obj = m.networkPolicy
		case "v1 ServiceAccount":
			m.serviceAccount = &corev1.ServiceAccount{}
			obj = m.serviceAccount
		default:
			t.Fatalf("%s: unexpected %s %s", file, tm.APIVersion, tm.Kind)
		}
		readStrict(t, file, obj)
	}
	if m.deployment == nil || m.service == nil || m.pdb == nil || m.networkPolicy == nil || m.serviceAccount == nil {
		t.Fatalf("the base lacks a Deployment, Service, PodDisruptionBudget, NetworkPolicy or ServiceAccount: %+v", m.kustomization.Resources)
	}
	return m
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	k := m.kustomization
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	for _, l := range k.Labels {
		if l.IncludeSelectors {
			t.Error("labels with includeSelectors rewrite the NetworkPolicy's selectors of DNS and NATS pods")
		}
	}
	// Every other YAML file is a resource, a generator input or the NATS
	// chart's values.
	used := []string{"kustomization.yaml", "nats-values.yaml"}
	used = append(used, k.Resources...)
	for _, g := range k.ConfigMapGenerator {
		used = append(used, g.Files...)
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.Contains(used, filepath.Base(f)) {
			t.Errorf("%s is in neither resources nor a generator of kustomization.yaml", f)
		}
	}
}

func TestDeploymentIsHardened(t *testing.T) {
	d := loadManifests(t).deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod may run as root")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("a service account token is mounted; regsync does not use the Kubernetes API")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		t.Error("capabilities are not all dropped")
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[name]; !ok {
			t.Errorf("no %s request", name)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s probe", name)
			continue
		}
		if _, ok := ports[p.HTTPGet.Port.String()]; !ok {
			t.Errorf("%s probe on unknown port %s", name, p.HTTPGet.Port.String())
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("liveness must ask /healthz and readiness /readyz")
	}
}

// TestDeploymentRunsItsConfig follows the Deployment's --config to the
// generated ConfigMap, loads it with regsync's loader, and checks that every
// file the configuration names is mounted from a Secret or ConfigMap and
// that secrets come from Secrets.
func TestDeploymentRunsItsConfig(t *testing.T) {
	m := loadManifests(t)
	pod := m.deployment.Spec.Template.Spec
	c := pod.Containers[0]
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %v have no --config", c.Args)
	}
	configPath := c.Args[i+1]

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	// mountOf finds the volume a container path is in.
	mountOf := func(p string) (corev1.Volume, string, bool) {
		for _, vm := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(p, vm.MountPath+"/"); ok {
				return volumes[vm.Name], rel, true
			}
		}
		return corev1.Volume{}, "", false
	}

	v, file, ok := mountOf(configPath)
	if !ok || v.ConfigMap == nil {
		t.Fatalf("--config %s is not in a mounted ConfigMap", configPath)
	}
	var generated []string
	for _, g := range m.kustomization.ConfigMapGenerator {
		if g.Name == v.ConfigMap.Name {
			generated = g.Files
		}
	}
	if !slices.Contains(generated, file) {
		t.Fatalf("ConfigMap %s has no generated file %s", v.ConfigMap.Name, file)
	}
	data, err := os.ReadFile(filepath.Join(k8sDir, file))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}

	if cfg.NATS.URL == "" || cfg.NATS.Replicas != 3 {
		t.Errorf("nats: url %q, replicas %d: want the external cluster with 3 replicas", cfg.NATS.URL, cfg.NATS.Replicas)
	}
	if !strings.HasPrefix(cfg.HTTP.Addr, "0.0.0.0:") && !strings.HasPrefix(cfg.HTTP.Addr, ":") {
		t.Errorf("http.addr %s is not reachable from other pods", cfg.HTTP.Addr)
	}
	if got, want := cfg.HTTP.Addr[strings.LastIndex(cfg.HTTP.Addr, ":")+1:], c.Ports[0].ContainerPort; got != strconv.Itoa(int(want)) {
		t.Errorf("http.addr port %s, container port %d", got, want)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == cfg.DataDir }) {
		t.Errorf("dataDir %s is not a mounted volume (the root filesystem is read-only)", cfg.DataDir)
	}

	secretFiles := map[string]string{"nats.tls.caFile": cfg.NATS.TLS.CAFile}
	for name, w := range map[string]config.WebhookSecret{"github": cfg.Webhooks.GitHub, "gitea": cfg.Webhooks.Gitea, "bitbucket": cfg.Webhooks.Bitbucket, "generic": cfg.Webhooks.Generic} {
		secretFiles["webhooks."+name+".secretFile"] = w.SecretFile
	}
	secretFiles["webhooks.gitlab.tokenFile"] = cfg.Webhooks.GitLab.TokenFile
	for key, p := range secretFiles {
		if p == "" {
			continue
		}
		v, _, ok := mountOf(p)
		if !ok || v.Secret == nil {
			t.Errorf("%s %s is not in a mounted Secret", key, p)
		}
	}
	if cfg.NATS.Password.Reveal() != "" || cfg.NATS.Token.Reveal() != "" {
		t.Error("a NATS secret is written in the ConfigMap")
	}
	env := map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom
		if e.Value != "" && strings.Contains(e.Name, "PASSWORD") {
			t.Errorf("%s is written in the manifest", e.Name)
		}
	}
	for _, name := range []string{"REGSYNC_NATS_USER", "REGSYNC_NATS_PASSWORD"} {
		if src := env[name]; src == nil || src.SecretKeyRef == nil {
			t.Errorf("%s is not taken from a Secret", name)
		}
	}
}

func TestSelectorsMatchThePods(t *testing.T) {
	m := loadManifests(t)
	pods := labels.Set(m.deployment.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(m.deployment.Spec.Selector)
	if err != nil || !sel.Matches(pods) {
		t.Errorf("the Deployment's selector does not match its pods (%v)", err)
	}
	if !labels.SelectorFromSet(m.service.Spec.Selector).Matches(pods) {
		t.Error("the Service selects no regsync pod")
	}
	if sel, err := metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector); err != nil || !sel.Matches(pods) {
		t.Errorf("the PodDisruptionBudget selects no regsync pod (%v)", err)
	}
	if m.pdb.Spec.MinAvailable == nil || m.pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Error("the PodDisruptionBudget lets every replica go")
	}
	if sel, err := metav1.LabelSelectorAsSelector(&m.networkPolicy.Spec.PodSelector); err != nil || !sel.Matches(pods) {
		t.Errorf("the NetworkPolicy applies to no regsync pod (%v)", err)
	}
	if m.deployment.Spec.Template.Spec.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("the pods run as %q, the base defines %q", m.deployment.Spec.Template.Spec.ServiceAccountName, m.serviceAccount.Name)
	}

	c := m.deployment.Spec.Template.Spec.Containers[0]
	named := map[string]bool{}
	for _, p := range c.Ports {
		named[p.Name] = true
	}
	for _, p := range m.service.Spec.Ports {
		if !named[p.TargetPort.String()] {
			t.Errorf("Service port %s targets %s, not a named container port", p.Name, p.TargetPort.String())
		}
	}
	var ingressHTTP bool
	for _, rule := range m.networkPolicy.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil && named[p.Port.String()] {
				ingressHTTP = true
			}
		}
	}
	if !ingressHTTP || !slices.Contains(m.networkPolicy.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Error("the NetworkPolicy must let webhooks in and restrict egress")
	}
	var toNATS bool
	for _, rule := range m.networkPolicy.Spec.Egress {
		for _, peer := range rule.To {
			if peer.PodSelector != nil && peer.PodSelector.MatchLabels["app.kubernetes.io/name"] == "nats" {
				toNATS = true
			}
		}
	}
	if !toNATS {
		t.Error("the NetworkPolicy does not let regsync reach the NATS pods")
	}
}

// TestNetworkPolicyLetsTracesOut: the OTLP endpoint the Deployment's
// comment offers must be reachable through the NetworkPolicy.
func TestNetworkPolicyLetsTracesOut(t *testing.T) {
	m := loadManifests(t)
	raw, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile(`OTEL_EXPORTER_OTLP_ENDPOINT, value: "https?://[^:"]+:(\d+)"`).FindSubmatch(raw)
	if found == nil {
		t.Fatal("deployment.yaml no longer shows an OTLP endpoint with a port")
	}
	port, err := strconv.Atoi(string(found[1]))
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range m.networkPolicy.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.IntValue() == port && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				return
			}
		}
	}
	t.Errorf("the NetworkPolicy blocks egress to TCP port %d, the OTLP endpoint deployment.yaml suggests", port)
}
