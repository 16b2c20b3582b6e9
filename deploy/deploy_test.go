// Package deploy holds freight's deployment material: the container image
// (Dockerfile), docker-compose's configuration (compose/), Kubernetes
// manifests (kubernetes/), the Grafana dashboard and the Prometheus alert
// rules. These tests check what can be checked without a Docker engine or
// a cluster: the files parse, and they keep the invariants the README
// promises (health checks, probes, grace periods, non-root, metrics that
// exist).
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/event"
)

// m is a YAML or JSON object.
type m = map[string]any

func readYAML(t *testing.T, path string) m {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v m
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// readYAMLDocs reads every document of a multi-document YAML file.
func readYAMLDocs(t *testing.T, path string) []m {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []m
	for {
		var v m
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
}

func obj(v any) m      { x, _ := v.(m); return x }
func list(v any) []any { x, _ := v.([]any); return x }
func str(v any) string { x, _ := v.(string); return x }
func dig(v any, path ...string) any {
	for _, p := range path {
		v = obj(v)[p]
	}
	return v
}

// --- docker-compose.yml ---------------------------------------------------

// The compose file runs the stack the README describes, and `docker compose
// up --wait` can tell when it is ready: every long-running service has a
// health check, and every one-shot job is awaited by a long-running
// service (compose counts an exited container that nothing awaits as a
// failure of --wait).
func TestComposeFile(t *testing.T) {
	c := readYAML(t, "../docker-compose.yml")
	services := obj(c["services"])
	for _, want := range []string{"kafka", "topics", "redis", "schema-registry", "sandbox", "producer", "freight"} {
		if services[want] == nil {
			t.Errorf("no service %s", want)
		}
	}
	if img := str(dig(services, "kafka", "image")); !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka runs %q, want the official apache/kafka image", img)
	}
	if env := obj(dig(services, "kafka", "environment")); !strings.Contains(str(env["KAFKA_PROCESS_ROLES"]), "controller") {
		t.Error("kafka is not a KRaft broker+controller")
	}

	awaited := map[string]bool{} // one-shot jobs some long-running service waits for
	for name, s := range services {
		for dep, cond := range obj(obj(s)["depends_on"]) {
			if services[dep] == nil {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			}
			if str(obj(cond)["condition"]) == "service_completed_successfully" && str(obj(s)["restart"]) != "no" {
				awaited[dep] = true
			}
			if str(obj(cond)["condition"]) == "service_healthy" && dig(services, dep, "healthcheck") == nil {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}
	for name, s := range services {
		oneShot := str(obj(s)["restart"]) == "no"
		hc := obj(obj(s)["healthcheck"])
		switch {
		case oneShot && !awaited[name]:
			t.Errorf("one-shot %s is awaited by no long-running service: `up --wait` would fail when it exits", name)
		case !oneShot && len(list(hc["test"])) == 0:
			t.Errorf("long-running %s has no health check: `up --wait` cannot tell it is ready", name)
		}
		// Files mounted from the repository must exist.
		for _, v := range list(obj(s)["volumes"]) {
			src, _, _ := strings.Cut(str(v), ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	freight := obj(services["freight"])
	if b := obj(freight["build"]); str(b["dockerfile"]) != "deploy/Dockerfile" {
		t.Errorf("freight is built from %q, want deploy/Dockerfile", b["dockerfile"])
	}
	// The relay's configuration: it must load, with the environment the
	// compose file gives it.
	var cfgPath string
	for _, v := range list(freight["volumes"]) {
		if src, dst, _ := strings.Cut(str(v), ":"); strings.HasPrefix(dst, "/etc/freight/freight.yaml") {
			cfgPath = filepath.Join("..", src)
		}
	}
	if cfgPath == "" {
		t.Fatal("freight mounts no /etc/freight/freight.yaml")
	}
	doc, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	env := obj(freight["environment"])
	for k, v := range env {
		t.Setenv(k, str(v))
	}
	cfg, err := config.Parse(doc)
	if err != nil {
		t.Fatalf("%s: %v", cfgPath, err)
	}
	if err := cfg.ResolveSecrets(nil); err != nil {
		t.Errorf("%s with the compose environment: %v", cfgPath, err)
	}
	if !strings.HasPrefix(cfg.HTTP.Listen, "0.0.0.0:") {
		t.Errorf("http.listen %s is not reachable from outside the container", cfg.HTTP.Listen)
	}
	grace, err := time.ParseDuration(str(freight["stop_grace_period"]))
	if err != nil || grace <= cfg.ShutdownTimeout {
		t.Errorf("stop_grace_period %q must exceed shutdown_timeout %s: docker kills the drain otherwise",
			freight["stop_grace_period"], cfg.ShutdownTimeout)
	}
	// Only the environment variables of CONTRACT.md section 2 and tokens.
	for k := range env {
		if !strings.HasPrefix(k, "FREIGHT_") && !strings.HasPrefix(k, "META_TOKEN_") {
			t.Errorf("freight's environment sets %s, which freight does not read", k)
		}
	}
}

// The sample producer's events are what freight expects: valid web and CRM
// events (timestamped now), one exact duplicate and one undecodable record.
// The script runs here with a stand-in for Kafka's console producer.
func TestComposeSampleEvents(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	bin := t.TempDir()
	out := filepath.Join(bin, "records")
	stub := "#!/bin/sh\ncat >> " + out + "\necho >> " + out + "\n" // a blank line between topics
	if err := os.WriteFile(filepath.Join(bin, "kafka-console-producer.sh"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "compose/produce-samples.sh")
	cmd.Env = append(os.Environ(), "KAFKA_BIN="+bin, "SAMPLE_EVENTS=40")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("produce-samples.sh: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	topics := strings.Split(strings.TrimSpace(string(b)), "\n\n")
	if len(topics) != 2 {
		t.Fatalf("records for %d topics, want web-events and crm-events", len(topics))
	}
	now := time.Now()
	seen := map[string]int{}
	var decodeErrs int
	for i, kind := range []event.Kind{event.KindWeb, event.KindCRM} {
		for _, line := range strings.Split(topics[i], "\n") {
			raw, err := event.JSON{}.Decode([]byte(line))
			if err != nil {
				decodeErrs++
				continue
			}
			ev, err := capi.Map(&raw, kind, capi.Options{}, now)
			if err != nil {
				t.Errorf("%s event %s: %v", kind, line, err)
				continue
			}
			seen[ev.PixelID+"/"+ev.EventName+"/"+ev.EventID]++
		}
	}
	var dups int
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != 40+10 || dups != 1 || decodeErrs != 1 {
		t.Errorf("%d distinct events, %d duplicates, %d undecodable; want 50, 1, 1", len(seen), dups, decodeErrs)
	}
}

// --- Dockerfile -----------------------------------------------------------

// hadolint is not packaged for Debian; these are the invariants the image
// must keep.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), "\\\n", " ") // join continued lines
	var froms, users []string
	var entrypoint string
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, line)
		case "USER":
			users = append(users, f[1])
		case "ENTRYPOINT":
			entrypoint = line
		}
	}
	if len(froms) < 2 {
		t.Errorf("%d stages, want a multi-stage build", len(froms))
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "gcr.io/distroless/static") && !strings.Contains(final, "scratch") {
		t.Errorf("final stage %q is not distroless/static or scratch", final)
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	uid, _, _ := strings.Cut(users[len(users)-1], ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s: want a numeric non-root uid (runAsNonRoot checks it without /etc/passwd)", users[len(users)-1])
	}
	for _, want := range []string{
		"CGO_ENABLED=0",              // static
		"-X main.version=${VERSION}", // freight --version
		"-X main.commit=${COMMIT}",   //
		"ARG VERSION", "ARG COMMIT",  //
		"./cmd/freight", "./deploy/probe", // the health check of docker-compose
		"-trimpath",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
	if !strings.Contains(entrypoint, "/usr/local/bin/freight") {
		t.Errorf("ENTRYPOINT %q does not run freight", entrypoint)
	}
	// The builder's Go is the one go.mod asks for.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVer == nil || !strings.Contains(df, "ARG GO_VERSION="+string(goVer[1])) {
		t.Errorf("Dockerfile's GO_VERSION is not go.mod's go %s", goVer[1])
	}
	// The .dockerignore lets in every package the binaries need.
	ignore, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var allowed []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "!"); ok {
			allowed = append(allowed, p)
		}
	}
	outp, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}",
		"../cmd/freight", "./probe").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs("..")
	for _, dir := range strings.Fields(string(outp)) {
		rel, _ := filepath.Rel(root, dir)
		rel = filepath.ToSlash(rel) + "/"
		if !slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(rel, p) }) {
			t.Errorf("package %s is needed by the image but Dockerfile.dockerignore leaves it out", rel)
		}
	}
}

