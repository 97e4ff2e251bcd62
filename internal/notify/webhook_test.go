package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

const hookSecret = "hook-SENTINEL-secret"

func (h *harness) webhook() (*Webhook, string) {
	h.t.Helper()
	wh := NewWebhook(WebhookConfig{
		Secret: hookSecret, Watcher: h.w, Logger: zerolog.Nop(),
		Once: func(k string) (bool, error) { return h.store.MarkOnce("gitlab-hook", k, 24*time.Hour) },
		Seen: func(k string) (bool, error) { return h.store.OnceMarked("gitlab-hook", k) },
	})
	srv := httptest.NewServer(wh)
	h.t.Cleanup(srv.Close)
	return wh, srv.URL + "/gitlab/webhook"
}

func send(t *testing.T, url, token string, d simulator.Delivery) int {
	t.Helper()
	code, err := simulator.Send(context.Background(), nil, url, token, d)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestDuplicateAndOutOfOrderWebhooksProduceOneCorrectCard(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "running,failed"})
	wh, url := h.webhook()
	h.sim.RecordHooks(true)
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	ds := h.sim.TakeHooks()
	if len(ds) < 3 || ds[len(ds)-1].Status != "failed" {
		t.Fatalf("simulator recorded %d deliveries: %+v", len(ds), ds)
	}
	// Newest first, every delivery twice.
	var sent []string
	for i := len(ds) - 1; i >= 0; i-- {
		for k := 0; k < 2; k++ {
			if code := send(t, url, hookSecret, ds[i]); code != http.StatusOK {
				t.Fatalf("delivery answered %d", code)
			}
			sent = append(sent, ds[i].Status)
		}
		if err := wh.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	card := h.card()
	if !contains(blocksText(card.Blocks), "failed", "rspec") || !strings.Contains(card.Text, " failed ") {
		t.Errorf("card does not show the newest state after %v: %s", sent, card.Blocks)
	}
	if n := len(h.thread()); n != 1 {
		t.Errorf("thread replies: %d, want 1", n)
	}
	// Polling afterwards agrees and changes nothing.
	calls := len(h.fake.Calls())
	h.clock.Add(time.Hour)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Calls()); n != calls {
		t.Errorf("a poll after the hooks called Slack %d more times", n-calls)
	}
}

func TestWrongWebhookTokenGets401AndChangesNothing(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	wh, url := h.webhook()
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	d, _ := h.sim.PipelineHook(projectID, id)
	for _, token := range []string{"", "wrong", hookSecret + "x", hookSecret[:5]} {
		if code := send(t, url, token, d); code != http.StatusUnauthorized {
			t.Errorf("token %q answered %d, want 401", token, code)
		}
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 0 {
		t.Fatalf("rejected deliveries reached Slack: %d posts", n)
	}
	// Nothing was marked as seen: the genuine delivery is processed.
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("genuine delivery answered %d", code)
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topLevel()); n != 1 {
		t.Errorf("cards after the genuine delivery: %d, want 1", n)
	}
}

func TestWebhookAnswersBeforeSlackIsCalled(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	_, url := h.webhook() // no worker runs: the answer cannot wait for Slack
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	d, _ := h.sim.PipelineHook(projectID, id)
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("answered %d", code)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("Slack posted before the answer: %d", n)
	}
}

func TestPipelineHookFixtureParses(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/fixtures/gitlab/pipeline_hook.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := parseHook("pipeline", raw)
	if err != nil {
		t.Fatal(err)
	}
	p := ev.pipeline
	want := time.Date(2016, 8, 12, 15, 26, 29, 0, time.UTC)
	if p.ID != 31 || ev.projectID != 1 || p.Status != gitlab.StatusSuccess || p.Ref != "master" || p.Source != "merge_request_event" {
		t.Errorf("pipeline = %+v", p)
	}
	if p.FinishedAt == nil || !p.FinishedAt.Equal(want) || p.Duration != 63*time.Second {
		t.Errorf("finished_at %v duration %v", p.FinishedAt, p.Duration)
	}
	if p.User.Email != "user_email@gitlab.com" || ev.maxJob != 380 {
		t.Errorf("user %+v max job %d", p.User, ev.maxJob)
	}
}

func TestProjectWithWorkingHooksIsPolledLessButStillPolled(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.subscribe(SubscribeRequest{})
	wh, url := h.webhook()
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	d, _ := h.sim.PipelineHook(projectID, id)
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatal(code)
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.sim.ResetRequests()
	for i := 0; i < 8; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Second) // one interval
	}
	lists := 0
	for _, r := range h.sim.Requests() {
		if r.Path == "/api/v4/projects/7/pipelines" {
			lists++
		}
	}
	if lists == 0 || lists >= 8 {
		t.Errorf("polls in 8 intervals with working hooks: %d, want fewer than 8 and more than 0", lists)
	}
}
