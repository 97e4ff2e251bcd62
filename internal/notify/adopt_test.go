package notify

import (
	"context"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/state"
)

func (h *harness) watch(id int64) {
	h.t.Helper()
	if _, err := h.w.Watch(context.Background(), WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}); err != nil {
		h.t.Fatalf("watch: %v", err)
	}
}

func (h *harness) step() {
	h.t.Helper()
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		h.t.Fatal(err)
	}
}

func TestWatchAndSubscriptionOnOnePipelineShareOneCard(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(h *harness) int64
	}{
		{"subscription card first, then a watch", func(h *harness) int64 {
			h.subscribe(SubscribeRequest{On: "running,failed"})
			id := h.sim.CreatePipeline(projectID, "main", "push", 1)
			advanceTo(h, id, simulator.StatusRunning)
			h.step()
			h.watch(id)
			h.sim.Finish(projectID, id)
			h.step()
			return id
		}},
		{"watch first, then subscription events", func(h *harness) int64 {
			h.subscribe(SubscribeRequest{On: "running,failed"})
			id := h.start()
			advanceTo(h, id, simulator.StatusRunning)
			h.step()
			h.sim.Finish(projectID, id)
			h.step()
			h.step()
			return id
		}},
		{"watch ends in the tick the subscription first sees the pipeline", func(h *harness) int64 {
			h.subscribe(SubscribeRequest{On: "failed"})
			id := h.start()
			h.sim.Finish(projectID, id)
			h.step()
			h.step()
			return id
		}},
		{"watch on an ended pipeline whose subscription card is complete", func(h *harness) int64 {
			h.subscribe(SubscribeRequest{On: "failed"})
			id := h.sim.CreatePipeline(projectID, "main", "push", 1)
			h.sim.Finish(projectID, id)
			h.step()
			h.watch(id)
			h.step()
			return id
		}},
		{"the pipeline is retried after the watch ended", func(h *harness) int64 {
			h.subscribe(SubscribeRequest{On: "running,failed"})
			id := h.start()
			h.sim.Finish(projectID, id)
			h.step()
			if _, err := h.gl.RetryPipeline(context.Background(), "group/app", id); err != nil {
				t.Fatal(err)
			}
			h.step()
			h.sim.Finish(projectID, id)
			h.step()
			return id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			id := tc.run(h)
			card := h.card() // fails unless exactly one top-level message
			if !contains(card.Text, " failed ") {
				t.Errorf("card does not show the end: %s", card.Text)
			}
			want := 1
			if tc.name == "the pipeline is retried after the watch ended" {
				want = 2 // each end gets its reply
			}
			if n := len(h.thread()); n != want {
				t.Errorf("thread replies: %d, want %d", n, want)
			}
			if _, watched, _ := h.store.Watch(state.WatchKey{Channel: testChannel, ProjectID: projectID, PipelineID: id}); watched {
				t.Error("the watch is still open after the end")
			}
		})
	}
}
