package simulator

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func historyJobs() []JobSpec {
	return []JobSpec{
		{Name: "compile", Stage: "build"},
		{Name: "unit", Stage: "test"},
		{Name: "integration", Stage: "test", Flaky: true},
		{Name: "lint", Stage: "test", AllowFailure: true, Fail: true},
		{Name: "deploy", Stage: "deploy", When: "manual", Only: []string{"main"}},
	}
}

func TestGeneratedHistoryIsDeterministicAndFinished(t *testing.T) {
	gen := func(seed uint64) []HistoryPipeline {
		f := newFixture(t, historyJobs()...)
		ids := f.sim.GenerateHistory(projectID, History{Days: 10, Pipelines: 200, Seed: seed})
		if len(ids) != 200 {
			t.Fatalf("generated %d pipelines, want 200", len(ids))
		}
		return f.sim.HistoryOf(projectID)
	}
	a, b := gen(42), gen(42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed generated different histories")
	}
	if reflect.DeepEqual(a, gen(43)) {
		t.Fatal("another seed generated the same history")
	}
	end := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	statuses := map[string]int{}
	var retriedFlaky, reruns, retriedThenPassed int
	shas := map[string]bool{}
	for i, p := range a {
		statuses[p.Status]++
		if i > 0 && (p.ID <= a[i-1].ID || p.CreatedAt.Before(a[i-1].CreatedAt)) {
			t.Fatalf("pipeline %d: ids and created_at do not grow together", p.ID)
		}
		if p.CreatedAt.Before(end.Add(-10*24*time.Hour)) || !p.CreatedAt.Before(end) {
			t.Fatalf("pipeline %d created at %v, outside the 10 days before %v", p.ID, p.CreatedAt, end)
		}
		if shas[p.SHA] {
			reruns++
		}
		shas[p.SHA] = true
		passedAfterRetry := map[string]bool{}
		for k, j := range p.Jobs {
			switch j.Status {
			case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
			default:
				t.Fatalf("pipeline %d job %s is %s: history must be finished", p.ID, j.Name, j.Status)
			}
			if j.Status == StatusSuccess || j.Status == StatusFailed {
				if j.StartedAt.IsZero() || !j.FinishedAt.After(j.StartedAt) {
					t.Fatalf("pipeline %d job %s has no run time", p.ID, j.Name)
				}
			}
			if j.Retried && j.Name == "integration" {
				retriedFlaky++
			}
			if j.Retried && j.Status == StatusFailed {
				for _, later := range p.Jobs[k+1:] {
					if later.Name == j.Name && later.Status == StatusSuccess {
						passedAfterRetry[j.Name] = true
					}
				}
			}
		}
		retriedThenPassed += len(passedAfterRetry)
		if !p.UpdatedAt.After(p.CreatedAt) {
			t.Errorf("pipeline %d updated_at %v not after created_at %v", p.ID, p.UpdatedAt, p.CreatedAt)
		}
	}
	for _, st := range []string{StatusSuccess, StatusFailed, StatusCanceled} {
		if statuses[st] == 0 {
			t.Errorf("no %s pipeline in %v", st, statuses)
		}
	}
	if statuses[StatusSuccess]+statuses[StatusFailed]+statuses[StatusCanceled]+statuses[StatusSkipped] != len(a) {
		t.Errorf("unfinished pipelines: %v", statuses)
	}
	if retriedFlaky == 0 || retriedThenPassed == 0 || reruns == 0 {
		t.Errorf("retried flaky jobs %d, retries that passed %d, reruns of a commit %d: want some of each", retriedFlaky, retriedThenPassed, reruns)
	}
}

func TestGeneratedHistoryThroughTheAPI(t *testing.T) {
	f := newFixture(t, historyJobs()...)
	ids := f.sim.GenerateHistory(projectID, History{Days: 3, Pipelines: 60, Seed: 7})
	var withRetry int64
	for _, p := range f.sim.HistoryOf(projectID) {
		for _, j := range p.Jobs {
			if j.Retried {
				withRetry = p.ID
			}
		}
	}
	if withRetry == 0 {
		t.Fatal("no pipeline with a retried job")
	}
	var latest, all []struct {
		ID       int64    `json:"id"`
		Name     string   `json:"name"`
		Status   string   `json:"status"`
		Duration *float64 `json:"duration"`
	}
	f.do(t, "GET", fmt.Sprintf("/projects/%d/pipelines/%d/jobs?per_page=100", projectID, withRetry), aliceToken, nil).json(t, &latest)
	f.do(t, "GET", fmt.Sprintf("/projects/%d/pipelines/%d/jobs?per_page=100&include_retried=true", projectID, withRetry), aliceToken, nil).json(t, &all)
	if len(all) <= len(latest) {
		t.Errorf("include_retried lists %d jobs, without it %d: want more with it", len(all), len(latest))
	}
	for _, j := range all {
		if (j.Status == StatusSuccess || j.Status == StatusFailed) && (j.Duration == nil || *j.Duration <= 0) {
			t.Errorf("job %d (%s, %s) has no duration", j.ID, j.Name, j.Status)
		}
	}
	var page []struct {
		ID int64 `json:"id"`
	}
	r := f.do(t, "GET", fmt.Sprintf("/projects/%d/pipelines?per_page=100&created_after=2024-04-30T12:00:00Z", projectID), aliceToken, nil)
	r.json(t, &page)
	if len(page) == 0 || len(page) >= len(ids) {
		t.Errorf("created_after the last day lists %d of %d pipelines", len(page), len(ids))
	}
}
