package notify

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPollTickLiveUnfurls measures a quiet poll round of one watched
// project with N live unfurls of its pipelines (spread over 10 pipelines and
// N messages) and reports the GitLab requests per tick: the project's one
// poll, whatever N.
func BenchmarkPollTickLiveUnfurls(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("unfurls=%d", n), func(b *testing.B) {
			h := newHarness(b, passingJobs)
			h.start()
			var ids []int64
			for i := 0; i < 10; i++ {
				ids = append(ids, h.sim.CreatePipeline(projectID, "main", "push", 1))
			}
			ctx := context.Background()
			for i := 0; i < n; i++ {
				id := ids[i%len(ids)]
				if _, err := h.w.TrackUnfurl(ctx, LiveUnfurl{Channel: testChannel, TS: fmt.Sprintf("1700000000.%06d", i), URL: pipelineLink(id),
					ProjectID: projectID, Project: "group/app", Pipeline: h.pipeline(id)}); err != nil {
					b.Fatal(err)
				}
			}
			h.later()
			if err := h.w.Tick(ctx); err != nil {
				b.Fatal(err)
			}
			h.later()
			h.sim.ResetRequests()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.clock.Add(time.Second) // ticks come one interval apart
				if err := h.w.Tick(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(h.sim.Requests()))/float64(b.N), "gitlab_requests/tick")
			b.ReportMetric(float64(len(h.fake.CallsOf("chat.unfurl")))/float64(b.N), "chat.unfurl/tick")
		})
	}
}

// BenchmarkPollTickLiveUnfurlsChange measures the tick after one pipeline
// with 100 live unfurls (100 messages) moves: one poll and one jobs read,
// and one chat.unfurl per message.
func BenchmarkPollTickLiveUnfurlsChange(b *testing.B) {
	h := newHarness(b, passingJobs)
	ctx := context.Background()
	requests, unfurls := 0, 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := h.sim.CreatePipeline(projectID, "main", "push", 1)
		for k := 0; k < 100; k++ {
			if _, err := h.w.TrackUnfurl(ctx, LiveUnfurl{Channel: testChannel, TS: fmt.Sprintf("17%08d.%06d", i, k), URL: pipelineLink(id),
				ProjectID: projectID, Project: "group/app", Pipeline: h.pipeline(id)}); err != nil {
				b.Fatal(err)
			}
		}
		h.later()
		h.sim.Finish(projectID, id)
		h.sim.ResetRequests()
		before := len(h.fake.CallsOf("chat.unfurl"))
		b.StartTimer()
		if err := h.w.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requests += len(h.sim.Requests())
		unfurls += len(h.fake.CallsOf("chat.unfurl")) - before
	}
	b.ReportMetric(float64(requests)/float64(b.N), "gitlab_requests/tick")
	b.ReportMetric(float64(unfurls)/float64(b.N), "chat.unfurl/tick")
}
