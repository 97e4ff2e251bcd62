package gitlab

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestStatusFinishedAndActive(t *testing.T) {
	tests := []struct {
		status           Status
		finished, active bool
	}{
		{StatusCreated, false, true},
		{StatusWaitingForResource, false, true},
		{StatusPreparing, false, true},
		{StatusPending, false, true},
		{StatusRunning, false, true},
		{StatusCanceling, false, true},
		{StatusSuccess, true, false},
		{StatusFailed, true, false},
		{StatusCanceled, true, false},
		{StatusSkipped, true, false},
		{StatusManual, false, false},
		{StatusScheduled, false, false},
		{Status("unknown"), false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := tt.status.Finished(); got != tt.finished {
				t.Errorf("Finished() = %v, want %v", got, tt.finished)
			}
			if got := tt.status.Active(); got != tt.active {
				t.Errorf("Active() = %v, want %v", got, tt.active)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestPipelineFixturesDecode(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/21/pipelines/287":           {reply(200, fixture(t, "pipeline_get.json"))},
		"POST /api/v4/projects/1/pipelines/46/cancel":     {reply(200, fixture(t, "pipeline_cancel.json"))},
		"GET /api/v4/projects/test-group%2Fapp/pipelines": {reply(200, fixture(t, "pipelines_list.json"))},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()

	t.Run("get carries user, durations and detailed status", func(t *testing.T) {
		p, err := c.Pipeline(ctx, "21", 287)
		if err != nil {
			t.Fatal(err)
		}
		want := Pipeline{
			ID: 287, IID: 144, ProjectID: 21, Status: StatusSuccess, Source: "push", Ref: "main",
			SHA: "50f0acb76a40e34a4ff304f7347dcc6587da8a14", Name: "Build pipeline",
			WebURL:         "http://127.0.0.1:3000/test-group/test-project/-/pipelines/287",
			User:           User{ID: 1, Username: "root", Name: "Administrator", State: "active", WebURL: "http://127.0.0.1:3000/root"},
			CreatedAt:      mustTime(t, "2022-09-21T01:05:07.200Z"),
			UpdatedAt:      mustTime(t, "2022-09-21T01:05:50.185Z"),
			Duration:       34 * time.Second,
			QueuedDuration: 6 * time.Second,
			DetailedStatus: "passed",
		}
		started, finished := mustTime(t, "2022-09-21T01:05:14.197Z"), mustTime(t, "2022-09-21T01:05:50.175Z")
		if p.StartedAt == nil || !p.StartedAt.Equal(started) || p.FinishedAt == nil || !p.FinishedAt.Equal(finished) {
			t.Errorf("started/finished = %v/%v, want %v/%v", p.StartedAt, p.FinishedAt, started, finished)
		}
		p.StartedAt, p.FinishedAt = nil, nil
		if p != want {
			t.Errorf("pipeline\n got %+v\nwant %+v", p, want)
		}
	})

	t.Run("cancel decodes float queued_duration and null duration", func(t *testing.T) {
		p, err := c.CancelPipeline(ctx, "1", 46)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != StatusCanceled || p.Duration != 0 || p.QueuedDuration != 10*time.Millisecond || p.StartedAt != nil || p.FinishedAt == nil {
			t.Errorf("got status %q duration %v queued %v started %v finished %v", p.Status, p.Duration, p.QueuedDuration, p.StartedAt, p.FinishedAt)
		}
	})

	t.Run("list decodes every pipeline", func(t *testing.T) {
		ps, err := c.Pipelines(ctx, "test-group/app", ListPipelinesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps[0].ID != 47 || ps[1].ID != 48 || ps[1].Source != "web" || ps[0].Status != StatusPending || ps[0].IID != 12 {
			t.Errorf("got %+v", ps)
		}
		if !ps[0].UpdatedAt.Equal(mustTime(t, "2016-08-11T11:32:35.169Z")) {
			t.Errorf("updated_at = %v", ps[0].UpdatedAt)
		}
	})
}

func TestJobFixturesDecode(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/1/pipelines/6/jobs": {reply(200, fixture(t, "pipeline_jobs.json"))},
		"GET /api/v4/projects/1/jobs/8":           {reply(200, fixture(t, "job_get.json"))},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()

	jobs, err := c.PipelineJobs(ctx, "1", 6, ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("got %d jobs, want 2", len(jobs))
	}
	tests := []struct {
		name          string
		got           Job
		id            int64
		jobName       string
		reason        string
		duration      time.Duration
		hasArtifacts  bool
		artifactsSize int64
	}{
		{"job without artifacts", jobs[0], 6, "rspec:other", "stuck_or_timeout_failure", 192 * time.Millisecond, false, 0},
		{"job with an archive artifact", jobs[1], 7, "teaspoon", "script_failure", 173 * time.Millisecond, true, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.got
			if j.ID != tt.id || j.Name != tt.jobName || j.FailureReason != tt.reason || j.Duration != tt.duration ||
				j.HasArtifacts != tt.hasArtifacts || j.ArtifactsSize != tt.artifactsSize {
				t.Errorf("got %+v", j)
			}
			if j.Stage != "test" || j.Status != StatusFailed || j.Ref != "main" || j.PipelineID != 6 || j.User.Username != "root" {
				t.Errorf("common fields wrong: %+v", j)
			}
			if j.ArtifactsExpireAt == nil || j.StartedAt == nil || j.FinishedAt == nil || j.CreatedAt.IsZero() {
				t.Errorf("timestamps missing: %+v", j)
			}
		})
	}

	t.Run("single job", func(t *testing.T) {
		j, err := c.Job(ctx, "1", 8)
		if err != nil {
			t.Fatal(err)
		}
		if j.ID != 8 || j.Name != "rubocop" || j.ErasedAt != nil || j.HasArtifacts || j.Duration != 465*time.Millisecond || j.WebURL != "https://example.com/foo/bar/-/jobs/8" {
			t.Errorf("got %+v", j)
		}
	})
}
