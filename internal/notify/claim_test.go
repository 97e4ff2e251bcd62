package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// cardCalls returns the successful top-level chat.postMessage calls and
// the chat.update calls that show pipeline id in the test channel.
func cardCalls(h *harness, id int64) (posts, updates []slackfake.Call) {
	mark := fmt.Sprintf("#%d ", id)
	for _, c := range h.fake.Calls() {
		if c.Channel != testChannel || c.Error != "" || !strings.Contains(c.Text, mark) {
			continue
		}
		switch {
		case c.Method == "chat.postMessage" && c.ThreadTS == "":
			posts = append(posts, c)
		case c.Method == "chat.update":
			updates = append(updates, c)
		}
	}
	return posts, updates
}

// TestAWatchRacingASubscriptionCardLeavesOneCard starts a watch and
// delivers the subscription's event for the same pipeline at the same
// moment, many times: whichever claims the card first posts it, the other
// adopts it, so each pipeline has exactly one card and every later update
// goes to it.
func TestAWatchRacingASubscriptionCardLeavesOneCard(t *testing.T) {
	const iterations = 50
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "running,failed"})
	wh, url := h.webhook()
	ctx := context.Background()
	var ids []int64
	for i := 0; i < iterations; i++ {
		id := h.sim.CreatePipeline(projectID, "main", "push", 1)
		advanceTo(h, id, simulator.StatusRunning)
		ids = append(ids, id)
		d, _ := h.sim.PipelineHook(projectID, id)
		if code := send(t, url, hookSecret, d); code != http.StatusOK {
			t.Fatalf("hook: %d", code)
		}
		req := WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var watchErr, hookErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, watchErr = h.w.Watch(ctx, req)
		}()
		go func() {
			defer wg.Done()
			<-start
			hookErr = wh.Drain(ctx)
		}()
		close(start)
		wg.Wait()
		if watchErr != nil || hookErr != nil {
			t.Fatalf("pipeline %d: watch: %v, subscription: %v", id, watchErr, hookErr)
		}
		if posts, _ := cardCalls(h, id); len(posts) != 1 {
			t.Fatalf("iteration %d: pipeline %d got %d cards, want 1", i, id, len(posts))
		}
	}
	for _, id := range ids {
		h.sim.Finish(projectID, id)
	}
	h.step()
	h.step()
	for _, id := range ids {
		posts, updates := cardCalls(h, id)
		if len(posts) != 1 {
			t.Fatalf("pipeline %d got %d cards, want 1", id, len(posts))
		}
		ended := false
		for _, u := range updates {
			if u.TS != posts[0].TS {
				t.Errorf("pipeline %d: an update went to %s, not to its card %s", id, u.TS, posts[0].TS)
			}
			ended = ended || strings.Contains(u.Text, " failed ")
		}
		if !ended {
			t.Errorf("pipeline %d: its card was never updated to its end", id)
		}
		if n := len(h.fake.Thread(testChannel, posts[0].TS)); n != 1 {
			t.Errorf("pipeline %d: %d replies in the card's thread, want its one end", id, n)
		}
	}
}
