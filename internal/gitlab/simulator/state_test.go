package simulator

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestAdvanceWalksStagesInOrder(t *testing.T) {
	f := newFixture(t)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	if got := f.pipeline(t, id).Status; got != StatusCreated {
		t.Fatalf("new pipeline status = %q, want created", got)
	}
	steps := []struct {
		pipeline string
		jobs     map[string]string
	}{
		{StatusPending, map[string]string{"build": "pending", "test": "created", "deploy": "created"}},
		{StatusRunning, map[string]string{"build": "running", "test": "created", "deploy": "created"}},
		{StatusRunning, map[string]string{"build": "success", "test": "pending", "deploy": "created"}},
		{StatusRunning, map[string]string{"build": "success", "test": "running", "deploy": "created"}},
		{StatusRunning, map[string]string{"build": "success", "test": "success", "deploy": "pending"}},
		{StatusRunning, map[string]string{"build": "success", "test": "success", "deploy": "running"}},
		{StatusSuccess, map[string]string{"build": "success", "test": "success", "deploy": "success"}},
		{StatusSuccess, map[string]string{"build": "success", "test": "success", "deploy": "success"}},
	}
	last := f.pipeline(t, id).UpdatedAt
	for i, st := range steps {
		f.clock.Add(time.Second)
		if got := f.sim.Advance(projectID, id); got != st.pipeline {
			t.Fatalf("step %d: status = %q, want %q", i, got, st.pipeline)
		}
		info := f.pipeline(t, id)
		if got := jobStatuses(info); !reflect.DeepEqual(got, st.jobs) {
			t.Fatalf("step %d: jobs = %v, want %v", i, got, st.jobs)
		}
		moved := i < len(steps)-1
		if moved != info.UpdatedAt.After(last) {
			t.Fatalf("step %d: updated_at %v after %v = %v, want %v", i, info.UpdatedAt, last, !moved, moved)
		}
		last = info.UpdatedAt
	}
}

func TestFinishRestsLikeGitLab(t *testing.T) {
	tests := []struct {
		name     string
		jobs     []JobSpec
		want     string
		wantJobs map[string]string
		reason   string
	}{
		{
			name: "all jobs pass",
			jobs: []JobSpec{{Name: "a", Stage: "build"}, {Name: "b", Stage: "test"}},
			want: StatusSuccess, wantJobs: map[string]string{"a": "success", "b": "success"},
		},
		{
			name: "failed stage skips later stages",
			jobs: []JobSpec{
				{Name: "a", Stage: "build"}, {Name: "b", Stage: "test", Fail: true},
				{Name: "c", Stage: "test"}, {Name: "d", Stage: "deploy"}, {Name: "e", Stage: "deploy", When: "manual"},
			},
			want:     StatusFailed,
			wantJobs: map[string]string{"a": "success", "b": "failed", "c": "success", "d": "skipped", "e": "skipped"},
			reason:   "script_failure",
		},
		{
			name:     "failure reason from spec",
			jobs:     []JobSpec{{Name: "a", Stage: "build", Fail: true, FailureReason: "stuck_or_timeout_failure"}},
			want:     StatusFailed,
			wantJobs: map[string]string{"a": "failed"},
			reason:   "stuck_or_timeout_failure",
		},
		{
			name:     "allowed failure passes and later stages run",
			jobs:     []JobSpec{{Name: "a", Stage: "build", Fail: true, AllowFailure: true}, {Name: "b", Stage: "test"}},
			want:     StatusSuccess,
			wantJobs: map[string]string{"a": "failed", "b": "success"},
			reason:   "script_failure",
		},
		{
			name: "blocking manual job holds the pipeline and later stages",
			jobs: []JobSpec{
				{Name: "a", Stage: "build"}, {Name: "deploy", Stage: "deploy", When: "manual"}, {Name: "notify", Stage: "post"},
			},
			want:     StatusManual,
			wantJobs: map[string]string{"a": "success", "deploy": "manual", "notify": "created"},
		},
		{
			name:     "optional manual job does not block",
			jobs:     []JobSpec{{Name: "a", Stage: "build"}, {Name: "deploy", Stage: "deploy", When: "manual", AllowFailure: true}},
			want:     StatusSuccess,
			wantJobs: map[string]string{"a": "success", "deploy": "manual"},
		},
		{
			name:     "flaky job fails its first attempt in an odd pipeline",
			jobs:     []JobSpec{{Name: "a", Stage: "test", Flaky: true}},
			want:     StatusFailed,
			wantJobs: map[string]string{"a": "failed"},
			reason:   "script_failure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.jobs...)
			id := f.sim.CreatePipeline(projectID, "main", "push", 1)
			if got := f.sim.Finish(projectID, id); got != tt.want {
				t.Fatalf("Finish = %q, want %q", got, tt.want)
			}
			info := f.pipeline(t, id)
			if got := jobStatuses(info); !reflect.DeepEqual(got, tt.wantJobs) {
				t.Fatalf("jobs = %v, want %v", got, tt.wantJobs)
			}
			for _, j := range info.Jobs {
				if j.Status == StatusFailed && j.FailureReason != tt.reason {
					t.Fatalf("failure_reason = %q, want %q", j.FailureReason, tt.reason)
				}
				if j.Status != StatusFailed && j.FailureReason != "" {
					t.Fatalf("job %s (%s) has failure_reason %q", j.Name, j.Status, j.FailureReason)
				}
			}
		})
	}
}