// --- Kubernetes -----------------------------------------------------------

func TestKubernetesManifests(t *testing.T) {
	kust := readYAML(t, "kubernetes/kustomization.yaml")
	byKind := map[string][]m{}
	for _, r := range list(kust["resources"]) {
		for _, d := range readYAMLDocs(t, filepath.Join("kubernetes", str(r))) {
			byKind[str(d["kind"])] = append(byKind[str(d["kind"])], d)
		}
	}
	// Every manifest is listed, but for the optional ones.
	files, _ := filepath.Glob("kubernetes/*.yaml")
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != "podmonitor.yaml" && !strings.Contains(base, "example") &&
			!slices.Contains(list(kust["resources"]), any(base)) {
			t.Errorf("%s is not in kustomization.yaml", base)
		}
	}
	if len(byKind["Deployment"]) != 1 || len(byKind["ConfigMap"]) != 1 || len(byKind["PodDisruptionBudget"]) != 1 {
		t.Fatalf("want one Deployment, ConfigMap and PodDisruptionBudget; have %d, %d, %d",
			len(byKind["Deployment"]), len(byKind["ConfigMap"]), len(byKind["PodDisruptionBudget"]))
	}
	dep := byKind["Deployment"][0]
	pod := obj(dig(dep, "spec", "template", "spec"))
	labels := obj(dig(dep, "spec", "template", "metadata", "labels"))

	// The configuration in the ConfigMap loads.
	cfgDoc := str(dig(byKind["ConfigMap"][0], "data", "freight.yaml"))
	cfg, err := config.Parse([]byte(cfgDoc))
	if err != nil {
		t.Fatalf("ConfigMap freight.yaml: %v", err)
	}
	_, port, _ := strings.Cut(cfg.HTTP.Listen, ":")
	if !strings.HasPrefix(cfg.HTTP.Listen, "0.0.0.0:") {
		t.Errorf("http.listen %s: the kubelet's probes cannot reach it", cfg.HTTP.Listen)
	}

	grace, _ := pod["terminationGracePeriodSeconds"].(int)
	if time.Duration(grace)*time.Second <= cfg.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %d must exceed shutdown_timeout %s", grace, cfg.ShutdownTimeout)
	}
	if sc := obj(pod["securityContext"]); sc["runAsNonRoot"] != true || sc["runAsUser"] == 0 {
		t.Errorf("pod securityContext %v: want runAsNonRoot and a non-root uid", sc)
	}

	containers := list(pod["containers"])
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := obj(containers[0])
	ports := map[string]string{}
	for _, p := range list(c["ports"]) {
		ports[str(obj(p)["name"])] = strconv.Itoa(obj(p)["containerPort"].(int))
	}
	probe := func(kind, wantPath string) {
		h := obj(dig(c, kind, "httpGet"))
		if str(h["path"]) != wantPath {
			t.Errorf("%s path %q, want %s", kind, h["path"], wantPath)
		}
		p := str(h["port"])
		if n, ok := h["port"].(int); ok {
			p = strconv.Itoa(n)
		} else if named, ok := ports[p]; ok {
			p = named
		}
		if p != port {
			t.Errorf("%s port %v is not http.listen's %s", kind, h["port"], port)
		}
	}
	probe("livenessProbe", "/healthz")
	probe("readinessProbe", "/readyz")

	for _, kind := range []string{"requests", "limits"} {
		r := obj(dig(c, "resources", kind))
		if r["cpu"] == nil || r["memory"] == nil {
			t.Errorf("resources.%s %v: want cpu and memory", kind, r)
		}
	}
	sc := obj(c["securityContext"])
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false ||
		!slices.Contains(list(dig(sc, "capabilities", "drop")), any("ALL")) {
		t.Errorf("container securityContext %v: want a read-only root, no privilege escalation, no capabilities", sc)
	}

	// Tokens are files of a mounted Secret, the whole Secret as a directory
	// (a subPath mount is never updated, so a rotated token would not be seen).
	secretMounts := map[string]string{} // mount path -> secret name
	vols := map[string]m{}
	for _, v := range list(pod["volumes"]) {
		vols[str(obj(v)["name"])] = obj(v)
	}
	for _, vm := range list(c["volumeMounts"]) {
		vm := obj(vm)
		if s := obj(vols[str(vm["name"])]["secret"]); s != nil {
			if vm["subPath"] != nil {
				t.Errorf("Secret %s is mounted with subPath: rotations would not reach freight", s["secretName"])
			}
			secretMounts[str(vm["mountPath"])] = str(s["secretName"])
		}
	}
	for _, p := range cfg.CAPI.Pixels {
		if p.AccessTokenFile == "" {
			t.Errorf("pixel %s: the token should be a file of a mounted Secret", p.ID)
			continue
		}
		if _, ok := secretMounts[filepath.Dir(p.AccessTokenFile)]; !ok {
			t.Errorf("pixel %s's token file %s is not in a mounted Secret", p.ID, p.AccessTokenFile)
		}
	}
	// Passwords come from Secrets, never from the ConfigMap.
	for _, e := range list(c["env"]) {
		e := obj(e)
		if strings.Contains(strings.ToUpper(str(e["name"])), "PASSWORD") || str(e["name"]) == "FREIGHT_REDIS_URL" {
			if dig(e, "valueFrom", "secretKeyRef") == nil {
				t.Errorf("env %s does not come from a Secret", e["name"])
			}
		}
	}
	if strings.Contains(cfgDoc, "@") && regexp.MustCompile(`://[^/\s]*:[^/\s]*@`).MatchString(cfgDoc) {
		t.Error("the ConfigMap carries a URL with a password")
	}

	// The PodDisruptionBudget covers the Deployment's pods.
	pdb := byKind["PodDisruptionBudget"][0]
	for k, v := range obj(dig(pdb, "spec", "selector", "matchLabels")) {
		if labels[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%v, which the pods do not carry", k, v)
		}
	}
	if dig(pdb, "spec", "maxUnavailable") == nil && dig(pdb, "spec", "minAvailable") == nil {
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
}

