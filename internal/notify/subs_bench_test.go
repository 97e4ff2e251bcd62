package notify

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// benchRig is a watcher over the simulator and the Slack fake with many
// projects, each with one running pipeline.
type benchRig struct {
	sim   *simulator.Server
	fake  *slackfake.Server
	store *state.Store
	w     *Watcher
	clock *clock
}

func newBenchRig(b *testing.B, projects int) *benchRig {
	b.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	sim := simulator.New(simulator.Options{Now: clk.Now})
	sim.AddUser(simulator.User{ID: 1, Username: "alice"}, "glpat-test")
	for p := 1; p <= projects; p++ {
		sim.AddProject(simulator.Project{ID: int64(p), Path: fmt.Sprintf("g/app%d", p), Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: failingJobs})
		sim.CreatePipeline(int64(p), "main", "push", 1)
	}
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: "glpat-test"})
	if err != nil {
		b.Fatal(err)
	}
	fake := slackfake.NewServer(slackfake.Options{})
	b.Cleanup(fake.Close)
	st, err := state.Open(filepath.Join(b.TempDir(), "pipebot.db"), state.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	sl := NewSlack(SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())), PerChannel: time.Microsecond})
	w := New(Config{GitLab: gl, Slack: sl, Store: st, Interval: 15 * time.Second, Now: clk.Now, Logger: zerolog.Nop()})
	return &benchRig{sim: sim, fake: fake, store: st, w: w, clock: clk}
}

func (r *benchRig) addSubs(b *testing.B, n, projects int) {
	b.Helper()
	for i := 0; i < n; i++ {
		pid := int64(i%projects + 1)
		sub := state.Subscription{Channel: fmt.Sprintf("C%05d", i), Target: state.ProjectTarget(pid), ProjectID: pid, Project: fmt.Sprintf("g/app%d", pid), On: []string{"failed"}}
		if err := r.store.PutSubscription(sub); err != nil {
			b.Fatal(err)
		}
		if err := r.w.startCursor(pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubscriptionPollRequests: 1,000 subscriptions over 200 projects
// at the default 15 s interval. Reports GitLab requests per minute against
// one request per subscription per tick.
func BenchmarkSubscriptionPollRequests(b *testing.B) {
	const subs, projects = 1000, 200
	r := newBenchRig(b, projects)
	r.addSubs(b, subs, projects)
	ctx := context.Background()
	// Warm-up: every pipeline is new at first, and the poll budget spreads
	// that first round (a poll and a pipeline read each) over a few ticks.
	for i := 0; i < 12; i++ {
		_ = r.w.Tick(ctx)
		r.clock.Add(15 * time.Second)
	}
	r.sim.ResetRequests()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.clock.Add(15 * time.Second)
		if err := r.w.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perTick := float64(len(r.sim.Requests())) / float64(b.N)
	ticksPerMin := float64(time.Minute / (15 * time.Second))
	b.ReportMetric(perTick*ticksPerMin, "req/min")
	b.ReportMetric(subs*ticksPerMin, "naive-req/min")
	b.ReportMetric(subs/perTick, "ratio")
}

// BenchmarkWebhookToSlackLatency: a Pipeline Hook delivery over loopback
// HTTP until the Slack fake holds the card. Reports p50 and p99.
func BenchmarkWebhookToSlackLatency(b *testing.B) {
	r := newBenchRig(b, 1)
	r.addSubs(b, 1, 1)
	wh := NewWebhook(WebhookConfig{Secret: hookSecret, Watcher: r.w, Logger: zerolog.Nop(),
		Once: func(k string) (bool, error) { return r.store.MarkOnce("gitlab-hook", k, time.Hour) },
		Seen: func(k string) (bool, error) { return r.store.OnceMarked("gitlab-hook", k) }})
	srv := httptest.NewServer(wh)
	b.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go wh.Run(ctx)
	posted := make(chan struct{}, 1024)
	stop := r.fake.Subscribe(func(c slackfake.Call) {
		if c.Method == "chat.postMessage" && c.ThreadTS == "" {
			posted <- struct{}{}
		}
	})
	b.Cleanup(stop)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := r.sim.CreatePipeline(1, "main", "push", 1)
		r.sim.Finish(1, id)
		d, _ := r.sim.PipelineHook(1, id)
		b.StartTimer()
		start := time.Now()
		if code, err := simulator.Send(ctx, srv.Client(), srv.URL, hookSecret, d); err != nil || code != 200 {
			b.Fatalf("send: %d %v", code, err)
		}
		select {
		case <-posted:
		case <-time.After(10 * time.Second):
			b.Fatal("no card posted")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, k int) bool { return lat[i] < lat[k] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkMemorySubscriptionsAndWatches: heap in use while ticking with
// 10,000 subscriptions and 1,000 watched pipelines over 200 projects.
func BenchmarkMemorySubscriptionsAndWatches(b *testing.B) {
	const projects = 200
	r := newBenchRig(b, projects)
	r.addSubs(b, 10000, projects)
	for i := 0; i < 1000; i++ {
		pid := int64(i%projects + 1)
		w := state.Watch{ProjectID: pid, Project: fmt.Sprintf("g/app%d", pid), PipelineID: int64(100000 + i), Channel: "CWATCH",
			MessageTS: "1.000001", LastStatus: "running"}
		if err := r.store.PutWatch(w); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	var ms runtime.MemStats
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.clock.Add(15 * time.Second)
		_ = r.w.Tick(ctx)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-after-gc-MiB")
}
