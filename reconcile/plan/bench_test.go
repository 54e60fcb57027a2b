package plan

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

// memoryPeak samples until stopped and returns the highest values seen
// of the bytes held by heap objects (live and not yet swept) and of the
// memory the Go runtime holds from the OS (mapped read-write, less what
// it has released: close to the process's resident size). runtime/metrics
// is read without stopping the world, so sampling barely disturbs the
// timing.
func memoryPeak() (stop func() (heap, held uint64)) {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	var heap, held uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			heap = max(heap, sample[0].Value.Uint64())
			held = max(held, sample[1].Value.Uint64()-sample[2].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return heap, held
	}
}

// splitYAML writes c as a directory of files would hold it: nodes and
// groups in one file, services in files of perServices each (one file of
// 10,000 services would exceed the decoder's per-file size limit).
func splitYAML(b *testing.B, c *model.Cluster, perFile int) []model.File {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	head := *c
	head.Services = nil
	files := []model.File{{Name: "cluster.yaml", Data: marshal(b, &head)}}
	for i := 0; i < len(names); i += perFile {
		part := &model.Cluster{Services: map[string]*model.Service{}}
		for _, n := range names[i:min(i+perFile, len(names))] {
			part.Services[n] = c.Services[n]
		}
		files = append(files, model.File{Name: fmt.Sprintf("services-%02d.yaml", i/perFile), Data: marshal(b, part)})
	}
	return files
}

func marshal(b *testing.B, c *model.Cluster) []byte {
	data, err := yaml.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkPlan10k is `hakeeper plan --offline` on a large cluster:
// load (parse, decode and validate) 10,000 virtual services × 10 real
// servers on 3 nodes, compute one node's desired state, and diff it
// against an empty node. Issue 10's budget: under 1 s per plan and under
// 300 MB, reported as ms/op and peak-held-MB (the most memory the Go
// runtime held from the OS during the runs; peak-heap-MB is the heap
// objects' share of it).
func BenchmarkPlan10k(b *testing.B) {
	files := splitYAML(b, modeltest.GenerateCluster(10000, 10, 3), 2000)
	runtime.GC()
	stop := memoryPeak()
	changes := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for b.Loop() {
		c, err := model.Load(files)
		if err != nil {
			b.Fatal(err)
		}
		ns, err := model.Desired(c, "node-1")
		if err != nil {
			b.Fatal(err)
		}
		changes = len(Diff(ns, &Live{}).Changes)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	heap, held := stop()
	if changes < 10000*11 {
		b.Fatalf("plan has %d changes, want at least 110000 (services and real servers)", changes)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(held)/(1<<20), "peak-held-MB")
	// CPU time of all goroutines (GC included) per plan: unlike ms/op it
	// barely moves when other processes compete for the two cores.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDiffNoChange10k is `hakeeper plan` on a node in sync: the
// desired state of a 10,000-service node diffed against identical live
// state (the daemon's reconcile does not go through Diff; see
// BenchmarkSteadyState10k in reconcile/controller for it).
func BenchmarkDiffNoChange10k(b *testing.B) {
	c := modeltest.GenerateCluster(10000, 10, 3)
	ns, err := model.Desired(c, "node-1")
	if err != nil {
		b.Fatal(err)
	}
	live := liveOf(b, ns)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if p := Diff(ns, live); p.HasChanges() {
			b.Fatalf("identical state planned %d changes", len(p.Changes))
		}
	}
}
