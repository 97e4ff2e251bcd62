package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/state"
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

// failPosts fails the next n posts as a Slack 5xx or a timeout would,
// posting nothing.
type failPosts struct {
	poster
	n int
}

func (f *failPosts) Post(ctx context.Context, channel string, m Message) (string, error) {
	if f.n > 0 {
		f.n--
		return "", errors.New("slack: 503 service unavailable")
	}
	return f.poster.Post(ctx, channel, m)
}

func TestSlackFailureIsRetriedNotLost(t *testing.T) {
	for _, via := range []string{"poll", "webhook"} {
		t.Run(via, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			h.subscribe(SubscribeRequest{})
			h.setPoster(&failPosts{poster: h.slack, n: 1})
			wh, url := h.webhook()
			id := h.sim.CreatePipeline(projectID, "main", "push", 1)
			h.sim.Finish(projectID, id)
			h.clock.Add(time.Second)
			if via == "poll" {
				if err := h.tick(); err == nil {
					t.Fatal("tick should report Slack's failure")
				}
			} else {
				d, _ := h.sim.PipelineHook(projectID, id)
				if code := send(t, url, hookSecret, d); code != http.StatusOK {
					t.Fatalf("delivery answered %d", code)
				}
				if err := wh.Drain(context.Background()); err == nil {
					t.Fatal("drain should report Slack's failure")
				}
			}
			if n := len(h.topLevel()); n != 0 {
				t.Fatalf("cards after the failed post: %d", n)
			}
			h.clock.Add(time.Second)
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if _, ok := h.cardFor(id); !ok {
				t.Fatal("the failure was lost: no card after Slack recovered")
			}
			if n := len(h.thread()); n != 1 {
				t.Errorf("thread replies: %d, want 1", n)
			}
		})
	}
}

func subLocks(w *Watcher) int {
	n := 0
	w.ss.locks.Range(func(_, _ any) bool { n++; return true })
	return n
}

func TestSubscriptionCardLocksAreDroppedOnceDone(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.subscribe(SubscribeRequest{On: "failed"})
	h.run(projectID, "main") // a success: no card wanted
	setJobs(h, failingJobs)
	id := h.run(projectID, "main") // a failure: a card and its final reply
	if _, ok := h.cardFor(id); !ok {
		t.Fatal("no card for the failure")
	}
	if n := subLocks(h.w); n != 0 {
		t.Errorf("card locks kept after the pipelines ended: %d, want 0", n)
	}
	// A lock left behind by an error is swept by housekeeping.
	h.w.lockSub(state.SubCardKey{Channel: testChannel, ProjectID: projectID, PipelineID: id})()
	h.clock.Add(2 * time.Hour)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := subLocks(h.w); n != 0 {
		t.Errorf("housekeeping kept %d locks of finished cards", n)
	}
}

// results counts the webhook's answers by result.
type results struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *results) observe(_, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[result]++
}

func (r *results) get(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

// webhookObserved is h.webhook with its answers counted; its store is the
// harness's current one, across restarts.
func (h *harness) webhookObserved(r *results) (*Webhook, string) {
	h.t.Helper()
	wh := NewWebhook(WebhookConfig{
		Secret: hookSecret, Watcher: h.w, Logger: zerolog.Nop(), Observe: r.observe,
		Once: func(k string) (bool, error) { return h.store.MarkOnce("gitlab-hook", k, 24*time.Hour) },
		Seen: func(k string) (bool, error) { return h.store.OnceMarked("gitlab-hook", k) },
	})
	srv := httptest.NewServer(wh)
	h.t.Cleanup(srv.Close)
	return wh, srv.URL + "/gitlab/webhook"
}

func TestWebhookDeliveryIsMarkedOnlyOnceProcessed(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	d, _ := h.sim.PipelineHook(projectID, id)
	var r results
	_, url := h.webhookObserved(&r)
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("answered %d", code)
	}
	if code := send(t, url, hookSecret, d); code != http.StatusOK || r.get("duplicate") != 1 {
		t.Fatalf("a concurrent duplicate was not caught in memory: %d %v", code, r.n)
	}
	// Crash before the queue was worked off: the delivery is lost with it.
	h.restart()
	var r2 results
	wh, url := h.webhookObserved(&r2)
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("redelivery answered %d", code)
	}
	if r2.get("queued") != 1 || r2.get("duplicate") != 0 {
		t.Fatalf("GitLab's redelivery after the crash was not taken: %v", r2.n)
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.cardFor(id); !ok {
		t.Fatal("the redelivered pipeline got no card")
	}
	// Processed: a later resend, even after another restart, is a duplicate.
	h.restart()
	var r3 results
	_, url = h.webhookObserved(&r3)
	if code := send(t, url, hookSecret, d); code != http.StatusOK || r3.get("duplicate") != 1 {
		t.Errorf("a processed delivery sent again was not a duplicate: %d %v", code, r3.n)
	}
}

func TestWebhookDeliveryThatFailedIsTakenAgain(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	h.setPoster(&failPosts{poster: h.slack, n: 1})
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	d, _ := h.sim.PipelineHook(projectID, id)
	var r results
	wh, url := h.webhookObserved(&r)
	send(t, url, hookSecret, d)
	if err := wh.Drain(context.Background()); err == nil {
		t.Fatal("drain should report Slack's failure")
	}
	send(t, url, hookSecret, d)
	if r.get("queued") != 2 {
		t.Fatalf("the resend of a failed delivery was refused: %v", r.n)
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.cardFor(id); !ok {
		t.Fatal("no card after the resend")
	}
}
