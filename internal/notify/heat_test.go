package notify

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/state"
)

const tick15 = 15 * time.Second

// ticks runs n ticks, moving the clock on tick15 after each.
func ticks(t *testing.T, h *harness, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(tick15)
	}
}

// reconfigure replaces the harness's watcher with one built from the
// defaults at a 15 s interval, edited by edit: a process start with that
// configuration.
func (h *harness) reconfigure(edit func(*Config)) {
	h.t.Helper()
	cfg := Config{GitLab: h.gl, Slack: h.poster, Store: h.store, Interval: tick15, Now: h.clock.Now, Logger: zerolog.Nop(), JobPreview: testJobPreview}
	if edit != nil {
		edit(&cfg)
	}
	h.w = New(cfg)
}

// lists counts the pipeline list requests (polls) of a project so far.
func lists(h *harness, pid int64) int {
	path := fmt.Sprintf("/api/v4/projects/%d/pipelines", pid)
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Method == http.MethodGet && r.Path == path {
			n++
		}
	}
	return n
}

// checks counts the GraphQL checks (of quiet projects) so far.
func checks(h *harness) int { return h.sim.CountRequests(http.MethodPost, "/api/graphql") }

// noGraphQL makes the simulator answer /api/graphql 404, as a GitLab
// without the GraphQL API (or behind a proxy that blocks it) does.
func (h *harness) noGraphQL() {
	h.sim.SetFault(func(r *http.Request) (int, time.Duration, bool) {
		return http.StatusNotFound, 0, r.URL.Path == "/api/graphql"
	})
}

// pollTicks ticks n times, 15 s apart, running between(i) before tick i,
// and returns the ticks at which the project was polled and those at which
// a GraphQL check was made.
func pollTicks(t *testing.T, h *harness, pid int64, n int, between func(i int)) (polled, checked []int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if i > 0 {
			h.clock.Add(tick15)
		}
		if between != nil {
			between(i)
		}
		before, beforeChecks := lists(h, pid), checks(h)
		if err := h.tick(); err != nil {
			t.Fatalf("tick %d: %v", i, err)
		}
		if lists(h, pid) > before {
			polled = append(polled, i)
		}
		if checks(h) > beforeChecks {
			checked = append(checked, i)
		}
	}
	return polled, checked
}

