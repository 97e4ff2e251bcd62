package notify

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// scaleChange is a change the simulation made in a project, waiting for
// the watcher's next poll of that project to notice it.
type scaleChange struct {
	at   time.Time
	kind string
}

// Kinds of change the polling-at-scale benchmark times.
const (
	changeActive = "active"       // a pipeline's status moved in a project with a running pipeline
	changePush   = "quiet-push"   // a push or merge request pipeline in a quiet project
	changeSilent = "quiet-silent" // an API, trigger or scheduled pipeline in a quiet project
)

// scaleSim drives projects in subscribed groups through simulated
// time: new pipelines arrive at random in quiet projects, move every minute
// or so until they end, and every change is timed until the watcher's next
// poll of its project (the poll lists it: pipelines updated after the
// project's cursor).
type scaleSim struct {
	h        *harness
	rnd      *rand.Rand
	projects []int64
	running  map[int64]int64     // project -> its running pipeline
	seen     map[int64]bool      // project -> the watcher polled it since its pipeline started
	nextStep map[int64]time.Time // project -> when its pipeline moves next
	lastEnd  map[int64]time.Time // project -> when its last pipeline ended
	waiting  map[int64][]scaleChange
	delays   map[string][]time.Duration
	reqSeen  int
	kinds    map[string]int // requests by what they were for, while measuring
	measure  bool
}

func newScaleSim(b testing.TB, groups, perGroup int) *scaleSim {
	h := newHarness(b, passingJobs)
	h.reconfigure(nil)
	// GitLab.com's authenticated API limit, announced on every response.
	h.sim.SetRateLimit(simulator.RateLimit{Limit: 2000, HeadersOnSuccess: true})
	s := &scaleSim{
		h: h, rnd: rand.New(rand.NewPCG(1, 2)),
		running: map[int64]int64{}, seen: map[int64]bool{}, nextStep: map[int64]time.Time{}, lastEnd: map[int64]time.Time{},
		waiting: map[int64][]scaleChange{}, delays: map[string][]time.Duration{}, kinds: map[string]int{},
	}
	member := map[int64]simulator.AccessLevel{1: simulator.Developer}
	h.sim.AddGroup(simulator.Group{ID: 5000, Path: "acme", Members: member})
	for g := 0; g < groups; g++ {
		group := fmt.Sprintf("acme/team%02d", g)
		h.sim.AddGroup(simulator.Group{ID: int64(5001 + g), Path: group})
		for i := 0; i < perGroup; i++ {
			pid := int64(1000 + g*perGroup + i)
			jobs := passingJobs
			if pid%20 == 0 {
				jobs = failingJobs // 5% of projects fail: their channel gets a card
			}
			h.sim.AddProject(simulator.Project{ID: pid, Path: fmt.Sprintf("%s/app%03d", group, i), Jobs: jobs})
			s.projects = append(s.projects, pid)
		}
		h.subscribe(SubscribeRequest{Channel: fmt.Sprintf("C%02d", g), Group: group})
	}
	return s
}

// event happens at a random moment within the 15 s before the next tick.
func (s *scaleSim) at(slot time.Time, fn func(now time.Time)) {
	s.h.clock.Add(-time.Duration(s.rnd.IntN(15000)) * time.Millisecond)
	fn(s.h.clock.Now())
	s.h.clock.Add(slot.Sub(s.h.clock.Now()))
}

// workload makes one slot's changes: new pipelines at perMinute in quiet
// projects (70% from a push or merge request, 30% from the API or a
// schedule), and a step for each running pipeline that is due one.
func (s *scaleSim) workload(slot time.Time, perMinute float64, record bool) {
	n := int(perMinute / 4)
	if s.rnd.Float64() < perMinute/4-float64(n) {
		n++
	}
	for k := 0; k < n; k++ {
		pid := s.projects[s.rnd.IntN(len(s.projects))]
		if _, busy := s.running[pid]; busy {
			continue
		}
		quiet := slot.Sub(s.lastEnd[pid]) > 5*time.Minute
		source, kind := "push", changePush
		switch r := s.rnd.Float64(); {
		case r < 0.1:
			source = "merge_request_event"
		case r < 0.7:
		case r < 0.85:
			source, kind = "api", changeSilent
		default:
			source, kind = "schedule", changeSilent
		}
		s.at(slot, func(now time.Time) {
			id := s.h.sim.CreatePipeline(pid, "main", source, 1)
			s.running[pid] = id
			s.seen[pid] = false
			s.nextStep[pid] = now.Add(time.Duration(45+s.rnd.IntN(60)) * time.Second)
			if record && quiet {
				s.waiting[pid] = append(s.waiting[pid], scaleChange{at: now, kind: kind})
			}
		})
	}
	busy := make([]int64, 0, len(s.running))
	for pid := range s.running {
		busy = append(busy, pid)
	}
	sort.Slice(busy, func(i, k int) bool { return busy[i] < busy[k] })
	for _, pid := range busy {
		id := s.running[pid]
		if slot.Before(s.nextStep[pid]) {
			continue
		}
		s.at(slot, func(now time.Time) {
			before, _ := s.h.sim.Pipeline(pid, id)
			after := s.h.sim.Advance(pid, id)
			// A change counts as one in an active project once the
			// watcher knows the pipeline runs; before, it is part of the
			// new pipeline's notice.
			if record && after != before.Status && s.seen[pid] {
				s.waiting[pid] = append(s.waiting[pid], scaleChange{at: now, kind: changeActive})
			}
			switch after {
			case simulator.StatusSuccess, simulator.StatusFailed, simulator.StatusCanceled, simulator.StatusSkipped:
				delete(s.running, pid)
				s.lastEnd[pid] = now
			default:
				s.nextStep[pid] = now.Add(time.Duration(45+s.rnd.IntN(60)) * time.Second)
			}
		})
	}
}

