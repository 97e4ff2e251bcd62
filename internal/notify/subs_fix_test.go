package notify

import (
	"strings"
	"testing"
	"time"
)

func TestSubscriptionCardShowsTheFailedJobsLastLogLines(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	for _, j := range h.sim.Jobs(projectID, id) {
		if j.Status == "failed" {
			h.sim.SetJobLog(projectID, j.ID, "Running specs\nexpected 200, got 500 SENTINEL-TAIL\n")
		}
	}
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	card := h.card()
	if !strings.Contains(blocksText(card.Blocks), "SENTINEL-TAIL") {
		t.Errorf("subscription card of a failed pipeline lacks its failed job's log tail: %s", card.Blocks)
	}
}
