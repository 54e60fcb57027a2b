package kernel

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestClockFiresOnceNeverEarly(t *testing.T) {
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := make([]int, n)
	early := map[int]time.Duration{}
	for i := 0; i < n; i++ {
		d := time.Duration(rand.IntN(30_000)) * time.Microsecond
		wg.Add(1)
		start := time.Now()
		Clock{}.AfterFunc(d, func() {
			defer wg.Done()
			at := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			fired[i]++
			if at < d {
				early[i] = d - at
			}
		})
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond) // a duplicate firing would land here
	mu.Lock()
	defer mu.Unlock()
	for i, c := range fired {
		if c != 1 {
			t.Errorf("timer %d fired %d times", i, c)
		}
	}
	if len(early) > 0 {
		t.Errorf("timers fired before their deadline (by): %v", early)
	}
}

func TestClockStop(t *testing.T) {
	// The delays leave the test goroutine hundreds of milliseconds
	// between arming the timer and stopping it, so a loaded machine does
	// not let it fire first; "stopped" is due before "plain", so a Stop
	// that did not stop shows in the firing order.
	fired := make(chan string, 2)
	stopped := Clock{}.AfterFunc(300*time.Millisecond, func() { fired <- "stopped" })
	if !stopped.Stop() {
		t.Error("Stop of a pending timer reported it inactive")
	}
	if stopped.Stop() {
		t.Error("second Stop reported the timer active")
	}
	Clock{}.AfterFunc(500*time.Millisecond, func() { fired <- "plain" })
	if got := <-fired; got != "plain" {
		t.Errorf("first firing %q, want plain", got)
	}
	select {
	case got := <-fired:
		t.Errorf("unexpected firing %q", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// BenchmarkClockLateness reports how late Clock's timers fire (p50,
// p99, max in µs) for random delays of 1-20 ms like the engine's.
func BenchmarkClockLateness(b *testing.B) {
	var late []time.Duration
	got := make(chan time.Time, 1)
	for b.Loop() {
		d := time.Millisecond + time.Duration(rand.IntN(19_000))*time.Microsecond
		want := time.Now().Add(d)
		Clock{}.AfterFunc(d, func() { got <- time.Now() })
		late = append(late, (<-got).Sub(want))
	}
	slices.Sort(late)
	q := func(p float64) float64 {
		return float64(late[int(p*float64(len(late)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(q(0.5), "p50-late-µs")
	b.ReportMetric(q(0.99), "p99-late-µs")
	b.ReportMetric(q(1), "max-late-µs")
}
