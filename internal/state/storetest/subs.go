package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testChannelSubscriptionsListOnlyThatChannel(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	for _, sub := range []state.Subscription{
		{Channel: "C1", Target: state.ProjectTarget(7), ProjectID: 7},
		{Channel: "C1", Target: state.GroupTarget("grp/sub"), Group: "grp/sub"},
		{Channel: "C10", Target: state.ProjectTarget(7), ProjectID: 7},
		{Channel: "C0", Target: state.ProjectTarget(8), ProjectID: 8},
	} {
		if err := s.PutSubscription(sub); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ChannelSubscriptions("C1")
	if err != nil || len(got) != 2 {
		t.Fatalf("C1 subscriptions = %+v, %v; want 2", got, err)
	}
	for _, sub := range got {
		if sub.Channel != "C1" {
			t.Errorf("foreign subscription listed: %+v", sub)
		}
	}
	all, _ := s.Subscriptions()
	if len(all) != 4 {
		t.Errorf("all subscriptions = %d, want 4", len(all))
	}
	if ok, err := s.DeleteSubscription("C1", state.ProjectTarget(7)); !ok || err != nil {
		t.Fatalf("delete = %v %v", ok, err)
	}
	if _, err := s.UpdateSubscription("C1", state.ProjectTarget(7), func(*state.Subscription) error { return nil }); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("update of a deleted subscription = %v, want state.ErrNotFound", err)
	}
}

func testRecordRefStatusGivesThePreviousEndOfTheRef(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	steps := []struct {
		name     string
		pipeline int64
		status   string
		wantPrev string
	}{
		{"first end has no previous", 10, "failed", ""},
		{"next pipeline sees the failure", 11, "success", "failed"},
		{"the same pipeline seen again gives the same answer", 11, "success", "failed"},
		{"an older pipeline ending late says nothing", 9, "success", ""},
		{"next pipeline sees the success", 12, "failed", "success"},
		{"the same pipeline retried to green sees its own failure", 12, "success", "failed"},
		{"its green end seen again keeps the answer", 12, "success", "failed"},
		{"the same pipeline retried to red sees its own success", 12, "failed", "success"},
		{"the next pipeline sees the retried end", 14, "failed", "failed"},
	}
	for _, st := range steps {
		prev, err := s.RecordRefStatus(7, "main", st.pipeline, st.status)
		if err != nil || prev != st.wantPrev {
			t.Errorf("%s: prev = %q, %v; want %q", st.name, prev, err, st.wantPrev)
		}
	}
	if prev, _ := s.RecordRefStatus(7, "other", 13, "success"); prev != "" {
		t.Errorf("refs share state: prev %q", prev)
	}
}

func testSubCardUpdateCreatesThenKeeps(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	k := state.SubCardKey{Channel: "C1", ProjectID: 7, PipelineID: 42}
	c, err := s.UpdateSubCard(k, func(c *state.SubCard, found bool) error {
		if found {
			t.Error("new card reported found")
		}
		c.CardPending = true
		return nil
	})
	if err != nil || !c.CardPending || c.CreatedAt.IsZero() {
		t.Fatalf("create = %+v, %v", c, err)
	}
	if _, err := s.UpdateSubCard(k, func(c *state.SubCard, found bool) error {
		c.CardPending, c.MessageTS, c.FinalState = false, "1.2", state.FinalPosted
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	if n, err := s.PruneSubCards(clock.Now().Add(-24 * time.Hour)); n != 1 || err != nil {
		t.Fatalf("prune = %d, %v; want 1", n, err)
	}
	if _, found, _ := s.SubCard(k); found {
		t.Error("pruned card still there")
	}
}