// --- Grafana and Prometheus -----------------------------------------------

// knownMetrics are the metric names freight exports, read from the source:
// the relay's and the app's registrations, the lag collector, and kprom's
// freight_kafka_* (any name under that prefix).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`"(freight_[a-z0-9_]+)"`)
	for _, dir := range []string{"../pkg/relay", "../pkg/app"} {
		files, _ := filepath.Glob(dir + "/*.go")
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, mm := range re.FindAllSubmatch(b, -1) {
				names[string(mm[1])] = true
			}
		}
	}
	if !names["freight_consumer_lag"] || !names["freight_events_sent_total"] || !names["freight_ready"] {
		t.Fatalf("could not read the metric names from the source (found %d)", len(names))
	}
	return names
}

var metricRef = regexp.MustCompile(`\bfreight_[a-zA-Z0-9_]+`)

// checkMetrics fails for a metric an expression uses that freight does not
// export (a renamed metric would leave a panel empty or an alert silent).
func checkMetrics(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, name := range metricRef.FindAllString(expr, -1) {
		if strings.HasPrefix(name, "freight_kafka_") {
			continue // kprom's, under our namespace
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !known[name] && !known[base] {
			t.Errorf("%s uses %s, which freight does not export", where, name)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/freight.json")
	if err != nil {
		t.Fatal(err)
	}
	var d m
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("freight.json: %v", err)
	}
	if str(d["uid"]) == "" || str(d["title"]) == "" {
		t.Error("the dashboard has no uid or title")
	}
	known := knownMetrics(t)
	var exprs []string
	ids := map[float64]bool{}
	for _, p := range list(d["panels"]) {
		p := obj(p)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v is used twice", id)
		}
		ids[id] = true
		if str(p["type"]) == "row" {
			continue
		}
		if str(p["title"]) == "" {
			t.Errorf("panel %v has no title", id)
		}
		for _, tg := range list(p["targets"]) {
			e := str(obj(tg)["expr"])
			checkMetrics(t, "panel "+str(p["title"]), e, known)
			exprs = append(exprs, e)
		}
	}
	all := strings.Join(exprs, "\n")
	// What the issue asks the dashboard to show.
	for what, metric := range map[string]string{
		"throughput":                 "freight_records_consumed_total",
		"events sent":                "freight_events_sent_total",
		"lag":                        "freight_consumer_lag",
		"batch sizes":                "freight_batch_events_bucket",
		"Meta latency per pixel":     "freight_capi_request_duration_seconds_bucket",
		"Meta outcomes per pixel":    "freight_capi_requests_total",
		"dead letters by class":      "freight_events_dead_lettered_total",
		"dedup hits":                 "freight_events_deduplicated_total",
		"match-key coverage":         "freight_user_data_field_events_total",
		"readiness":                  "freight_ready",
		"franz-go's metrics (kprom)": "freight_kafka_",
	} {
		if !strings.Contains(all, metric) {
			t.Errorf("no panel shows %s (%s)", what, metric)
		}
	}
	for _, want := range []string{"by (pixel, outcome)", "by (class)", "by (le, pixel)", "by (pixel, field)"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel breaks down %q", want)
		}
	}
}

