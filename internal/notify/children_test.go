package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func advanceTo(h *harness, id int64, status string) {
	h.t.Helper()
	for i := 0; h.sim.Advance(projectID, id) != status; i++ {
		if i > 10 {
			h.t.Fatalf("pipeline %d never reached %s", id, status)
		}
	}
}

// childOnCard reports the child's status word as the parent's card shows it.
func childOnCard(h *harness, parent, child int64) string {
	h.t.Helper()
	card, ok := h.cardFor(parent)
	if !ok {
		h.t.Fatalf("parent %d has no card", parent)
	}
	text := blocksText(card.Blocks)
	i := strings.Index(text, "Child pipelines:")
	if i < 0 {
		return ""
	}
	line := text[i:]
	ref := "|#" + idString(child) + ">"
	j := strings.Index(line, ref)
	if j < 0 {
		return ""
	}
	rest := strings.TrimLeft(line[j+len(ref):], " ")
	end := strings.IndexFunc(rest, func(r rune) bool { return r < 'a' || r > 'z' })
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

func TestChildPipelineStatusShowsOnItsParentsCard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool // the parent is then found among the project's cards
		hooks   bool // the child's changes arrive as webhooks, not polls
	}{
		{"polled", false, false},
		{"polled after a restart", true, false},
		{"webhooks", false, true},
		{"webhooks after a restart", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			h.subscribe(SubscribeRequest{On: "running,failed"})
			ctx := context.Background()
			parent := h.sim.CreatePipeline(projectID, "main", "push", 1)
			advanceTo(h, parent, simulator.StatusRunning)
			child := h.sim.CreateChildPipeline(projectID, parent)
			h.clock.Add(time.Second)
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if got := childOnCard(h, parent, child); got != "created" {
				t.Errorf("child on the parent's running card: %q, want created", got)
			}
			if tc.restart {
				h.restart()
			}
			advanceTo(h, child, simulator.StatusRunning)
			var wh *Webhook
			var url string
			if tc.hooks {
				wh, url = h.webhook()
			}
			step := func() {
				t.Helper()
				if tc.hooks {
					d, _ := h.sim.PipelineHook(projectID, child)
					if code := send(t, url, hookSecret, d); code != http.StatusOK {
						t.Fatalf("hook: %d", code)
					}
					if err := wh.Drain(ctx); err != nil {
						t.Fatal(err)
					}
					return
				}
				h.clock.Add(time.Second)
				if err := h.tick(); err != nil {
					t.Fatal(err)
				}
			}
			step()
			if got := childOnCard(h, parent, child); got != "running" {
				t.Errorf("child on the parent's card after it started: %q, want running", got)
			}
			h.sim.Finish(projectID, child)
			step()
			if got := childOnCard(h, parent, child); got != "failed" {
				t.Errorf("child on the parent's card after it failed: %q, want failed", got)
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
