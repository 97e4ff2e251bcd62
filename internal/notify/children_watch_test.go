package notify

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func TestWatchCardShowsChildPipelinesAsSubscriptionCardsDo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool // the card's stored status then names the child
		hooks   bool // the child's changes arrive as webhooks, not polls
	}{
		{"polled", false, false},
		{"polled after a restart", true, false},
		{"webhooks", false, true},
		{"webhooks after a restart", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			ctx := context.Background()
			parent := h.start()
			advanceTo(h, parent, simulator.StatusRunning)
			h.clock.Add(time.Second)
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			child := h.sim.CreateChildPipeline(projectID, parent)
			h.clock.Add(time.Second)
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if got := childOnCard(h, parent, child); got != "created" {
				t.Errorf("child on the parent's watch card: %q, want created", got)
			}
			if tc.restart {
				h.restart()
			}
			// Nothing moved (the child is still inside the poll's overlap
			// window): the tick is the project's one poll, no bridges read.
			h.clock.Add(time.Second)
			h.sim.ResetRequests()
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if got := h.sim.Requests(); len(got) != 1 {
				t.Errorf("a quiet tick made %d requests, want the poll only: %+v", len(got), got)
			}

			var wh *Webhook
			var url string
			if tc.hooks {
				wh, url = h.webhook()
			}
			bridges := fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/bridges", projectID, parent)
			step := func() {
				t.Helper()
				h.sim.ResetRequests()
				if tc.hooks {
					d, _ := h.sim.PipelineHook(projectID, child)
					if code := send(t, url, hookSecret, d); code != http.StatusOK {
						t.Fatalf("hook: %d", code)
					}
					if err := wh.Drain(ctx); err != nil {
						t.Fatal(err)
					}
				} else {
					h.clock.Add(time.Second)
					if err := h.tick(); err != nil {
						t.Fatal(err)
					}
				}
				if n := h.sim.CountRequests("GET", bridges); n != 1 {
					t.Errorf("the child's change read the parent's bridges %d times, want once", n)
				}
			}
			advanceTo(h, child, simulator.StatusRunning)
			step()
			if got := childOnCard(h, parent, child); got != "running" {
				t.Errorf("child on the watch card after it started: %q, want running", got)
			}
			h.sim.Finish(projectID, child)
			step()
			if got := childOnCard(h, parent, child); got != "failed" {
				t.Errorf("child on the watch card after it failed: %q, want failed", got)
			}
			if _, ok := h.cardFor(child); ok {
				t.Error("the child pipeline got a card of its own")
			}
			if n := len(h.topLevel()); n != 1 {
				t.Errorf("top-level messages: %d, want the parent's card only", n)
			}
			if n := len(h.thread()); n != 0 {
				t.Errorf("the child's end posted %d replies into the running parent's thread", n)
			}
		})
	}
}

// TestAChildOfAnUnwatchedPipelineIsLookedUpOnce: a child pipeline whose
// parent is not watched costs one bridges read per watched candidate the
// first time it is listed, and nothing on the ticks after.
func TestAChildOfAnUnwatchedPipelineIsLookedUpOnce(t *testing.T) {
	h := newHarness(t, failingJobs)
	watched := h.start()
	other := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	child := h.sim.CreateChildPipeline(projectID, other)
	bridges := fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/bridges", projectID, watched)
	for i, want := range []int{1, 0, 0} {
		h.clock.Add(time.Second)
		if i == 2 {
			advanceTo(h, child, simulator.StatusRunning)
		}
		h.sim.ResetRequests()
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		if n := h.sim.CountRequests("GET", bridges); n != want {
			t.Errorf("tick %d: bridges of the watched pipeline read %d times, want %d: %+v", i, n, want, h.sim.Requests())
		}
	}
	if got := childOnCard(h, watched, child); got != "" {
		t.Errorf("another pipeline's child shows on the watch card: %q", got)
	}
}