func TestPlayUnblocksManualPipeline(t *testing.T) {
	f := newFixture(t, JobSpec{Name: "build", Stage: "build"}, JobSpec{Name: "deploy", Stage: "deploy", When: "manual"}, JobSpec{Name: "notify", Stage: "post"})
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, id)
	deploy := jobID(t, f.pipeline(t, id), "deploy")

	r := f.do(t, http.MethodPost, fmt.Sprintf("/projects/%d/jobs/%d/play", projectID, deploy), bobToken, nil)
	wantMessage(t, r, http.StatusForbidden, "403 Forbidden")

	build := jobID(t, f.pipeline(t, id), "build")
	r = f.do(t, http.MethodPost, fmt.Sprintf("/projects/%d/jobs/%d/play", projectID, build), devToken, nil)
	wantMessage(t, r, http.StatusBadRequest, "400 Bad request - Unplayable Job")

	r = f.do(t, http.MethodPost, fmt.Sprintf("/projects/%d/jobs/%d/play", projectID, deploy), devToken,
		map[string]any{"job_variables_attributes": []map[string]string{{"key": "ZONE", "value": "us-west1"}}})
	if r.status != http.StatusOK {
		t.Fatalf("play status = %d: %s", r.status, r.body)
	}
	job := r.object(t)
	if job["status"] != "pending" || job["user"].(map[string]any)["username"] != "devon" {
		t.Fatalf("played job = status %v user %v", job["status"], job["user"])
	}
	if got := f.pipeline(t, id).Status; got != StatusRunning {
		t.Fatalf("pipeline after play = %q, want running", got)
	}
	if got := f.sim.Finish(projectID, id); got != StatusSuccess {
		t.Fatalf("Finish after play = %q, want success", got)
	}
	if got := jobStatuses(f.pipeline(t, id))["notify"]; got != StatusSuccess {
		t.Fatalf("stage after manual job = %q, want success", got)
	}
}

func TestRetryPipelineRerunsFailedJobs(t *testing.T) {
	f := newFixture(t, JobSpec{Name: "build", Stage: "build"}, JobSpec{Name: "test", Stage: "test", Flaky: true}, JobSpec{Name: "deploy", Stage: "deploy"})
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	if got := f.sim.Finish(projectID, id); got != StatusFailed {
		t.Fatalf("first run = %q, want failed", got)
	}
	before := f.pipeline(t, id)
	oldTest := jobID(t, before, "test")

	f.clock.Add(time.Minute)
	r := f.do(t, http.MethodPost, fmt.Sprintf("/projects/%s/pipelines/%d/retry", encPath, id), devToken, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("retry status = %d: %s", r.status, r.body)
	}
	body := r.object(t)
	if body["status"] != StatusRunning || body["finished_at"] != nil {
		t.Fatalf("retried pipeline status %v finished_at %v, want running and null", body["status"], body["finished_at"])
	}
	after := f.pipeline(t, id)
	if newTest := jobID(t, after, "test"); newTest == oldTest {
		t.Fatalf("retry kept job id %d", oldTest)
	}
	if got, want := jobStatuses(after), map[string]string{"build": "success", "test": "pending", "deploy": "created"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("jobs after retry = %v, want %v", got, want)
	}
	all := f.sim.Jobs(projectID, id)
	var retried int
	for _, j := range all {
		if j.Retried {
			retried++
			if j.ID != oldTest || j.Status != StatusFailed {
				t.Fatalf("retried job = %+v, want the old failed test job %d", j, oldTest)
			}
		}
	}
	if retried != 1 || len(all) != 4 {
		t.Fatalf("jobs = %+v, want 4 with one retried", all)
	}
	if got := f.sim.Finish(projectID, id); got != StatusSuccess {
		t.Fatalf("after retry = %q, want success", got)
	}
	r = f.do(t, http.MethodGet, fmt.Sprintf("/projects/%d/pipelines/%d/jobs?include_retried=true", projectID, id), aliceToken, nil)
	var jobs []map[string]any
	r.json(t, &jobs)
	if len(jobs) != 4 {
		t.Fatalf("include_retried lists %d jobs, want 4", len(jobs))
	}
	r = f.do(t, http.MethodGet, fmt.Sprintf("/projects/%d/pipelines/%d/jobs", projectID, id), aliceToken, nil)
	r.json(t, &jobs)
	if len(jobs) != 3 {
		t.Fatalf("default lists %d jobs, want 3", len(jobs))
	}
}

