package insights_test

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/state"
)

const (
	projectID = 5
	path      = "acme/shop"
	token     = "glpat-insights"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	gl      *gitlab.Client
	sim     *simulator.Server
	clock   *clock
	store   *state.Store
	builder *insights.Builder
}

// JobSpecs of a project with a bit of everything: a flaky job, an allowed
// failure, a job that sometimes breaks for real, and a manual deploy.
func shopJobs() []simulator.JobSpec {
	return []simulator.JobSpec{
		{Name: "compile", Stage: "build"},
		{Name: "unit", Stage: "test"},
		{Name: "integration", Stage: "test", Flaky: true},
		{Name: "e2e", Stage: "test", Flaky: true},
		{Name: "lint", Stage: "test", AllowFailure: true, Fail: true},
		{Name: "package", Stage: "package"},
		{Name: "deploy", Stage: "deploy", When: "manual", Only: []string{"main"}},
	}
}

func newHarness(t testing.TB, jobs []simulator.JobSpec) *harness {
	t.Helper()
	c := &clock{t: time.Date(2024, 6, 3, 9, 30, 0, 0, time.UTC)}
	sim := simulator.New(simulator.Options{Now: c.Now})
	sim.AddUser(simulator.User{ID: 1, Username: "alice"}, token)
	sim.AddProject(simulator.Project{ID: projectID, Path: path, Branches: []string{"develop", "feature/cart"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: jobs})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(t.TempDir(), "pipebot.db"), state.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &harness{gl: gl, sim: sim, clock: c, store: store,
		builder: insights.NewBuilder(insights.Config{GitLab: gl, Store: store, Now: c.Now})}
}

// requests counts the simulator's list and jobs requests since the last
// reset.
func (h *harness) requests() (lists, jobs int) {
	for _, r := range h.sim.Requests() {
		switch {
		case r.Path == "/api/v4/projects/acme%2Fshop/pipelines":
			lists++
		case len(r.Path) > 5 && r.Path[len(r.Path)-5:] == "/jobs":
			jobs++
		}
	}
	return lists, jobs
}

// truth is what the test computes from the simulator's own snapshots,
// without insights' code.
type truth struct {
	pipelines, success, failed int
	median, p95                time.Duration
	flaky                      map[string]int
}

func computeTruth(history []simulator.HistoryPipeline, from, to time.Time) truth {
	tr := truth{flaky: map[string]int{}}
	var ds []time.Duration
	var in []simulator.HistoryPipeline
	for _, p := range history {
		if p.CreatedAt.Before(from) || !p.CreatedAt.Before(to) {
			continue
		}
		in = append(in, p)
		tr.pipelines++
		if p.Status != "success" && p.Status != "failed" {
			continue
		}
		if p.Status == "success" {
			tr.success++
		} else {
			tr.failed++
		}
		// Running time: merge the job intervals by walking them in order.
		type iv struct{ a, b time.Time }
		var ivs []iv
		for _, j := range p.Jobs {
			if !j.StartedAt.IsZero() && j.FinishedAt.After(j.StartedAt) {
				ivs = append(ivs, iv{j.StartedAt, j.FinishedAt})
			}
		}
		sort.Slice(ivs, func(x, y int) bool { return ivs[x].a.Before(ivs[y].a) })
		var total time.Duration
		var end time.Time
		for _, v := range ivs {
			if v.a.After(end) {
				total += v.b.Sub(v.a)
				end = v.b
			} else if v.b.After(end) {
				total += v.b.Sub(end)
				end = v.b
			}
		}
		ds = append(ds, total)
	}
	sort.Slice(ds, func(x, y int) bool { return ds[x] < ds[y] })
	if n := len(ds); n > 0 {
		if n%2 == 1 {
			tr.median = ds[n/2]
		} else {
			tr.median = (ds[n/2-1] + ds[n/2]) / 2
		}
		tr.p95 = ds[int(math.Ceil(float64(n)*95/100))-1]
	}
	// Flaky, from the simulator's own retried flags: a pipeline where a
	// job's retried attempt failed and its final attempt passed, or whose
	// final attempt failed and passed in a later pipeline of the commit.
	counted := map[string]bool{}
	final := func(p simulator.HistoryPipeline, name string) (simulator.HistoryJob, bool) {
		for _, j := range p.Jobs {
			if j.Name == name && !j.Retried {
				return j, true
			}
		}
		return simulator.HistoryJob{}, false
	}
	for _, p := range in {
		for _, j := range p.Jobs {
			if !j.Retried || j.Status != "failed" || j.AllowFailure {
				continue
			}
			key := fmt.Sprint(p.ID, j.Name)
			if f, _ := final(p, j.Name); f.Status == "success" && !counted[key] {
				counted[key] = true
				tr.flaky[j.Name]++
			}
		}
	}
	for i, p := range in {
		for _, j := range p.Jobs {
			if j.Retried || j.Status != "failed" || j.AllowFailure || counted[fmt.Sprint(p.ID, j.Name)] {
				continue
			}
			for _, q := range in[i+1:] {
				if q.SHA != p.SHA {
					continue
				}
				if f, ok := final(q, j.Name); ok && f.Status == "success" {
					tr.flaky[j.Name]++
					break
				}
			}
		}
	}
	return tr
}

func TestReportOverGeneratedHistoryMatchesFiguresComputedIndependently(t *testing.T) {
	h := newHarness(t, shopJobs())
	h.sim.GenerateHistory(projectID, simulator.History{Days: 28, Pipelines: 400, Seed: 11, RerunRate: 0.3})
	now := h.clock.Now()
	rep, _, err := h.builder.Build(context.Background(), insights.Query{Project: path, Days: 14}, nil)
	if err != nil {
		t.Fatal(err)
	}
	history := h.sim.HistoryOf(projectID)
	t.Logf("current %+v flaky %+v", rep.Current, rep.Flaky)
	for _, tc := range []struct {
		name string
		got  insights.Period
		want truth
	}{
		{"current", rep.Current, computeTruth(history, now.Add(-14*24*time.Hour), now)},
		{"previous", rep.Previous, computeTruth(history, now.Add(-28*24*time.Hour), now.Add(-14*24*time.Hour))},
	} {
		g, w := tc.got, tc.want
		if g.Pipelines != w.pipelines || g.Success != w.success || g.Failed != w.failed {
			t.Errorf("%s: %d pipelines %d passed %d failed, want %d %d %d", tc.name, g.Pipelines, g.Success, g.Failed, w.pipelines, w.success, w.failed)
		}
		if want := float64(w.success) / float64(w.success+w.failed); math.Abs(g.PassRate-want) > 1e-12 {
			t.Errorf("%s: pass rate %v, want %v", tc.name, g.PassRate, want)
		}
		if g.Median != w.median || g.P95 != w.p95 {
			t.Errorf("%s: median %v p95 %v, want %v %v", tc.name, g.Median, g.P95, w.median, w.p95)
		}
		if w.pipelines < 150 || w.failed == 0 {
			t.Fatalf("%s: the generated history is too thin to test with (%+v)", tc.name, w)
		}
	}
	want := computeTruth(history, now.Add(-14*24*time.Hour), now).flaky
	got := map[string]int{}
	for _, f := range rep.Flaky {
		got[f.Name] = f.Count
	}
	if !reflect.DeepEqual(got, want) || len(want) == 0 {
		t.Errorf("flaky %v, want %v", got, want)
	}
	if _, ok := got["lint"]; ok {
		t.Error("an allowed failure is flaky")
	}
	if !rep.Trend() {
		t.Error("400 pipelines over 28 days make no trend")
	}
	if len(rep.Days) != 15 {
		t.Errorf("%d days for a 14-day window starting mid-day, want 15", len(rep.Days))
	}
	var dayTotal int
	for _, d := range rep.Days {
		dayTotal += d.Pipelines
	}
	if dayTotal != rep.Current.Pipelines {
		t.Errorf("days add up to %d pipelines, the period has %d", dayTotal, rep.Current.Pipelines)
	}
}

func TestASecondReportAsksGitLabOnlyForWhatIsNew(t *testing.T) {
	h := newHarness(t, shopJobs())
	h.sim.GenerateHistory(projectID, simulator.History{Days: 30, Pipelines: 250, Seed: 3})
	ctx := context.Background()
	q := insights.Query{Project: path, Days: 15} // needs 30 days with the previous period
	var reads []int
	first, f, err := h.builder.Build(ctx, q, func(read, total int) {
		if total != 250 {
			t.Errorf("progress total %d, want 250", total)
		}
		reads = append(reads, read)
	})
	if err != nil {
		t.Fatal(err)
	}
	lists, jobs := h.requests()
	if lists != 3 || jobs != 250 || f.ListPage != 3 || f.Jobs != 250 {
		t.Fatalf("first report: %d list and %d jobs requests (%+v), want 3 and 250", lists, jobs, f)
	}
	if len(reads) != 251 || reads[0] != 0 || reads[250] != 250 {
		t.Errorf("progress reports %d times, first %d last %d", len(reads), reads[0], reads[len(reads)-1])
	}

	h.sim.ResetRequests()
	second, f, err := h.builder.Build(ctx, q, func(int, int) { t.Error("progress with nothing to read") })
	if err != nil {
		t.Fatal(err)
	}
	if lists, jobs := h.requests(); lists != 1 || jobs != 0 || len(h.sim.Requests()) != 1 {
		t.Errorf("second report: %d requests (%d list, %d jobs), want only 1 list request", len(h.sim.Requests()), lists, jobs)
	}
	if !reflect.DeepEqual(first.Current, second.Current) || !reflect.DeepEqual(first.Flaky, second.Flaky) {
		t.Error("the cached report differs from the first")
	}

	// A day later with 20 new pipelines: one list request, 20 jobs requests.
	h.clock.Add(24 * time.Hour)
	h.sim.GenerateHistory(projectID, simulator.History{Days: 1, Pipelines: 20, Seed: 4})
	h.sim.ResetRequests()
	third, f, err := h.builder.Build(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lists, jobs := h.requests(); lists != 1 || jobs != 20 || f.Jobs != 20 {
		t.Errorf("after 20 new pipelines: %d list and %d jobs requests, want 1 and 20", lists, jobs)
	}
	if third.Current.Pipelines == second.Current.Pipelines {
		t.Error("the new pipelines are not in the report")
	}

	// A longer window lists only the older range it lacks.
	h.sim.ResetRequests()
	q.Days = 20
	if _, _, err := h.builder.Build(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	if lists, jobs := h.requests(); lists != 2 || jobs != 0 {
		t.Errorf("a longer window: %d list and %d jobs requests, want 2 and 0 (history is 30 days old)", lists, jobs)
	}
}

func TestARetriedPipelineIsReadAgainOnceItFinishes(t *testing.T) {
	h := newHarness(t, shopJobs())
	ids := h.sim.GenerateHistory(projectID, simulator.History{Days: 2, Pipelines: 30, Seed: 9})
	ctx := context.Background()
	q := insights.Query{Project: path, Days: 1}
	if _, _, err := h.builder.Build(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	var failed int64
	for _, id := range ids {
		if p, _ := h.sim.Pipeline(projectID, id); p.Status == "failed" && h.clock.Now().Sub(p.UpdatedAt) < 20*time.Hour {
			failed = id
		}
	}
	if failed == 0 {
		t.Fatal("no failed pipeline in the last day")
	}
	// Retry it through the API, as a person would.
	h.clock.Add(time.Minute)
	gl, _ := gitlab.New(gitlab.Config{BaseURL: testURL(t, h), Token: token})
	if _, err := gl.RetryPipeline(ctx, path, failed); err != nil {
		t.Fatal(err)
	}
	h.sim.ResetRequests()
	rep, _, err := h.builder.Build(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, jobs := h.requests(); jobs != 0 || rep.Current.Others != 1 {
		t.Errorf("running again: %d jobs requests, %d unfinished pipelines; want 0 and 1", jobs, rep.Current.Others)
	}
	h.clock.Add(time.Minute)
	h.sim.Finish(projectID, failed)
	h.clock.Add(time.Minute)
	h.sim.ResetRequests()
	rep, _, err = h.builder.Build(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, jobs := h.requests(); jobs != 1 || rep.Current.Others != 0 {
		t.Errorf("finished again: %d jobs requests, %d unfinished; want 1 and 0", jobs, rep.Current.Others)
	}
}

func testURL(t *testing.T, h *harness) string {
	srv := httptest.NewServer(h.sim)
	t.Cleanup(srv.Close)
	return srv.URL
}
