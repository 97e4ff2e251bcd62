package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/state"
)

// leaderRelay runs the leader's side of the handoff queue on h's watcher
// until the test ends.
func (h *harness) leaderRelay(store *state.Store) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := NewRelay(RelayConfig{Store: store, Watcher: h.w, Logger: zerolog.Nop(), Poll: 20 * time.Millisecond})
	go func() { defer close(done); r.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// follower is a replica that does not lead: its watches go through the queue.
func (h *harness) follower() *WatchRelay {
	r := NewWatchRelay(WatchRelayConfig{Leader: h.w, Leading: func() bool { return false }, Store: h.store, Wait: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
	return r
}

func (h *harness) queued() []state.QueueItem {
	h.t.Helper()
	items, err := h.store.Queued(0)
	if err != nil {
		h.t.Fatal(err)
	}
	return items
}

func TestAFollowersWatchIsPostedByTheLeaderWhichAnswersTheCommand(t *testing.T) {
	h := newHarness(t, failingJobs)
	f := h.follower()
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	req := WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}
	// Queued while no leader runs: the command does not wait forever.
	short := NewWatchRelay(WatchRelayConfig{Leader: h.w, Leading: func() bool { return false }, Store: h.store, Wait: 50 * time.Millisecond})
	if _, err := short.Watch(context.Background(), req); err != nil {
		t.Fatalf("a watch queued with no leader to answer: %v", err)
	}
	if len(h.fake.Messages(testChannel)) != 0 || len(h.queued()) != 1 {
		t.Fatalf("a follower posted or did not queue: %d messages, %d queued", len(h.fake.Messages(testChannel)), len(h.queued()))
	}
	h.leaderRelay(h.store)
	// The same pipeline again, while the leader runs: one card for both.
	if _, err := f.Watch(context.Background(), req); err != nil {
		t.Fatalf("relayed watch: %v", err)
	}
	if len(h.queued()) != 0 {
		t.Errorf("items left after the leader answered: %+v", h.queued())
	}
	card := h.card()
	if !strings.Contains(card.Text, "#"+idString(id)) {
		t.Errorf("card: %s", card.Text)
	}
	h.sim.Finish(projectID, id)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.thread()); n != 1 {
		t.Errorf("final replies: %d, want 1", n)
	}

	// A channel pipebot is not in: the follower's command learns it.
	h.fake.NotInChannel("C0OUT")
	req.Channel = "C0OUT"
	if _, err := f.Watch(context.Background(), req); !errors.Is(err, ErrNotInChannel) {
		t.Errorf("a relayed watch in a channel without pipebot = %v, want ErrNotInChannel", err)
	}
}

func TestAWatchWhoseLeaderDiedMidwayEndsWithOneCardAndOneReply(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	h.sim.Finish(projectID, id)
	req := WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}
	short := NewWatchRelay(WatchRelayConfig{Leader: h.w, Leading: func() bool { return false }, Store: h.store, Wait: time.Millisecond})
	if _, err := short.Watch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	items := h.queued()
	if len(items) != 1 {
		t.Fatalf("%d items queued", len(items))
	}
	// The first leader began the item, posted the card and the final reply
	// (the pipeline had ended), and died before finishing the item.
	if _, _, err := h.store.StartQueued(items[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.w.Watch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(h.topLevel()) != 1 || len(h.thread()) != 1 {
		t.Fatalf("before the takeover: %d cards, %d replies", len(h.topLevel()), len(h.thread()))
	}
	h.restart()
	h.leaderRelay(h.store)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.queued()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(h.queued()) != 0 {
		t.Fatal("the next leader did not finish the item")
	}
	if n := len(h.topLevel()); n != 1 {
		t.Errorf("cards after the next leader took the item up: %d, want 1", n)
	}
	if n := len(h.thread()); n != 1 {
		t.Errorf("final replies after the next leader took the item up: %d, want 1", n)
	}
}

func TestHandedOffWebhookDeliveriesAreQueuedOnceAndProcessedByTheLeader(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "running,failed"})
	intake := NewWebhook(WebhookConfig{Secret: hookSecret, Watcher: h.w, Logger: zerolog.Nop(), Handoff: h.store})
	srv := httptest.NewServer(intake)
	defer srv.Close()
	url := srv.URL + "/gitlab/webhook"
	h.sim.RecordHooks(true)
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	ds := h.sim.TakeHooks()
	if len(ds) < 2 {
		t.Fatalf("simulator recorded %d deliveries", len(ds))
	}
	for _, d := range ds {
		for range 2 {
			if code := send(t, url, hookSecret, d); code != http.StatusOK {
				t.Fatalf("delivery answered %d", code)
			}
		}
	}
	if n := len(h.queued()); n != len(ds) {
		t.Fatalf("%d items queued for %d deliveries sent twice each", n, len(ds))
	}
	if len(h.fake.Messages(testChannel)) != 0 {
		t.Fatal("the intake posted: only the leader may")
	}
	h.leaderRelay(h.store)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.queued()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(h.queued()); n != 0 {
		t.Fatalf("%d items left", n)
	}
	card := h.card()
	if !contains(blocksText(card.Blocks), "failed", "rspec") {
		t.Errorf("card does not show the end: %s", card.Blocks)
	}
	if n := len(h.thread()); n != 1 {
		t.Errorf("thread replies: %d, want 1", n)
	}
	// A redelivery after processing is still a duplicate.
	if code := send(t, url, hookSecret, ds[0]); code != http.StatusOK || len(h.queued()) != 0 {
		t.Errorf("a late redelivery: %d, %d queued", code, len(h.queued()))
	}
}

func TestAFencedLeaderLeavesItsWorkQueuedAndPostsNothing(t *testing.T) {
	h := newHarness(t, failingJobs)
	lost := func() error { return state.ErrNotLeader }
	fenced := h.store.Fenced(func() (int64, error) { return 0, state.ErrNotLeader })
	h.w = New(Config{GitLab: h.gl, Store: fenced, Interval: time.Second, Now: h.clock.Now, Logger: zerolog.Nop(),
		Slack: NewSlack(SlackConfig{API: slackClient(h), PerChannel: time.Millisecond, Gate: lost})})
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	req := WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}
	short := NewWatchRelay(WatchRelayConfig{Leader: h.w, Leading: func() bool { return false }, Store: h.store, Wait: time.Millisecond})
	if _, err := short.Watch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	r := NewRelay(RelayConfig{Store: fenced, Watcher: h.w, Logger: zerolog.Nop()})
	it := h.queued()[0]
	r.watch(context.Background(), it)
	if n := len(h.fake.Calls()); n != 0 {
		t.Errorf("a fenced leader reached Slack %d times", n)
	}
	if items := h.queued(); len(items) != 1 {
		t.Errorf("the fenced leader finished the item: %+v", items)
	}
	if ws, _ := h.store.Watches(); len(ws) != 0 {
		t.Errorf("the fenced leader recorded watches: %+v", ws)
	}
	// The gate alone stops a post even with a store that accepts it.
	gated := NewSlack(SlackConfig{API: slack.New(h.fake.BotToken(), slack.OptionAPIURL(h.fake.APIURL())), Gate: lost})
	if _, err := gated.Post(context.Background(), testChannel, Message{Text: "x"}); !errors.Is(err, state.ErrNotLeader) {
		t.Errorf("a gated post = %v, want ErrNotLeader", err)
	}
	if n := len(h.fake.Calls()); n != 0 {
		t.Errorf("a gated post reached Slack")
	}
}