func TestCancelPipeline(t *testing.T) {
	f := newFixture(t)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Advance(projectID, id)
	f.sim.Advance(projectID, id)
	r := f.do(t, http.MethodPost, fmt.Sprintf("/projects/%d/pipelines/%d/cancel", projectID, id), devToken, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("cancel status = %d: %s", r.status, r.body)
	}
	body := r.object(t)
	if body["status"] != StatusCanceled || body["finished_at"] == nil {
		t.Fatalf("canceled pipeline = status %v finished_at %v", body["status"], body["finished_at"])
	}
	want := map[string]string{"build": "canceled", "test": "canceled", "deploy": "canceled"}
	if got := jobStatuses(f.pipeline(t, id)); !reflect.DeepEqual(got, want) {
		t.Fatalf("jobs = %v, want %v", got, want)
	}
	if got := f.sim.Advance(projectID, id); got != StatusCanceled {
		t.Fatalf("Advance after cancel = %q, want canceled", got)
	}
	r = f.do(t, http.MethodPost, fmt.Sprintf("/projects/%d/pipelines/%d/cancel", projectID, id), bobToken, nil)
	wantMessage(t, r, http.StatusForbidden, "403 Forbidden")
}

func TestSetJobStatusRecomputesPipeline(t *testing.T) {
	tests := []struct {
		name     string
		status   string
		reason   string
		want     string
		wantJobs map[string]string
	}{
		{"failed build skips the rest", StatusFailed, "runner_system_failure", StatusFailed,
			map[string]string{"build": "failed", "test": "skipped", "deploy": "skipped"}},
		{"successful build enqueues tests", StatusSuccess, "", StatusRunning,
			map[string]string{"build": "success", "test": "pending", "deploy": "created"}},
		{"canceling build", StatusCanceling, "", StatusCanceling,
			map[string]string{"build": "canceling", "test": "created", "deploy": "created"}},
		{"waiting for resource", StatusWaitingForResource, "", StatusWaitingForResource,
			map[string]string{"build": "waiting_for_resource", "test": "created", "deploy": "created"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.sim.CreatePipeline(projectID, "main", "push", 1)
			f.sim.Advance(projectID, id)
			build := jobID(t, f.pipeline(t, id), "build")
			f.sim.SetJobStatus(projectID, build, tt.status, tt.reason)
			info := f.pipeline(t, id)
			if info.Status != tt.want {
				t.Fatalf("pipeline = %q, want %q", info.Status, tt.want)
			}
			if got := jobStatuses(info); !reflect.DeepEqual(got, tt.wantJobs) {
				t.Fatalf("jobs = %v, want %v", got, tt.wantJobs)
			}
			if tt.reason != "" && info.Jobs[0].FailureReason != tt.reason {
				t.Fatalf("failure_reason = %q, want %q", info.Jobs[0].FailureReason, tt.reason)
			}
		})
	}
}

func TestPipelineTimestampsAndDuration(t *testing.T) {
	f := newFixture(t, JobSpec{Name: "a", Stage: "build"})
	created := f.clock.Now()
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.clock.Add(2 * time.Second)
	f.sim.Advance(projectID, id) // pending
	f.clock.Add(3 * time.Second)
	f.sim.Advance(projectID, id) // running
	f.clock.Add(40 * time.Second)
	f.sim.Advance(projectID, id) // success

	r := f.do(t, http.MethodGet, fmt.Sprintf("/projects/%d/pipelines/%d", projectID, id), aliceToken, nil)
	p := r.object(t)
	want := map[string]any{
		"created_at":      created.Format(timeLayout),
		"started_at":      created.Add(5 * time.Second).Format(timeLayout),
		"finished_at":     created.Add(45 * time.Second).Format(timeLayout),
		"updated_at":      created.Add(45 * time.Second).Format(timeLayout),
		"duration":        40.0,
		"queued_duration": 5.0,
		"status":          "success",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	r = f.do(t, http.MethodGet, fmt.Sprintf("/projects/%d/jobs/%d", projectID, jobID(t, f.pipeline(t, id), "a")), aliceToken, nil)
	j := r.object(t)
	if j["duration"] != 40.0 || j["queued_duration"] != 3.0 {
		t.Errorf("job duration %v queued %v, want 40 and 3", j["duration"], j["queued_duration"])
	}
}
