package simulator

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func (f *fixture) lastActivity(t *testing.T, token string) string {
	t.Helper()
	var p struct {
		LastActivityAt string `json:"last_activity_at"`
	}
	f.do(t, "GET", fmt.Sprintf("/projects/%d", projectID), token, nil).json(t, &p)
	return p.LastActivityAt
}

func TestLastActivityAtMovesOnEventsAtMostOncePerHour(t *testing.T) {
	f := newFixture(t)
	created := f.clock.Now()
	at := func(d time.Duration) string { return ts(created.Add(d)) }
	steps := []struct {
		name  string
		after time.Duration // since the project was created
		act   func()
		want  string
	}{
		{"a new project's activity is its creation", 0, func() {}, at(0)},
		{"a push within the hour after creation does not move it", 10 * time.Minute,
			func() { f.sim.CreatePipeline(projectID, "main", "push", 1) }, at(0)},
		{"the first push after an hour moves it", 61 * time.Minute,
			func() { f.sim.CreatePipeline(projectID, "main", "push", 1) }, at(61 * time.Minute)},
		{"a merge request pipeline within that hour does not", 90 * time.Minute,
			func() { f.sim.CreatePipeline(projectID, "main", "merge_request_event", 1) }, at(61 * time.Minute)},
		{"an API pipeline records no event", 3 * time.Hour, func() {
			if r := f.do(t, "POST", fmt.Sprintf("/projects/%d/pipeline?ref=main", projectID), aliceToken, nil); r.status != http.StatusCreated {
				t.Fatalf("create pipeline: %d %s", r.status, r.body)
			}
		}, at(61 * time.Minute)},
		{"a scheduled pipeline records no event", 3*time.Hour + time.Minute,
			func() { f.sim.CreatePipeline(projectID, "main", "schedule", 1) }, at(61 * time.Minute)},
		{"any other event after an hour moves it", 3*time.Hour + 2*time.Minute,
			func() { f.sim.RecordEvent(projectID) }, at(3*time.Hour + 2*time.Minute)},
	}
	for _, st := range steps {
		f.clock.t = created.Add(st.after)
		st.act()
		if got := f.lastActivity(t, aliceToken); got != st.want {
			t.Errorf("%s: last_activity_at = %s, want %s", st.name, got, st.want)
		}
	}
	if got := ts(f.sim.LastActivityAt(projectID)); got != at(3*time.Hour+2*time.Minute) {
		t.Errorf("LastActivityAt = %s", got)
	}
}

func TestGroupProjectsOrderByLastActivity(t *testing.T) {
	f := newFixture(t)
	f.sim.AddGroup(Group{ID: 70, Path: "group"})
	members := map[int64]AccessLevel{1: Maintainer}
	f.clock.Add(time.Minute)
	f.sim.AddProject(Project{ID: 8, Path: "group/b", Members: members, Jobs: []JobSpec{{Name: "t"}}})
	f.clock.Add(time.Minute)
	f.sim.AddProject(Project{ID: 9, Path: "group/c", Members: members, Jobs: []JobSpec{{Name: "t"}}})
	f.clock.Add(2 * time.Hour)
	f.sim.CreatePipeline(8, "main", "push", 1) // 8 is now the most recently active

	list := func(query string) (string, int) {
		var ps []struct {
			ID             int64  `json:"id"`
			LastActivityAt string `json:"last_activity_at"`
		}
		r := f.do(t, "GET", "/groups/group/projects?include_subgroups=true&"+query, aliceToken, nil)
		if r.status != http.StatusOK {
			return string(r.body), r.status
		}
		r.json(t, &ps)
		var ids []int64
		for _, p := range ps {
			if p.LastActivityAt == "" {
				t.Errorf("project %d lists no last_activity_at", p.ID)
			}
			ids = append(ids, p.ID)
		}
		return fmt.Sprint(ids), r.status
	}
	for _, tc := range []struct{ query, want string }{
		{"order_by=last_activity_at&sort=desc", "[8 9 7]"},
		{"order_by=last_activity_at&sort=asc", "[7 9 8]"},
		{"order_by=last_activity_at", "[8 9 7]"}, // sort defaults to desc
		{"", "[9 8 7]"},                          // created_at desc is GitLab's default
		{"order_by=id&sort=asc", "[7 8 9]"},
		{"order_by=last_activity_at&sort=desc&per_page=1&page=2", "[9]"},
	} {
		if got, status := list(tc.query); got != tc.want {
			t.Errorf("?%s = %s (%d), want %s", tc.query, got, status, tc.want)
		}
	}
	for _, bad := range []string{"order_by=stars", "order_by=id&sort=up"} {
		if body, status := list(bad); status != http.StatusBadRequest {
			t.Errorf("?%s = %d %s, want 400", bad, status, body)
		}
	}
}