// noticed times the waiting changes of every project the last tick polled,
// and returns the tick's requests.
func (s *scaleSim) noticed(now time.Time) int {
	reqs := s.h.sim.Requests()
	fresh := reqs[s.reqSeen:]
	s.reqSeen = len(reqs)
	for _, r := range fresh {
		if s.measure {
			s.kinds[requestKind(r)]++
		}
		rest, ok := strings.CutPrefix(r.Path, "/api/v4/projects/")
		if !ok || r.Method != http.MethodGet {
			continue
		}
		id, ok := strings.CutSuffix(rest, "/pipelines")
		if !ok {
			continue
		}
		pid, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			continue
		}
		s.seen[pid] = true
		for _, c := range s.waiting[pid] {
			s.delays[c.kind] = append(s.delays[c.kind], now.Sub(c.at))
		}
		delete(s.waiting, pid)
	}
	return len(fresh)
}

// requestKind sorts the watcher's requests for the benchmark's breakdown.
func requestKind(r simulator.Request) string {
	switch {
	case r.Path == "/api/graphql":
		return "checks"
	case strings.HasSuffix(r.Path, "/pipelines") && strings.HasPrefix(r.Path, "/api/v4/projects/"):
		return "polls"
	case strings.HasPrefix(r.Path, "/api/v4/groups/") && strings.Contains(r.RawQuery, "order_by=last_activity_at"):
		return "listings"
	case strings.HasPrefix(r.Path, "/api/v4/groups/"):
		return "discovery"
	}
	return "cards"
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, k int) bool { return sorted[i] < sorted[k] })
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// BenchmarkPollingAtScale: 5,000 projects (and, for comparison, 500, 1,000
// and 2,000) in subscribed groups of 100 under one parent, about 2% of them
// active (new pipelines arrive at 0.2% of the projects a minute and move
// for about five minutes), against the simulator announcing GitLab.com's
// 2,000 requests a minute. Ten simulated minutes of warm-up, then 30
// measured: every GitLab request (polls, GraphQL checks of quiet projects,
// group listings, discovery, cards) per minute, and the delay from a change
// to the watcher's next poll of its project, for changes in active projects
// and new pipelines in quiet ones.
// The last run has no GraphQL API (/api/graphql answers 404): quiet
// projects are polled one by one, as before GraphQL checks.
// Run with -benchtime 1x: one iteration is 40 simulated minutes.
func BenchmarkPollingAtScale(b *testing.B) {
	for _, projects := range []int{500, 1000, 2000, 5000} {
		b.Run(fmt.Sprintf("projects=%d", projects), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runScale(b, projects/100, 100, float64(projects)/500, false)
			}
		})
	}
	b.Run("projects=5000/no-graphql", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			runScale(b, 50, 100, 10, true)
		}
	})
}

func runScale(b *testing.B, groups, perGroup int, newPerMinute float64, noGraphQL bool) {
	s := newScaleSim(b, groups, perGroup)
	h := s.h
	if noGraphQL {
		h.noGraphQL()
	}
	h.clock.Add(2 * time.Hour) // every project's last activity is old: the listings make them cold
	h.clock.Add(-time.Duration(h.clock.Now().Second()) * time.Second)
	s.noticed(h.clock.Now())
	const warm, measured = 40, 120 // ticks
	var perMinute []int
	minute := 0
	b.ResetTimer()
	for t := 0; t < warm+measured; t++ {
		slot := h.clock.Now().Add(tick15)
		h.clock.Add(tick15)
		s.measure = t >= warm
		s.workload(slot, newPerMinute, s.measure)
		_ = h.tick() // a failed poll is retried; the figures show its cost
		n := s.noticed(slot)
		if t >= warm {
			minute += n
			if (t-warm)%4 == 3 {
				perMinute = append(perMinute, minute)
				minute = 0
			}
		}
	}
	b.StopTimer()
	total, peak := 0, 0
	for _, n := range perMinute {
		total += n
		peak = max(peak, n)
	}
	_, throttled := h.sim.RateLimitStats()
	b.ReportMetric(float64(total)/float64(len(perMinute)), "req/min")
	b.ReportMetric(float64(peak), "max-req/min")
	b.ReportMetric(float64(throttled), "429s")
	for _, k := range []string{"polls", "checks", "listings", "discovery", "cards"} {
		b.ReportMetric(float64(s.kinds[k])/float64(len(perMinute)), k+"/min")
	}
	for _, kind := range []string{changeActive, changePush, changeSilent} {
		ds := s.delays[kind]
		b.ReportMetric(percentile(ds, 0.5).Seconds(), kind+"-p50-s")
		b.ReportMetric(percentile(ds, 0.95).Seconds(), kind+"-p95-s")
		b.ReportMetric(float64(len(ds)), kind+"-n")
	}
	pending := 0
	for _, cs := range s.waiting {
		pending += len(cs)
	}
	b.ReportMetric(float64(pending), "unnoticed-at-end")
}
