package notify

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/state"
)

// losingPoster posts through the real Slack client, notes when the card
// went out, and then has the lease lost, as a leader paused right after
// posting would.
type losingPoster struct {
	poster
	lost *atomic.Bool

	mu       sync.Mutex
	postedAt time.Time
}

func (p *losingPoster) Post(ctx context.Context, channel string, m Message) (string, error) {
	p.mu.Lock()
	p.postedAt = time.Now().UTC()
	p.mu.Unlock()
	ts, err := p.poster.Post(ctx, channel, m)
	p.lost.Store(true)
	return ts, err
}

func TestAWatchWhoseLeaderLostTheLeaseIsHandedOnRecoveringFromBeforeItsPost(t *testing.T) {
	h := newHarness(t, []simulator.JobSpec{{Name: "compile", Stage: "build"}})
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	var lost atomic.Bool
	fenced := h.store.Fenced(func() (int64, error) {
		if lost.Load() {
			return 0, state.ErrFenced
		}
		return 1, nil
	})
	p := &losingPoster{poster: h.slack, lost: &lost}
	leader := New(Config{GitLab: h.gl, Slack: p, Store: fenced, Interval: time.Second, Now: h.clock.Now, Logger: zerolog.Nop(), JobPreview: testJobPreview})
	relay := NewWatchRelay(WatchRelayConfig{Leader: leader, Leading: func() bool { return true }, Store: h.store, Wait: time.Millisecond})

	if _, err := relay.Watch(context.Background(), WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}); err != nil {
		t.Fatal(err)
	}
	items, err := h.store.Queued(10)
	if err != nil || len(items) != 1 {
		t.Fatalf("queued %+v %v, want the watch handed on", items, err)
	}
	var req WatchRequest
	if err := json.Unmarshal(items[0].Payload, &req); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	postedAt := p.postedAt
	p.mu.Unlock()
	if postedAt.IsZero() {
		t.Fatal("the card was never posted")
	}
	// The next leader looks for the card from RecoverSince on (less a
	// minute): it must not start after the card went out, however long
	// the lost attempt ran.
	if req.RecoverSince.IsZero() || req.RecoverSince.After(postedAt) {
		t.Errorf("RecoverSince %v is after the card was posted at %v", req.RecoverSince, postedAt)
	}
}