func TestAlertRules(t *testing.T) {
	doc := readYAML(t, "prometheus/alerts.yml")
	known := knownMetrics(t)
	alerts := map[string]m{}
	for _, g := range list(doc["groups"]) {
		for _, r := range list(obj(g)["rules"]) {
			r := obj(r)
			name := str(r["alert"])
			if name == "" {
				t.Errorf("a rule without an alert name: %v", r)
				continue
			}
			if alerts[name] != nil {
				t.Errorf("alert %s is defined twice", name)
			}
			alerts[name] = r
			if str(r["expr"]) == "" {
				t.Errorf("%s has no expr", name)
			}
			if s := str(dig(r, "labels", "severity")); s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", name, s)
			}
			if str(dig(r, "annotations", "summary")) == "" {
				t.Errorf("%s has no summary", name)
			}
			checkMetrics(t, "alert "+name, str(r["expr"]), known)
		}
	}
	// What the issue asks for, and what each must be about.
	for name, wants := range map[string][]string{
		"FreightConsumerLagGrowing": {"freight_consumer_lag", "by (topic)"},
		"FreightDeadLetterRate":     {"freight_events_dead_lettered_total", "by (class)"},
		"FreightMetaAuthFailures":   {`outcome="auth"`, "by (pixel)"},
		"FreightMetaThrottled":      {`outcome="throttled"`, "by (pixel)"},
		"FreightNotReady":           {"freight_ready"},
	} {
		r := alerts[name]
		if r == nil {
			t.Errorf("no alert %s", name)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(str(r["expr"]), w) {
				t.Errorf("%s's expr has no %s", name, w)
			}
		}
	}
	// promtool's unit tests cover every alert (check.sh runs them).
	tests, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name := range alerts {
		if !strings.Contains(string(tests), "alertname: "+name) {
			t.Errorf("alerts_test.yml does not test %s", name)
		}
	}
}
