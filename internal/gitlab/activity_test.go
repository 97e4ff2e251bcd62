package gitlab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// activityRig is a simulator with a settable clock and 250 projects in
// group acme, each created one minute after the previous one.
func activityRig(t *testing.T) (*simulator.Server, *gitlab.Client, *time.Time) {
	t.Helper()
	sim, now := acmeSim(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	for i := 1; i <= 250; i++ {
		sim.AddProject(simulator.Project{ID: int64(i), Path: fmt.Sprintf("acme/team%d/app%d", i%3, i), Jobs: []simulator.JobSpec{{Name: "t"}}})
		*now = now.Add(time.Minute)
	}
	return sim, serveSim(t, sim, "glpat-test"), now
}

func TestGroupActivityReadsPagesOnlyBackToSince(t *testing.T) {
	sim, gl, now := activityRig(t)
	ctx := context.Background()

	all, err := gl.GroupActivity(ctx, "acme", true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || all[0].ID != 250 || all[249].ID != 1 || all[0].Path != "acme/team1/app250" {
		t.Fatalf("zero since: %d projects, first %+v", len(all), all[0])
	}
	if lists := sim.CountRequests("GET", "/api/v4/groups/acme/projects"); lists != 3 {
		t.Errorf("a full listing of 250 projects took %d requests, want 3 pages of 100", lists)
	}
	for _, r := range sim.Requests() {
		if !strings.Contains(r.RawQuery, "order_by=last_activity_at") || !strings.Contains(r.RawQuery, "sort=desc") ||
			!strings.Contains(r.RawQuery, "include_subgroups=true") || !strings.Contains(r.RawQuery, "per_page=100") {
			t.Errorf("query %s", r.RawQuery)
		}
	}

	// Two hours on, pushes in projects 3 and 7 move their activity.
	*now = now.Add(2 * time.Hour)
	cursor := all[0].LastActivityAt
	sim.CreatePipeline(3, "main", "push", 1)
	sim.CreatePipeline(7, "main", "push", 1)
	sim.ResetRequests()
	got, err := gl.GroupActivity(ctx, "acme", true, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(sim.Requests()) != 1 {
		t.Errorf("an incremental listing took %d requests, want 1", len(sim.Requests()))
	}
	if got[0].ID != 7 || got[1].ID != 3 || !got[0].LastActivityAt.Equal(*now) {
		t.Errorf("most recent first: %+v %+v", got[0], got[1])
	}

	// More moved projects than a page: the listing follows the next page
	// and stops at the first one that reaches back past the cursor.
	*now = now.Add(2 * time.Hour)
	cursor = *now
	for id := int64(1); id <= 150; id++ {
		sim.RecordEvent(id)
	}
	sim.ResetRequests()
	if got, err = gl.GroupActivity(ctx, "acme", true, cursor); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Requests()); n != 2 || len(got) != 200 {
		t.Errorf("150 moved projects: %d requests, %d listed, want 2 pages (200)", n, len(got))
	}
}
