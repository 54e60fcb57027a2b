package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

func serve(t *testing.T, n *node, webhook http.Handler) *httptest.Server {
	t.Helper()
	h := status.Handler(n.ctl, promhttp.HandlerFor(n.ctl.Metrics().Registry, promhttp.HandlerOpts{}), webhook)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// series returns the value of one exposition line "name{labels} value".
func series(t *testing.T, text, name, labels string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no series %s%s in\n%s", name, labels, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStatusEndpoints(t *testing.T) {
	n := start(t)
	srv := serve(t, n, nil)

	code, body := get(t, srv.URL+"/healthz")
	if code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	code, body = get(t, srv.URL+"/status")
	var r status.Report
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil {
		t.Fatalf("/status %d %v: %s", code, err, body)
	}
	if r.Node != "lb1" || r.Cluster != "test" || r.Applied == nil || len(r.Applied.ID) != 40 || !r.Healthy {
		t.Errorf("/status header %+v", r)
	}
	if len(r.VIPGroups) != 1 {
		t.Fatalf("vip groups %+v", r.VIPGroups)
	}
	g := r.VIPGroups[0]
	if g.Name != "web" || g.State != "master" || g.VRID != 51 || g.Master != "192.0.2.1" || g.Transitions != 2 ||
		len(g.VIPs) != 1 || !g.VIPs[0].Present || g.VIPs[0].Address != "192.0.2.100/24" {
		t.Errorf("vip group %+v", g)
	}
	if len(r.Services) != 1 || r.Services[0].Key != "tcp/192.0.2.100:80" || len(r.Services[0].RealServers) != 2 {
		t.Fatalf("services %+v", r.Services)
	}
	if rs := r.Services[0].RealServers[0]; rs.Address != "198.51.100.1:80" || rs.Health != "up" || !rs.InIPVS || rs.Weight != 1 {
		t.Errorf("real server %+v", rs)
	}

	// /config round-trips the running state for `hakeeper plan`.
	code, body = get(t, srv.URL+"/config")
	var ns model.NodeState
	if err := json.Unmarshal([]byte(body), &ns); code != 200 || err != nil {
		t.Fatalf("/config %d %v", code, err)
	}
	if len(ns.Instances) != 1 || ns.Instances[0].AdvertInterval != time.Second || ns.Instances[0].VIPs[0].Prefix.String() != "192.0.2.100/24" {
		t.Errorf("/config instances %+v", ns.Instances)
	}

	// The client reads the same.
	c := status.NewClient(strings.TrimPrefix(srv.URL, "http://"))
	got, err := c.Status(context.Background())
	if err != nil || got.Applied.ID != r.Applied.ID {
		t.Errorf("client: %v, %+v", err, got)
	}
	var text bytes.Buffer
	if err := status.WriteText(&text, got, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Node:", "lb1", "web", "MASTER", "192.0.2.100/24 (here)", "http tcp/192.0.2.100:80", "198.51.100.1:80", "Health:", "healthy"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, text.String())
		}
	}
	if _, err := status.NewClient("127.0.0.1:1").Status(context.Background()); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("client of nothing: %v", err)
	}
}

