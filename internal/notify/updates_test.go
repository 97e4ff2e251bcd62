package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

func TestAnAPIPipelineInAQuietProjectAmongThousandsIsNoticedWithin60s(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 projects for 12 simulated minutes; run without -short")
	}
	ctx := context.Background()
	s := newScaleSim(t, 30, 100) // 3,000 projects; GitLab announces 2,000 requests a minute
	h := s.h
	h.clock.Add(2 * time.Hour)
	ticks(t, h, 8) // two minutes: every project checked once, the first polls done
	h.sim.ResetRequests()
	start := h.clock.Now()
	var worst time.Duration
	for trial := 0; trial < 12; trial++ {
		pid := s.projects[(trial*263+41)%len(s.projects)]
		// At every offset within the 15 s before the next tick, in a
		// project nothing has happened in for two hours: no hook, no push,
		// nothing for the group listings to see.
		offset := time.Duration(1+trial*5%15) * time.Second
		h.clock.Add(tick15 - offset)
		created := h.clock.Now()
		if _, err := h.gl.CreatePipeline(ctx, fmt.Sprint(pid), "main", nil, nil); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(offset)
		noticed := time.Duration(-1)
		for i := 0; i < 8 && noticed < 0; i++ {
			if i > 0 {
				h.clock.Add(tick15)
			}
			before := lists(h, pid)
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if lists(h, pid) > before {
				noticed = h.clock.Now().Sub(created)
			}
		}
		if noticed < 0 || noticed > time.Minute {
			t.Fatalf("trial %d: API pipeline in quiet project %d noticed after %v, want within 60 s", trial, pid, noticed)
		}
		worst = max(worst, noticed)
	}
	h.clock.Add(tick15)
	minutes := h.clock.Now().Sub(start).Minutes()
	reqs := len(h.sim.Requests())
	checks := h.sim.CountRequests(http.MethodPost, "/api/graphql")
	if perMin := float64(reqs) / minutes; perMin > 1000 {
		t.Errorf("%.0f GitLab requests a minute, want at most 1,000", perMin)
	}
	// 2,940 quiet projects every 60 s, 30 a request: about 100 a minute.
	if perMin := float64(checks) / minutes; perMin < 90 || perMin > 110 {
		t.Errorf("%.0f GraphQL checks a minute, want about 100", perMin)
	}
	if _, throttled := h.sim.RateLimitStats(); throttled > 0 {
		t.Errorf("%d requests answered 429", throttled)
	}
	t.Logf("worst delay %v; %.0f requests a minute, %.0f of them checks", worst, float64(reqs)/minutes, float64(checks)/minutes)
}

// graphqlProxy sits between the watcher and the simulator; while refuse is
// set it answers /api/graphql as a GitLab that rejects the query does: 200
// with GraphQL errors (an older GitLab without Project.pipelines'
// updatedAfter, say).
type graphqlProxy struct {
	refuse  atomic.Bool
	refused atomic.Int64
	srv     *httptest.Server
}

func newGraphQLProxy(t *testing.T, h *harness, target string) *graphqlProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &graphqlProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/graphql" && p.refuse.Load() {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"errors":[{"message":"Field 'pipelines' doesn't accept argument 'updatedAfter'"}]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: p.srv.URL, Token: "glpat-test", MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.gl = gl
	return p
}

