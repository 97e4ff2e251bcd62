package insights_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/state"
)

// benchJobs is a CI configuration of 20 jobs over four stages, two of them
// flaky and one allowed to fail.
func benchJobs() []simulator.JobSpec {
	var jobs []simulator.JobSpec
	for i := range 3 {
		jobs = append(jobs, simulator.JobSpec{Name: fmt.Sprintf("build-%d", i), Stage: "build"})
	}
	for i := range 12 {
		jobs = append(jobs, simulator.JobSpec{Name: fmt.Sprintf("test-%d", i), Stage: "test", Flaky: i < 2, AllowFailure: i == 11, Fail: i == 11})
	}
	for i := range 3 {
		jobs = append(jobs, simulator.JobSpec{Name: fmt.Sprintf("package-%d", i), Stage: "package"})
	}
	jobs = append(jobs, simulator.JobSpec{Name: "deploy-staging", Stage: "deploy"}, simulator.JobSpec{Name: "smoke", Stage: "deploy"})
	return jobs
}

// benchHistory is 1,000 pipelines × 20 jobs over the last 30 days.
func benchHistory(b *testing.B) *harness {
	h := newHarness(b, benchJobs())
	h.sim.GenerateHistory(projectID, simulator.History{Days: 30, Pipelines: 1000, Seed: 1})
	return h
}

var q30 = insights.Query{Project: path, Days: 30}

// peakHeap samples the live heap while fn runs and returns its peak above
// the heap before fn (after a GC).
func peakHeap(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	runtime.GC()
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak - min(peak, base)
}

// BenchmarkFirstReport30Days builds a 30-day report over 1,000 pipelines ×
// 20 jobs with an empty cache: every pipeline is listed and its jobs read.
func BenchmarkFirstReport30Days(b *testing.B) {
	h := benchHistory(b)
	var peak uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		store, err := state.Open(filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.db", i)), state.Options{Now: h.clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		builder := insights.NewBuilder(insights.Config{GitLab: h.gl, Store: store, Now: h.clock.Now})
		h.sim.ResetRequests()
		b.StartTimer()
		peak = max(peak, peakHeap(func() {
			if _, _, err := builder.Build(context.Background(), q30, nil); err != nil {
				b.Fatal(err)
			}
		}))
		b.StopTimer()
		lists, jobs := h.requests()
		b.ReportMetric(float64(lists), "list-requests/op")
		b.ReportMetric(float64(jobs), "jobs-requests/op")
		_ = store.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkSecondReport30Days builds the same report again: the cache
// answers and GitLab is asked only for what changed (nothing).
func BenchmarkSecondReport30Days(b *testing.B) {
	h := benchHistory(b)
	if _, _, err := h.builder.Build(context.Background(), q30, nil); err != nil {
		b.Fatal(err)
	}
	var peak uint64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.sim.ResetRequests()
		peak = max(peak, peakHeap(func() {
			if _, _, err := h.builder.Build(context.Background(), q30, nil); err != nil {
				b.Fatal(err)
			}
		}))
		b.StopTimer()
		lists, jobs := h.requests()
		b.ReportMetric(float64(lists), "list-requests/op")
		b.ReportMetric(float64(jobs), "jobs-requests/op")
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkChart draws the chart of a 30-day report.
func BenchmarkChart(b *testing.B) {
	h := benchHistory(b)
	rep, _, err := h.builder.Build(context.Background(), q30, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for range b.N {
		png, _, err := insights.Chart(rep)
		if err != nil {
			b.Fatal(err)
		}
		size = len(png)
	}
	b.ReportMetric(float64(size)/1024, "png-KiB")
}
