package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func jobNamed(h *harness, pipelineID int64, name string) int64 {
	h.t.Helper()
	for _, j := range h.sim.Jobs(projectID, pipelineID) {
		if j.Name == name && !j.Retried {
			return j.ID
		}
	}
	h.t.Fatalf("pipeline %d has no job %s", pipelineID, name)
	return 0
}

func jobHook(h *harness, jobID int64) simulator.Delivery {
	h.t.Helper()
	d, ok := h.sim.JobHook(projectID, jobID)
	if !ok {
		h.t.Fatalf("no job hook for job %d", jobID)
	}
	return d
}

func TestJobHookFeedsItsPipelineReadFromGitLab(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "running,failed"})
	wh, url := h.webhook()
	ctx := context.Background()
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	for i := 0; h.sim.Advance(projectID, id) != simulator.StatusRunning; i++ {
		if i > 10 {
			t.Fatal("pipeline never ran")
		}
	}

	// The payload is GitLab's Job Hook shape, not a Pipeline Hook's.
	d := jobHook(h, jobNamed(h, id, "compile"))
	var shape map[string]any
	if err := json.Unmarshal(d.Body, &shape); err != nil {
		t.Fatal(err)
	}
	if shape["object_kind"] != "build" || shape["pipeline_id"] != float64(id) || shape["build_status"] != "running" || shape["object_attributes"] != nil {
		t.Fatalf("job hook shape: %s", d.Body)
	}

	// A running job's hook brings the card: the pipeline is read from GitLab.
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("job hook: %d", code)
	}
	if err := wh.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	card, ok := h.cardFor(id)
	if !ok || !contains(card.Text, " running ") {
		t.Fatalf("no running card after a job hook: %+v", h.topLevel())
	}

	// The failed job's hook ends the card and posts into its thread.
	h.sim.Finish(projectID, id)
	failed := jobHook(h, jobNamed(h, id, "rspec"))
	if code := send(t, url, hookSecret, failed); code != http.StatusOK {
		t.Fatalf("job hook: %d", code)
	}
	if err := wh.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if card := h.card(); !contains(card.Text, " failed ") {
		t.Errorf("card not updated to failed: %s", card.Text)
	}
	if n := len(h.thread()); n != 1 {
		t.Errorf("thread replies: %d, want 1", n)
	}

	// More job hooks of the ended pipeline (redelivered, or another job of
	// the same state) change nothing.
	calls := len(h.fake.Calls())
	for _, d := range []simulator.Delivery{failed, jobHook(h, jobNamed(h, id, "lint"))} {
		if code := send(t, url, hookSecret, d); code != http.StatusOK {
			t.Fatalf("job hook: %d", code)
		}
	}
	if err := wh.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Calls()); n != calls {
		t.Errorf("job hooks of an unchanged pipeline called Slack %d times", n-calls)
	}
}

func TestJobHookIntakeRejectsOrIgnoresWhatItCannotUse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		body  string
		code  int
	}{
		{"wrong token", "nope", `{"object_kind":"build","build_id":1,"pipeline_id":1,"project_id":7}`, http.StatusUnauthorized},
		{"no pipeline id", hookSecret, `{"object_kind":"build","build_id":1,"project_id":7}`, http.StatusBadRequest},
		{"no project id", hookSecret, `{"object_kind":"build","build_id":1,"pipeline_id":1}`, http.StatusBadRequest},
		{"not json", hookSecret, `{"object_kind":`, http.StatusBadRequest},
		// Accepted, but GitLab does not show pipebot the project: nothing is posted.
		{"invisible project", hookSecret, `{"object_kind":"build","build_id":1,"pipeline_id":1,"project_id":999}`, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			h.subscribe(SubscribeRequest{On: "running,failed,success"})
			wh, url := h.webhook()
			calls := len(h.fake.Calls())
			d := simulator.Delivery{Event: "Job Hook", UUID: "u-" + tc.name, IdempotencyKey: "k-" + tc.name, Body: []byte(tc.body)}
			if code := send(t, url, tc.token, d); code != tc.code {
				t.Errorf("HTTP %d, want %d", code, tc.code)
			}
			_ = wh.Drain(context.Background())
			if n := len(h.fake.Calls()) - calls; n != 0 {
				t.Errorf("Slack was called %d times", n)
			}
		})
	}
}