// union merges two sorted tick lists.
func union(a, b []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range append(append([]int(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Ints(out)
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestPollingByHeat(t *testing.T) {
	ctx := context.Background()
	running := func(h *harness) int64 {
		id := h.sim.CreatePipeline(projectID, "main", "push", 1)
		h.sim.Advance(projectID, id) // pending -> running
		return id
	}
	hookFor := func(h *harness, id int64) {
		wh, url := h.webhook()
		d, _ := h.sim.PipelineHook(projectID, id)
		if code := send(t, url, hookSecret, d); code != http.StatusOK {
			t.Fatalf("hook: %d", code)
		}
		if err := wh.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// groupCold subscribes to the project's group (of two projects: a
	// listing for one would cost more than polling it) two hours after the
	// projects' last activity, so the listing covers them and they are cold.
	groupCold := func(h *harness) {
		h.sim.AddGroup(simulator.Group{ID: 70, Path: "group", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
		h.sim.AddProject(simulator.Project{ID: 8, Path: "group/other", Jobs: passingJobs})
		h.clock.Add(2 * time.Hour)
		h.subscribe(SubscribeRequest{Group: "group", On: "created,running,success,failed"})
	}
	// want is the ticks at which the project is visited: polled, or (for a
	// quiet project, where GitLab serves GraphQL) covered by a GraphQL
	// check. Without GraphQL every visit is a poll; with it, polls are
	// wantPolls: the project's hot ticks and the checks that saw a change.
	tests := []struct {
		name      string
		setup     func(h *harness)
		between   func(h *harness, i int)
		ticks     int
		want      []int
		wantPolls []int
	}{
		{
			name:  "a watched pipeline's project is polled every tick",
			setup: func(h *harness) { h.start() },
			ticks: 9, want: span(0, 8), wantPolls: span(0, 8),
		},
		{
			name:  "a running pipeline keeps a subscribed project hot",
			setup: func(h *harness) { h.subscribe(SubscribeRequest{}); running(h) },
			ticks: 9, want: span(0, 8), wantPolls: span(0, 8),
		},
		{
			name:  "a quiet project is visited every 60 s",
			setup: func(h *harness) { h.subscribe(SubscribeRequest{}) },
			ticks: 9, want: []int{0, 4, 8}, wantPolls: nil,
		},
		{
			name: "a finished pipeline keeps its project hot for two minutes, then it cools to 60 s",
			setup: func(h *harness) {
				h.subscribe(SubscribeRequest{})
				h.sim.Finish(projectID, h.sim.CreatePipeline(projectID, "main", "push", 1))
			},
			ticks: 20, want: append(span(0, 7), 11, 15, 19), wantPolls: span(0, 7),
		},
		{
			name:  "working webhooks poll a hot project every fourth tick",
			setup: func(h *harness) { h.subscribe(SubscribeRequest{}); hookFor(h, running(h)) },
			ticks: 9, want: []int{0, 4, 8}, wantPolls: []int{0, 4, 8},
		},
		{
			name: "working webhooks visit a quiet project every four minutes",
			setup: func(h *harness) {
				h.subscribe(SubscribeRequest{})
				id := h.sim.CreatePipeline(projectID, "main", "push", 1)
				h.sim.Finish(projectID, id)
				hookFor(h, id) // hot for two minutes, every fourth tick; then every 4 minutes
			},
			ticks: 40, want: []int{0, 4, 20, 36}, wantPolls: []int{0, 4},
		},
		{
			name:  "a push in a cold project of a subscribed group is polled at the next group listing",
			setup: groupCold,
			between: func(h *harness, i int) {
				if i == 6 { // at 80 s, between the ticks at 75 and 90 s
					h.clock.Add(-10 * time.Second)
					h.sim.CreatePipeline(projectID, "main", "push", 1)
					h.clock.Add(10 * time.Second)
				}
			},
			ticks: 9, want: []int{0, 4, 6, 7, 8}, wantPolls: []int{6, 7, 8},
		},
		{
			name:  "an API pipeline moves no last_activity_at: the cold project waits for its 60 s visit",
			setup: groupCold,
			between: func(h *harness, i int) {
				if i == 6 {
					if _, err := h.gl.CreatePipeline(ctx, "group/app", "main", nil, nil); err != nil {
						t.Fatal(err)
					}
				}
			},
			ticks: 10, want: []int{0, 4, 8, 9}, wantPolls: []int{8, 9},
		},
	}
	for _, mode := range []string{"GraphQL", "no GraphQL API"} {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, passingJobs)
				h.reconfigure(nil)
				if mode != "GraphQL" {
					h.noGraphQL()
				}
				tc.setup(h)
				h.sim.ResetRequests()
				var between func(int)
				if tc.between != nil {
					between = func(i int) { tc.between(h, i) }
				}
				polled, checked := pollTicks(t, h, projectID, tc.ticks, between)
				wantPolls := tc.wantPolls
				if mode != "GraphQL" {
					wantPolls, checked = tc.want, nil
				}
				if !reflect.DeepEqual(polled, wantPolls) {
					t.Errorf("polled at ticks %v, want %v", polled, wantPolls)
				}
				if got := union(polled, checked); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("visited at ticks %v (polls %v, checks %v), want %v", got, polled, checked, tc.want)
				}
			})
		}
	}
}

// fleet adds n projects fleet/app1… (ids 101…) and subscribes testChannel
// to each, as `/ci subscribe` would, and returns their ids.
func fleet(t *testing.T, h *harness, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := 1; i <= n; i++ {
		pid := int64(100 + i)
		h.sim.AddProject(simulator.Project{ID: pid, Path: fmt.Sprintf("fleet/app%d", i), Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: passingJobs})
		h.subscribe(SubscribeRequest{Project: fmt.Sprintf("fleet/app%d", i), On: "created,running,success,failed"})
		ids = append(ids, pid)
	}
	return ids
}

func TestNewPipelineInAQuietProjectIsNoticedWithinTheQuietInterval(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, passingJobs)
	h.reconfigure(nil)
	h.sim.AddGroup(simulator.Group{ID: 80, Path: "fleet", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	ids := fleet(t, h, 40)
	// Two hours on, the fleet's namespace listing makes every project
	// cold; API pipelines move no last_activity_at, so only the 60 s
	// polls can see them.
	h.clock.Add(2 * time.Hour)
	ticks(t, h, 12)
	h.sim.ResetRequests()
	start := h.clock.Now()
	var worst time.Duration
	for trial, pid := range ids[:20] {
		// Pipelines start at every offset within the 15 s tick grid.
		offset := time.Duration(trial*7%15) * time.Second
		h.clock.Add(offset)
		created := h.clock.Now()
		p, err := h.gl.CreatePipeline(ctx, fmt.Sprint(pid), "main", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Add(tick15 - offset)
		noticed := time.Duration(-1)
		for i := 0; i < 8; i++ {
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if _, ok := h.cardFor(p.ID); ok {
				noticed = h.clock.Now().Sub(created)
				break
			}
			h.clock.Add(tick15)
		}
		if noticed < 0 || noticed > time.Minute {
			t.Fatalf("trial %d: pipeline #%d in quiet project %d noticed after %v, want within 60 s", trial, p.ID, pid, noticed)
		}
		worst = max(worst, noticed)
		h.clock.Add(tick15)
	}
	// The bound is met by polling each quiet project every 60 s, not every
	// tick: 40 quiet projects cost about 40 polls a minute, not 160.
	minutes := h.clock.Now().Sub(start).Minutes()
	if perMin := float64(len(h.sim.Requests())) / minutes; perMin > 90 {
		t.Errorf("%.0f GitLab requests a minute for 40 mostly quiet projects, want well under one poll per project per tick (160)", perMin)
	}
	t.Logf("worst delay %v; %.0f requests a minute", worst, float64(len(h.sim.Requests()))/minutes)
}

func TestQuietProjectsAreSpreadOverTheQuietInterval(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.reconfigure(nil)
	h.noGraphQL() // each quiet project is polled (with GraphQL: updates_test.go)
	ids := fleet(t, h, 40)
	h.sim.ResetRequests()
	// 40 quiet projects at one poll a minute are 10 a tick; the first
	// tick after a start may not poll them all at once either.
	counts := map[int64]int{}
	for i := 0; i < 16; i++ {
		before := map[int64]int{}
		for _, pid := range ids {
			before[pid] = lists(h, pid)
		}
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		polled := 0
		for _, pid := range ids {
			if d := lists(h, pid) - before[pid]; d > 0 {
				polled++
				counts[pid] += d
			}
		}
		if polled > 13 {
			t.Errorf("tick %d polled %d quiet projects at once, want at most 13 (10 a tick, plus a quarter)", i, polled)
		}
		h.clock.Add(tick15)
	}
	for _, pid := range ids {
		if counts[pid] < 3 || counts[pid] > 5 {
			t.Errorf("project %d polled %d times in 4 minutes, want about 4", pid, counts[pid])
		}
	}
}

func TestColdProjectsYieldToQuietOnesWhenTheBudgetIsShort(t *testing.T) {
	h := newHarness(t, passingJobs)
	// 40 requests a minute, half of them for polling: 20, for 40 quiet
	// projects that would like 40.
	h.reconfigure(func(c *Config) { c.AssumedRateLimit = 40 })
	h.noGraphQL() // where GraphQL checks all 40 in two requests, none yields
	h.sim.AddGroup(simulator.Group{ID: 80, Path: "fleet", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	cold := fleet(t, h, 20) // one namespace: listed, and cold once their activity is an hour old
	var quiet []int64
	for i := 1; i <= 20; i++ {
		pid := int64(200 + i)
		path := fmt.Sprintf("solo%d/app", i) // alone in its namespace: no listing covers it
		h.sim.AddProject(simulator.Project{ID: pid, Path: path, Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: passingJobs})
		h.subscribe(SubscribeRequest{Project: path})
		quiet = append(quiet, pid)
	}
	h.clock.Add(2 * time.Hour)
	h.sim.ResetRequests()
	start := h.clock.Now()
	ticks(t, h, 40) // 10 minutes
	sum := func(ids []int64) (total, least int) {
		least = 1 << 30
		for _, pid := range ids {
			n := lists(h, pid)
			total += n
			least = min(least, n)
		}
		return total, least
	}
	quietPolls, quietLeast := sum(quiet)
	coldPolls, coldLeast := sum(cold)
	if quietPolls <= coldPolls {
		t.Errorf("quiet projects polled %d times, cold ones %d: the cold ones should yield", quietPolls, coldPolls)
	}
	if coldLeast < 2 || quietLeast < 4 {
		t.Errorf("least polled: cold %d, quiet %d in 10 minutes; every project must stay in the rotation", coldLeast, quietLeast)
	}
	if perMin := float64(len(h.sim.Requests())) / h.clock.Now().Sub(start).Minutes(); perMin > 22 {
		t.Errorf("%.1f requests a minute, want about 20 (half of 40)", perMin)
	}
	t.Logf("10 minutes: quiet %d polls (least %d), cold %d (least %d), %d requests", quietPolls, quietLeast, coldPolls, coldLeast, len(h.sim.Requests()))
}

func TestSignalTargets(t *testing.T) {
	sub := func(pid int64, path, group string) projectSub {
		return projectSub{sub: state.Subscription{ProjectID: pid, Project: path, Group: group}, path: path}
	}
	subsBy := map[int64][]projectSub{
		1: {sub(1, "acme/api", "acme"), sub(1, "acme/api", "")},
		2: {sub(2, "acme/platform/db", "acme/platform")}, // inside acme: acme's listing covers it
		3: {sub(3, "acme/platform/web", "acme")},
		4: {sub(4, "tools/a", "")}, // tools holds two subscribed projects: listed
		5: {sub(5, "tools/b", "")},
		6: {sub(6, "alice/dotfiles", "")}, // alone: polling it is as cheap
		7: {sub(7, "Tools/c", "")},
		// Two teams' groups and a namespace under one parent: one listing
		// of the parent, each team's own when GitLab does not list it.
		8:  {sub(8, "corp/red/api", "corp/red")},
		9:  {sub(9, "corp/red/web", "corp/red")},
		10: {sub(10, "corp/blue/api", "corp/blue")},
		11: {sub(11, "corp/ops/one", "")},
		12: {sub(12, "corp/ops/two", "")},
		13: {sub(13, "corp/lab/solo", "")},
		14: {sub(14, "lone/app", "lone")}, // a group of one project: polling it is as cheap
	}
	got := signalTargets(subsBy)
	want := []signalTarget{
		{group: "acme", subgroups: true, projects: []int64{1, 2, 3}},
		{group: "corp", subgroups: true, projects: []int64{8, 9, 10, 11, 12, 13}, children: []signalTarget{
			{group: "corp/ops", projects: []int64{11, 12}},
			{group: "corp/red", subgroups: true, projects: []int64{8, 9}},
		}},
		{group: "tools", projects: []int64{4, 5, 7}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %+v, want %+v", got, want)
	}
}

func TestGroupsSharingAParentAreListedThroughIt(t *testing.T) {
	for _, parentListed := range []bool{true, false} {
		t.Run(fmt.Sprintf("parent listed %v", parentListed), func(t *testing.T) {
			h := newHarness(t, passingJobs)
			h.reconfigure(nil)
			member := map[int64]simulator.AccessLevel{1: simulator.Maintainer}
			if parentListed {
				h.sim.AddGroup(simulator.Group{ID: 90, Path: "corp"})
			}
			for i, team := range []string{"red", "blue"} {
				h.sim.AddGroup(simulator.Group{ID: int64(91 + i), Path: "corp/" + team, Members: member})
				for k := 0; k < 3; k++ {
					pid := int64(300 + 10*i + k)
					h.sim.AddProject(simulator.Project{ID: pid, Path: fmt.Sprintf("corp/%s/app%d", team, k), Jobs: passingJobs})
				}
				h.subscribe(SubscribeRequest{Group: "corp/" + team})
			}
			h.sim.ResetRequests()
			ticks(t, h, 8) // two minutes: a listing every 30 s
			count := func(group string) int {
				n := 0
				for _, r := range h.sim.Requests() {
					if r.Path == "/api/v4/groups/"+group+"/projects" && strings.Contains(r.RawQuery, "order_by=last_activity_at") {
						n++
					}
				}
				return n
			}
			parent, red, blue := count("corp"), count("corp%2Fred"), count("corp%2Fblue")
			want := [3]int{4, 0, 0}
			if !parentListed {
				want = [3]int{1, 4, 4} // refused once, then each team's own
			}
			if got := [3]int{parent, red, blue}; got != want {
				t.Errorf("listings of corp, corp/red, corp/blue: %v, want %v", got, want)
			}
		})
	}
}

func TestAfterARestartQuietProjectsCatchUpWithinTheQuietInterval(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.reconfigure(nil)
	ids := fleet(t, h, 8)
	ticks(t, h, 8)
	// Down for ten minutes; meanwhile three pipelines run and end. The
	// heat is gone with the process; the cursors are in the store.
	h.restart()
	h.reconfigure(nil)
	var missed []int64
	for _, pid := range ids[:3] {
		id := h.sim.CreatePipeline(pid, "main", "api", 1)
		h.sim.Finish(pid, id)
		missed = append(missed, id)
		h.clock.Add(3 * time.Minute)
	}
	ticks(t, h, 5) // 60 s
	for _, id := range missed {
		if _, ok := h.cardFor(id); !ok {
			t.Errorf("pipeline #%d that ran during the downtime has no card a minute after the restart", id)
		}
	}
	if n := len(h.topLevel()); n != len(missed) {
		t.Errorf("%d cards, want %d", n, len(missed))
	}
}