func TestQuietProjectsArePolledOneByOneWhileGraphQLIsUnavailable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// breakIt makes /api/graphql fail and returns the function that
		// mends it and the one that counts the attempts so far.
		breakIt func(t *testing.T, h *harness) (mend func(), attempts func() int)
		// most is the most GraphQL attempts the eight broken minutes may
		// make.
		most int
	}{
		{"no GraphQL API (404)", func(t *testing.T, h *harness) (func(), func() int) {
			h.noGraphQL()
			return func() { h.sim.SetFault(nil) }, func() int { return checks(h) }
		}, 1},
		{"GraphQL errors in a 200 answer", func(t *testing.T, h *harness) (func(), func() int) {
			p := newGraphQLProxy(t, h, h.simURL)
			h.reconfigure(nil)
			p.refuse.Store(true)
			return func() { p.refuse.Store(false) }, func() int { return int(p.refused.Load()) }
		}, 1},
		{"GitLab failing (502)", func(t *testing.T, h *harness) (func(), func() int) {
			h.sim.SetFault(func(r *http.Request) (int, time.Duration, bool) {
				return http.StatusBadGateway, 0, r.URL.Path == "/api/graphql"
			})
			return func() { h.sim.SetFault(nil) }, func() int { return checks(h) }
		}, 3 * 5}, // three attempts each, backing off 15, 30, 60, 120, 240 s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, passingJobs)
			h.reconfigure(nil)
			mend, attempts := tt.breakIt(t, h)
			ids := fleet(t, h, 40)
			h.sim.ResetRequests()
			start := h.clock.Now()
			// Eight minutes broken: an API pipeline a minute in another
			// quiet project is still noticed within 60 s, by its own poll.
			for trial := 0; trial < 8; trial++ {
				pid := ids[trial*3%len(ids)]
				created := h.clock.Now()
				p, err := h.gl.CreatePipeline(ctx, fmt.Sprint(pid), "main", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				noticed := false
				for i := 0; i < 4; i++ {
					h.clock.Add(tick15)
					before := lists(h, pid)
					if err := h.tick(); err != nil && !noticed {
						t.Logf("tick: %v", err)
					}
					if lists(h, pid) > before && !noticed {
						noticed = true
						if d := h.clock.Now().Sub(created); d > time.Minute {
							t.Errorf("trial %d: noticed after %v", trial, d)
						}
					}
				}
				if !noticed {
					t.Fatalf("trial %d: the pipeline in project %d was not noticed in 60 s", trial, pid)
				}
				h.sim.Finish(pid, p.ID) // hot for two minutes more, then quiet again
			}
			if n := attempts(); n < 1 || n > tt.most {
				t.Errorf("%d GraphQL attempts in %v while broken, want 1 to %d", n, h.clock.Now().Sub(start), tt.most)
			}
			// Mended, the checks come back by themselves (within ten
			// minutes) and quiet projects are no longer polled one by one.
			mend()
			h.clock.Add(10 * time.Minute)
			ticks(t, h, 4)
			h.sim.ResetRequests()
			ticks(t, h, 8)
			polls := 0
			for _, pid := range ids {
				polls += lists(h, pid)
			}
			if c := checks(h); polls != 0 || c < 2 || c > 4 {
				t.Errorf("two minutes after mending: %d polls and %d checks of 40 quiet projects, want 0 polls and 2 to 4 checks", polls, c)
			}
		})
	}
}

func TestGraphQLChecksAreChargedToThePollBudget(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, passingJobs)
	// 8 requests a minute, half of them for polling: one a tick.
	h.reconfigure(func(c *Config) { c.AssumedRateLimit = 8 })
	ids := fleet(t, h, 90) // three checks' worth
	h.sim.ResetRequests()
	start := h.clock.Now()
	perTick := map[int]int{}
	var noticed time.Duration = -1
	var created time.Time
	for i := 0; i < 48; i++ { // 12 minutes
		if i == 20 {
			created = h.clock.Now()
			if _, err := h.gl.CreatePipeline(ctx, fmt.Sprint(ids[70]), "main", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		before := starts(h)
		listed := lists(h, ids[70])
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		perTick[i] = starts(h) - before
		if i >= 20 && noticed < 0 && lists(h, ids[70]) > listed {
			noticed = h.clock.Now().Sub(created)
		}
		h.clock.Add(tick15)
	}
	for i, n := range perTick {
		if n > 1 {
			t.Errorf("tick %d started %d checks, polls or listings, want at most 1 (a minute's 4 spread over its ticks)", i, n)
		}
	}
	// A poll's own follow-ups (the new pipeline's jobs) may overrun a
	// minute by a few requests; the next minute makes up for it.
	if perMin := float64(len(h.sim.Requests())) / h.clock.Now().Sub(start).Minutes(); perMin > 4.5 {
		t.Errorf("%.1f requests a minute, want at most 4: checks count like polls", perMin)
	}
	// Three checks cover the 90 projects; with one request a tick, each is
	// checked every 45 s or so, and the change is read at the next tick.
	if noticed < 0 || noticed > 2*time.Minute {
		t.Errorf("the pipeline was noticed after %v on a budget of one request a tick", noticed)
	}
	if checks(h) == 0 {
		t.Error("no GraphQL check was made")
	}
}

// starts counts the requests that begin a visit: checks, pipeline lists
// (polls) and group listings, not a poll's follow-ups.
func starts(h *harness) int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Path == "/api/graphql" || strings.HasSuffix(r.Path, "/pipelines") || strings.HasPrefix(r.Path, "/api/v4/groups/") {
			n++
		}
	}
	return n
}
