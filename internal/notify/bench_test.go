package notify

import (
	"context"
	"fmt"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// BenchmarkPollTick100Watches5Projects measures one poll round with 100
// watched pipelines spread over 5 projects and reports the GitLab requests
// it made; a request-per-pipeline loop would make 100.
func BenchmarkPollTick100Watches5Projects(b *testing.B) {
	h := newHarness(b, passingJobs)
	ctx := context.Background()
	for p := int64(1); p <= 5; p++ {
		pid := 100 + p
		h.sim.AddProject(simulator.Project{ID: pid, Path: fmt.Sprintf("group/app%d", p), Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: passingJobs})
		proj, err := h.gl.Project(ctx, fmt.Sprint(pid))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			id := h.sim.CreatePipeline(pid, "main", "push", 1)
			pl, err := h.gl.Pipeline(ctx, fmt.Sprint(pid), id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.w.Watch(ctx, WatchRequest{Project: proj, Pipeline: pl, Channel: testChannel}); err != nil {
				b.Fatal(err)
			}
		}
	}
	h.sim.ResetRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.w.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perTick := float64(len(h.sim.Requests())) / float64(b.N)
	b.ReportMetric(perTick, "gitlab_requests/tick")
	b.ReportMetric(100/perTick, "x_fewer_than_per_pipeline")
}
