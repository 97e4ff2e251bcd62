package notify

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// fakeRates is a rateSource whose count and announcement tests set.
type fakeRates struct {
	n  uint64
	rl gitlab.RateLimit
	ok bool
}

func (f *fakeRates) Requests() uint64                    { return f.n }
func (f *fakeRates) RateLimit() (gitlab.RateLimit, bool) { return f.rl, f.ok }

// spend lets the budget spend until it refuses and returns how many
// requests it allowed.
func spend(b *budget, src *fakeRates, now time.Time) int {
	n := 0
	for b.allow(now) && n < 100000 {
		mark := b.mark()
		src.n++
		b.chargeSince(mark)
		n++
	}
	return n
}

func TestBudget(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		interval  time.Duration
		announced *gitlab.RateLimit // RateLimit-* headers GitLab sent, if any
		others    uint64            // requests by commands since the announcement
		want      int               // requests allowed in the first tick
		wantMin   int               // in the first minute, ticking every interval
	}{
		{
			name: "without an announcement it assumes 2,000 a minute and takes half, a tick's part at a time",
			// 1,000 a minute at 15 s ticks: 250 a tick.
			interval: 15 * time.Second, want: 250, wantMin: 1000,
		},
		{
			name:      "it takes half of the announced limit, spread over the ticks",
			interval:  15 * time.Second,
			announced: &gitlab.RateLimit{Limit: 600, Observed: 0, Remaining: 600, Reset: t0.Add(time.Minute)},
			want:      75, wantMin: 300,
		},
		{
			name:      "an hourly window: the per-minute limit paces, the hour's remainder guards",
			interval:  15 * time.Second,
			announced: &gitlab.RateLimit{Limit: 120, Observed: 100, Remaining: 7100, Reset: t0.Add(time.Hour)},
			want:      15, wantMin: 60,
		},
		{
			name:      "commands ate the window: it stops at the last tenth",
			interval:  15 * time.Second,
			announced: &gitlab.RateLimit{Limit: 600, Observed: 500, Remaining: 100, Reset: t0.Add(time.Minute)},
			others:    30, // 70 left: 10 for the poller before 60 (a tenth) remain
			want:      10, wantMin: 10,
		},
		{
			name:      "a throttled answer: nothing until the window resets",
			interval:  15 * time.Second,
			announced: &gitlab.RateLimit{Limit: 600, Observed: -1, Remaining: 0, Reset: t0.Add(30 * time.Second)},
			want:      0, wantMin: 150, // 75 a tick once the window is over, at 30 and 45 s
		},
		{
			name:     "ticks of a minute or more get the whole minute",
			interval: 2 * time.Minute,
			want:     1000, wantMin: 1000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeRates{}
			if tc.announced != nil {
				src.rl, src.ok = *tc.announced, true
			}
			src.n = src.rl.Requests + tc.others
			b := newBudget(src, 0.5, 2000, tc.interval)
			b.startTick(t0)
			got := spend(b, src, t0)
			if got != tc.want {
				t.Errorf("first tick allowed %d requests, want %d", got, tc.want)
			}
			total := got
			for at := t0.Add(tc.interval); at.Before(t0.Add(time.Minute)); at = at.Add(tc.interval) {
				b.startTick(at)
				total += spend(b, src, at)
			}
			if total != tc.wantMin {
				t.Errorf("first minute allowed %d requests, want %d", total, tc.wantMin)
			}
		})
	}
}

func TestBudgetStopsAfterA429UntilRetryAfter(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	src := &fakeRates{}
	b := newBudget(src, 0.5, 2000, 15*time.Second)
	b.startTick(t0)
	b.throttled(t0, 40*time.Second)
	for _, at := range []time.Duration{0, 15 * time.Second, 30 * time.Second} {
		b.startTick(t0.Add(at))
		if b.allow(t0.Add(at)) {
			t.Errorf("allowed %v after a 429 asking for 40 s", at)
		}
	}
	b.startTick(t0.Add(45 * time.Second))
	if !b.allow(t0.Add(45 * time.Second)) {
		t.Error("still refused once Retry-After passed")
	}
}

func TestPollerStaysUnderTheRateLimitGitLabAnnounces(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// headers: GitLab 18.6+ sends RateLimit-* on every response; older
		// versions only with a 429.
		headers bool
		// throttledWindows is how many one-minute windows may see a 429.
		throttledWindows int
	}{
		{"announced on every response: never a 429", true, 0},
		// Learning the limit, and learning that it dropped, each cost one
		// minute with a 429.
		{"announced only with a 429: a throttled minute for each new limit", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, passingJobs)
			h.reconfigure(nil)
			ids := fleet(t, h, 150)
			for _, pid := range ids[:10] {
				h.sim.Advance(pid, h.sim.CreatePipeline(pid, "main", "push", 1)) // running: hot
			}
			limit := 60
			h.sim.SetRateLimit(simulator.RateLimit{Limit: limit, HeadersOnSuccess: tc.headers})
			h.sim.ResetRequests()
			// 12 minutes at 15 s ticks, the windows aligned with GitLab's
			// (the clock starts on a minute). Between ticks people's
			// commands make 4 requests through the same token, and the
			// limit drops to 40 a minute after 6 minutes.
			var perWindow []int
			throttled := 0
			prev := 0
			for i := 0; i < 48; i++ {
				if i == 24 {
					limit = 40
					h.sim.SetRateLimit(simulator.RateLimit{Limit: limit, HeadersOnSuccess: tc.headers})
				}
				_ = h.tick() // a 429 is an error, and is what this test counts
				for k := 0; k < 4; k++ {
					_, _ = h.gl.Project(ctx, "group/app")
				}
				h.clock.Add(tick15)
				if i%4 == 3 {
					reqs := h.sim.Requests()
					n, over := len(reqs)-prev, 0
					for _, r := range reqs[prev:] {
						if r.Status == http.StatusTooManyRequests {
							over++
						}
					}
					prev = len(reqs)
					perWindow = append(perWindow, n)
					if over > 0 {
						throttled++
					}
					if over == 0 && n > limit {
						t.Errorf("minute %d: %d requests, over the limit of %d", i/4, n, limit)
					}
				}
			}
			if throttled > tc.throttledWindows {
				t.Errorf("%d minutes saw a 429, want at most %d; requests per minute %v", throttled, tc.throttledWindows, perWindow)
			}
			// It polled as much as its share allows: the hot projects every
			// tick and the quiet ones in turn.
			polls := 0
			for _, pid := range ids {
				polls += lists(h, pid)
			}
			if polls < 150 {
				t.Errorf("only %d polls in 12 minutes; requests per minute %v", polls, perWindow)
			}
			t.Logf("requests per minute %v, %d polls", perWindow, polls)
		})
	}
}
