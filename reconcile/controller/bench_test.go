package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model/modeltest"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/test/gitserver"
)

func reportMedian(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	med := lat[len(lat)/2]
	b.ReportMetric(float64(med.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
	b.Logf("n=%d median %v p90 %v max %v", len(lat), med, lat[len(lat)*9/10], lat[len(lat)-1])
}

// BenchmarkDirSaveToChange: a save in the watched directory until IPVS
// (fake) holds the new weight; includes the source's 50ms debounce.
func BenchmarkDirSaveToChange(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "cluster.d")
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(file, []byte(defaultCluster()), 0o644)
	n := newNodeFrom(b, source.NewDir(dir), b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	runLoop(b, n)
	waitWatching(b, n, dir)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		w := uint32(i%50 + 2)
		start := time.Now()
		os.WriteFile(file, []byte(cluster("192.0.2.100/24", "1s", int(w))), 0o644)
		waitFor(b, "the save to be applied", func() bool { return n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] == w })
		lat = append(lat, time.Since(start))
		if i%50 == 48 { // keep consecutive weights distinct
			i++
		}
	}
	reportMedian(b, lat)
}

// BenchmarkGitCommitWebhookToChange: git commit, webhook POST, until IPVS
// (fake) holds the new weight; fetched over a local git daemon.
func BenchmarkGitCommitWebhookToChange(b *testing.B) {
	repo := gitserver.New(b)
	repo.CommitFile("start", "cluster.yaml", defaultCluster())
	g, err := source.NewGit(source.GitOptions{URL: repo.Daemon(), StateDir: b.TempDir(), Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	n := newNodeFrom(b, g, b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	runLoop(b, n)
	secret := []byte("bench")
	srv := httptest.NewServer(&source.Webhook{Secret: secret, Trigger: func() { n.ctl.Trigger("webhook") }})
	defer srv.Close()
	body := []byte(`{"ref":"refs/heads/main"}`)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		w := uint32(i%1000 + 2)
		start := time.Now()
		repo.CommitFile("weight", "cluster.yaml", cluster("192.0.2.100/24", "1s", int(w)))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", source.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		waitFor(b, "the commit to be applied", func() bool { return n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] == w })
		lat = append(lat, time.Since(start))
	}
	reportMedian(b, lat)
}

// BenchmarkSteadyState10k: one pass over the 10,000-service cluster
// (10 real servers each) with nothing to do: fetch, compare, health,
// read the IPVS table, diff; it must write nothing.
func BenchmarkSteadyState10k(b *testing.B) {
	src := &memSource{}
	src.set(splitCluster(b, modeltest.GenerateCluster(10000, 10, 3), 2000)...)
	n := newNodeNamed(b, "node-1", src, b.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	n.clock.Advance(5 * time.Second)
	writes, applies := n.writes(), n.engine.applyCount()
	for b.Loop() {
		if _, err := n.ctl.Reconcile(context.Background(), "bench", true); err != nil {
			b.Fatal(err)
		}
	}
	if w, a := n.writes()-writes, n.engine.applyCount()-applies; w != 0 || a != 0 {
		b.Fatalf("steady state made %d kernel writes and %d engine applies", w, a)
	}
	b.ReportMetric(0, "writes/op")
	b.Logf("%d services, %d VRRP instances, no writes", len(n.ctl.Running().Services), len(n.ctl.Running().Instances))
}

// splitCluster writes c as a head file and files of perFile services
// each (one file may hold at most 4 MiB), as name/content pairs.
func splitCluster(b *testing.B, c *model.Cluster, perFile int) []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	marshal := func(c *model.Cluster) string {
		data, err := yaml.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	head := *c
	head.Services = nil
	out := []string{"cluster.yaml", marshal(&head)}
	for i := 0; i < len(names); i += perFile {
		part := &model.Cluster{Services: map[string]*model.Service{}}
		for _, n := range names[i:min(i+perFile, len(names))] {
			part.Services[n] = c.Services[n]
		}
		out = append(out, fmt.Sprintf("services-%02d.yaml", i/perFile), marshal(part))
	}
	return out
}
