package notify

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPollTick100Watches5Projects measures one poll round with 100
// watched pipelines spread over 5 projects and reports the GitLab requests
// it made; a request-per-pipeline loop would make 100.
func BenchmarkPollTick100Watches5Projects(b *testing.B) {
	h := newHarness(b, passingJobs)
	ctx := context.Background()
	watchAcross(b, h, 5, 20)
	h.sim.ResetRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.clock.Add(time.Second) // ticks come one interval apart
		if err := h.w.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perTick := float64(len(h.sim.Requests())) / float64(b.N)
	b.ReportMetric(perTick, "gitlab_requests/tick")
	b.ReportMetric(100/perTick, "x_fewer_than_per_pipeline")
}
