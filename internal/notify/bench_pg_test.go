package notify

import (
	"context"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

// BenchmarkPollTick100Watches5ProjectsOnPostgres is
// BenchmarkPollTick100Watches5Projects with the watcher's store on
// PostgreSQL (PIPEBOT_TEST_DATABASE_URL), fenced by a lease as a leader's
// is: what a tick costs a replica that leads.
func BenchmarkPollTick100Watches5ProjectsOnPostgres(b *testing.B) {
	url := pgtest.URL(b)
	var fence func() (int64, error)
	h := newHarnessOn(b, passingJobs, func() (*state.Store, error) {
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			return nil, err
		}
		l, err := s.AcquireLeadership(context.Background(), "bench", 1<<40)
		if err != nil {
			return nil, err
		}
		fence = func() (int64, error) { return l.Epoch, nil }
		return s, nil
	})
	h.w = New(Config{GitLab: h.gl, Slack: h.poster, Store: h.store.Fenced(fence), Interval: h.w.cfg.Interval,
		Now: h.clock.Now, Logger: h.w.cfg.Logger, JobPreview: testJobPreview})
	ctx := context.Background()
	watchAcross(b, h, 5, 20)
	h.sim.ResetRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.w.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(h.sim.Requests()))/float64(b.N), "gitlab_requests/tick")
}