func TestMetricsScrape(t *testing.T) {
	n := start(t)
	srv := serve(t, n, nil)
	n.addrs.Set("eth0") // drift
	n.reconcile(false)
	n.src.set("cluster.yaml", "cluster: [broken\n")
	n.reconcile(true)
	n.src.fail(io.ErrUnexpectedEOF)
	n.reconcile(true)
	n.ctl.Metrics().ObserveCheck(true, 2*time.Millisecond)
	n.ctl.Metrics().ObserveCheck(false, time.Second)

	_, text := get(t, srv.URL+"/metrics")
	checks := []struct {
		name, labels string
		want         float64
	}{
		{"hakeeper_vrrp_state", `{group="web"}`, 2},
		{"hakeeper_vrrp_transitions_total", `{group="web"}`, 2},
		{"hakeeper_reconcile_errors_total", "", 1},
		{"hakeeper_source_fetch_errors_total", "", 1},
		{"hakeeper_drift_repairs_total", `{kind="vip"}`, 1},
		{"hakeeper_drift_repairs_total", `{kind="ipvs"}`, 0},
		{"hakeeper_ipvs_operations_total", `{op="add-service"}`, 1},
		{"hakeeper_ipvs_operations_total", `{op="add-destination"}`, 2},
		{"hakeeper_check_results_total", `{result="pass"}`, 1},
		{"hakeeper_check_results_total", `{result="fail"}`, 1},
		{"hakeeper_check_latency_seconds_count", "", 2},
		{"hakeeper_reconcile_duration_seconds_count", "", 4},
		{"hakeeper_revision_info", `{revision="` + n.ctl.Status().Applied.ID + `"}`, 1},
	}
	for _, c := range checks {
		if got := series(t, text, c.name, c.labels); got != c.want {
			t.Errorf("%s%s = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if sent := series(t, text, "hakeeper_vrrp_adverts_sent_total", `{group="web"}`); sent < 1 {
		t.Errorf("adverts sent %v", sent)
	}
}

// The webhook on the status server triggers a fetch; a bad signature does not.
func TestWebhookTriggers(t *testing.T) {
	n := start(t)
	secret := []byte("s3cret")
	srv := serve(t, n, &source.Webhook{Secret: secret, Trigger: func() { n.ctl.Trigger("webhook") }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	n.src.set("cluster.yaml", cluster("192.0.2.100/24", "1s", 3))
	post := func(sig string) int {
		body := []byte(`{"ref":"refs/heads/main"}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/git", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=00"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d", code)
	}
	time.Sleep(50 * time.Millisecond)
	if w := n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"]; w != 1 {
		t.Fatalf("applied without a valid webhook: weight %d", w)
	}
	if code := post(source.Sign(secret, []byte(`{"ref":"refs/heads/main"}`))); code != http.StatusAccepted {
		t.Fatalf("good signature: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 3 || n.ctl.Status().LastReconcile.Trigger != "webhook" {
		if time.Now().After(deadline) {
			t.Fatal("webhook did not lead to the new revision being applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := n.ctl.Status(); st.LastReconcile.Result != "applied" {
		t.Errorf("webhook pass result %q, want applied", st.LastReconcile.Result)
	}
}

func TestListenUnixSocket(t *testing.T) {
	n := start(t)
	sock := filepath.Join(t.TempDir(), "run", "hakeeper.sock")
	l, err := status.Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: status.Handler(n.ctl, nil, nil)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	r, err := status.NewClient("unix:" + sock).Status(context.Background())
	if err != nil || r.Node != "lb1" {
		t.Fatalf("over the unix socket: %v %+v", err, r)
	}
	if _, err := status.Listen("unix:" + sock); err == nil {
		t.Error("a second listener took over a live socket")
	}
	if _, err := status.Listen("9110"); err == nil {
		t.Error("address without a host:port accepted")
	}
}

// A refused revision keeps the node degraded until the source has a
// revision that applies: later drift passes (which do not fetch) succeed,
// but the node is still not running what its source says. /healthz stays
// 200 (the node serves) and says so in a header and the body.
func TestRefusedRevisionKeepsNodeDegraded(t *testing.T) {
	n := start(t)
	srv := serve(t, n, nil)
	healthz := func() (int, string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(status.DegradedHeader), string(b)
	}
	good := n.ctl.Status().Applied.ID

	bad := n.src.set("cluster.yaml", "cluster: test\nnodes: [\n")
	if _, err := n.reconcile(true); err == nil {
		t.Fatal("broken revision applied")
	}
	// Right after the refusal it reads as it will after later passes.
	if d := n.ctl.Status().Degraded; !strings.HasPrefix(d, "revision "+bad.ID[:12]+" refused (load): cluster.yaml:") {
		t.Errorf("right after a YAML syntax error: degraded %q, want the refused revision", d)
	}
	if _, err := n.reconcile(false); err != nil { // a drift pass: nothing to repair
		t.Fatal(err)
	}
	st := n.ctl.Status()
	if st.Healthy || !strings.Contains(st.Degraded, "revision "+bad.ID[:12]+" refused (load)") ||
		!strings.Contains(st.Degraded, "cluster.yaml:") || !strings.Contains(st.Degraded, "serving revision "+good[:12]) {
		t.Errorf("after a drift pass: healthy=%v degraded=%q; want degraded naming the refused revision, file:line and the one served", st.Healthy, st.Degraded)
	}
	code, header, body := healthz()
	if code != 200 || !strings.Contains(header, "refused (load)") || !strings.HasPrefix(body, "ok, degraded: revision "+bad.ID[:12]) {
		t.Errorf("/healthz while degraded: %d, header %q, body %q", code, header, body)
	}
	var text bytes.Buffer
	status.WriteText(&text, st, time.Now())
	if !strings.Contains(text.String(), "DEGRADED: revision "+bad.ID[:12]) {
		t.Errorf("status text lacks the degradation:\n%s", text.String())
	}

	// The same revision fetched again is refused without being parsed
	// and counted again.
	errs := metricValue(t, n.ctl.Metrics(), "hakeeper_reconcile_errors_total")
	if _, err := n.reconcile(true); err == nil || !strings.Contains(err.Error(), "cluster.yaml:") {
		t.Errorf("refetched broken revision: %v", err)
	}
	if got := metricValue(t, n.ctl.Metrics(), "hakeeper_reconcile_errors_total"); got != errs {
		t.Errorf("refetching the refused revision counted %v more errors", got-errs)
	}

	// An unreachable source is degraded too, across drift passes.
	n.src.set("cluster.yaml", defaultCluster()) // back to the applied revision
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	if st := n.ctl.Status(); !st.Healthy || st.Degraded != "" {
		t.Errorf("source back at the applied revision: healthy=%v degraded=%q", st.Healthy, st.Degraded)
	}
	if code, header, body := healthz(); code != 200 || header != "" || body != "ok\n" {
		t.Errorf("/healthz when healthy: %d %q %q", code, header, body)
	}
	n.src.fail(errors.New("dial tcp: connection refused"))
	n.reconcile(true)
	n.reconcile(false)
	if st := n.ctl.Status(); st.Healthy || !strings.Contains(st.Degraded, "fetching the newest revision failed") ||
		!strings.Contains(st.Degraded, "connection refused") {
		t.Errorf("source unreachable: healthy=%v degraded=%q", st.Healthy, st.Degraded)
	}
	n.src.set("cluster.yaml", defaultCluster())
	n.reconcile(true)
	if st := n.ctl.Status(); !st.Healthy {
		t.Errorf("source reachable again: degraded=%q", st.Degraded)
	}
}

// Per-real-server health and weight are read from the controller at
// scrape time: a server the checker reports down scrapes as up 0 and
// weight 0 once the pass took it out of IPVS.
func TestRealServerMetrics(t *testing.T) {
	n := start(t)
	checked := func(w1 int) string {
		return strings.Replace(cluster("192.0.2.100/24", "1s", w1), "    port: 80\n",
			"    port: 80\n    check: {interval: 1s, timeout: 1s, fall: 1, rise: 1, tcp: {}}\n", 1)
	}
	n.src.set("cluster.yaml", checked(1))
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, n, nil)
	scrape := func(name, server string) float64 {
		t.Helper()
		_, text := get(t, srv.URL+"/metrics")
		return series(t, text, name, `{server="`+server+`",service="http"}`)
	}
	if up, w := scrape("hakeeper_real_server_up", "198.51.100.2:80"), scrape("hakeeper_real_server_weight", "198.51.100.2:80"); up != 1 || w != 1 {
		t.Errorf("healthy server: up %v weight %v, want 1 and 1", up, w)
	}
	n.checker.setDown("198.51.100.2:80", true)
	if _, err := n.reconcile(false); err != nil {
		t.Fatal(err)
	}
	if up, w := scrape("hakeeper_real_server_up", "198.51.100.2:80"), scrape("hakeeper_real_server_weight", "198.51.100.2:80"); up != 0 || w != 0 {
		t.Errorf("failed server: up %v weight %v, want 0 and 0", up, w)
	}
	if up := scrape("hakeeper_real_server_up", "198.51.100.1:80"); up != 1 {
		t.Errorf("the other server: up %v, want 1", up)
	}
	// A new weight in the description is the weight in force after the pass.
	n.src.set("cluster.yaml", checked(7))
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	if w := scrape("hakeeper_real_server_weight", "198.51.100.1:80"); w != 7 {
		t.Errorf("weight after a change: %v, want 7", w)
	}
}
