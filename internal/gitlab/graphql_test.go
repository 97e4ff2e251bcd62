package gitlab_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// updatesRig is a simulator with 70 projects the token's user reads
// (ids 1-70) and one it does not (71), at a settable clock.
func updatesRig(t *testing.T) (*simulator.Server, *gitlab.Client, *time.Time) {
	t.Helper()
	sim, now := acmeSim(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	for i := 1; i <= 70; i++ {
		sim.AddProject(simulator.Project{ID: int64(i), Path: fmt.Sprintf("acme/app%d", i), Jobs: []simulator.JobSpec{{Name: "t"}}})
	}
	sim.AddProject(simulator.Project{ID: 71, Path: "secret/app", Jobs: []simulator.JobSpec{{Name: "t"}}})
	return sim, serveSim(t, sim, "glpat-test"), now
}

func TestUpdatedPipelinesReportsTheProjectsThatChanged(t *testing.T) {
	sim, gl, now := updatesRig(t)
	ctx := context.Background()
	old := sim.CreatePipeline(5, "main", "push", 1)
	sim.Finish(5, old)
	*now = now.Add(time.Minute)
	since := *now
	api := sim.CreatePipeline(12, "main", "api", 1) // exactly at since: GitLab's updatedAfter is inclusive
	*now = now.Add(10 * time.Second)
	sched := sim.CreatePipeline(64, "main", "schedule", 1)
	sim.Advance(64, sched)
	older := sim.CreatePipeline(40, "main", "push", 1)
	newer := sim.CreatePipeline(40, "main", "trigger", 1)
	sim.Finish(40, newer)
	sim.Advance(40, older) // the older one moved last, the newer one is still the newest
	sim.CreatePipeline(71, "main", "push", 0)

	var ids []int64
	for i := int64(1); i <= 71; i++ {
		ids = append(ids, i, i) // duplicates are asked once
	}
	got, err := gl.UpdatedPipelines(ctx, ids, since)
	if err != nil {
		t.Fatal(err)
	}
	if n := sim.CountRequests(http.MethodPost, "/api/graphql"); n != 3 {
		t.Errorf("71 projects took %d GraphQL requests, want 3 (batches of %d)", n, gitlab.GraphQLBatch)
	}
	sort.Slice(got, func(i, k int) bool { return got[i].ProjectID < got[k].ProjectID })
	if len(got) != 70 || got[0].ProjectID != 1 || got[69].ProjectID != 70 {
		t.Fatalf("%d projects answered (first %d), want 1-70: 71 is not readable", len(got), got[0].ProjectID)
	}
	changed := map[int64]gitlab.PipelineUpdate{}
	for _, u := range got {
		if u.Latest != nil {
			changed[u.ProjectID] = *u.Latest
		}
	}
	want := map[int64]int64{12: api, 40: newer, 64: sched}
	if len(changed) != len(want) {
		t.Fatalf("changed = %+v, want projects 12, 40 and 64 (5's pipeline ended before since)", changed)
	}
	for pid, id := range want {
		info, _ := sim.Pipeline(pid, id)
		u := changed[pid]
		if u.ID != id || string(u.Status) != info.Status || !u.UpdatedAt.Equal(info.UpdatedAt.Truncate(time.Second)) {
			t.Errorf("project %d: %+v, want pipeline %d %s updated %s", pid, u, id, info.Status, info.UpdatedAt)
		}
	}
	if changed[64].Status != gitlab.StatusPending || changed[40].Status != gitlab.StatusSuccess {
		t.Errorf("statuses %s and %s, want pending and success", changed[64].Status, changed[40].Status)
	}
	for _, r := range sim.Requests() {
		if r.TokenUserID != 1 {
			t.Errorf("request %s %s was not authenticated as the token's user", r.Method, r.Path)
		}
	}
	if none, err := gl.UpdatedPipelines(ctx, nil, since); err != nil || none != nil || sim.CountRequests("", "/api/graphql") != 3 {
		t.Errorf("no projects: %v, %v; want no request", none, err)
	}
}

func TestUpdatedPipelinesErrors(t *testing.T) {
	sim, gl, _ := updatesRig(t)
	ctx := context.Background()
	since := time.Now()
	graphql := func(r *http.Request) bool { return r.URL.Path == "/api/graphql" }

	sim.SetFault(func(r *http.Request) (int, time.Duration, bool) { return http.StatusNotFound, 0, graphql(r) })
	if _, err := gl.UpdatedPipelines(ctx, []int64{1}, since); !errors.Is(err, gitlab.ErrNotFound) {
		t.Errorf("no GraphQL endpoint: %v, want ErrNotFound", err)
	}
	sim.SetFault(nil)

}

func TestUpdatedPipelinesAnswerShapes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		check  func(err error) bool
		want   string
	}{
		{"GraphQL errors in a 200 answer", 200, `{"errors":[{"message":"Field 'pipelines' doesn't accept argument 'updatedAfter'"}]}`,
			func(err error) bool { var a *gitlab.APIError; return errors.As(err, &a) && a.Status == 200 },
			"Field 'pipelines' doesn't accept argument 'updatedAfter'"},
		{"complexity refusal", 200, `{"errors":[{"message":"Query has complexity of 256, which exceeds max complexity of 250"}]}`,
			func(err error) bool { var a *gitlab.APIError; return errors.As(err, &a) },
			"Query has complexity of 256, which exceeds max complexity of 250"},
		{"invalid token", 401, `{"errors":[{"message":"Invalid token"}]}`,
			func(err error) bool { return errors.Is(err, gitlab.ErrUnauthorized) }, "Invalid token"},
		{"no data", 200, `{"data":null}`,
			func(err error) bool { var a *gitlab.APIError; return errors.As(err, &a) }, "without data.projects"},
		{"foreign global id", 200, `{"data":{"projects":{"nodes":[{"id":"gid://gitlab/Group/3","pipelines":{"nodes":[]}}]}}}`,
			func(err error) bool { var a *gitlab.APIError; return errors.As(err, &a) }, `unexpected Project global ID "gid://gitlab/Group/3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/gitlab/api/graphql" || r.Header.Get("PRIVATE-TOKEN") != "glpat-test" {
					t.Errorf("request %s %s (token %q), want POST /gitlab/api/graphql with the token", r.Method, r.URL.Path, r.Header.Get("PRIVATE-TOKEN"))
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			// A relative URL root stays in front of api/graphql.
			gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL + "/gitlab", Token: "glpat-test"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = gl.UpdatedPipelines(context.Background(), []int64{3}, time.Now())
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
