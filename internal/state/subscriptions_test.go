package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestV1DatabaseMigratesToSubscriptionsKeepingWatches(t *testing.T) {
	clock := newClock()
	path := filepath.Join(t.TempDir(), "pipebot.db")
	full := migrations
	withMigrations(t, migrations[:1])
	s := openAt(t, path, clock)
	w := sampleWatch("C1", 7, 42)
	if err := s.PutWatch(w); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	migrations = full
	s = openAt(t, path, clock)
	defer s.Close()
	if _, found, err := s.Watch(w.Key()); err != nil || !found {
		t.Fatalf("watch lost in migration: %v %v", found, err)
	}
	if err := s.PutSubscription(Subscription{Channel: "C1", Target: ProjectTarget(7)}); err != nil {
		t.Fatalf("subscriptions bucket missing after migration: %v", err)
	}
}

func TestChannelSubscriptionsListOnlyThatChannel(t *testing.T) {
	s, _, _ := openTemp(t)
	for _, sub := range []Subscription{
		{Channel: "C1", Target: ProjectTarget(7), ProjectID: 7},
		{Channel: "C1", Target: GroupTarget("grp/sub"), Group: "grp/sub"},
		{Channel: "C10", Target: ProjectTarget(7), ProjectID: 7},
		{Channel: "C0", Target: ProjectTarget(8), ProjectID: 8},
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
	if ok, err := s.DeleteSubscription("C1", ProjectTarget(7)); !ok || err != nil {
		t.Fatalf("delete = %v %v", ok, err)
	}
	if _, err := s.UpdateSubscription("C1", ProjectTarget(7), func(*Subscription) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a deleted subscription = %v, want ErrNotFound", err)
	}
}

func TestRecordRefStatusGivesThePreviousEndOfTheRef(t *testing.T) {
	s, _, _ := openTemp(t)
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

func TestSubCardUpdateCreatesThenKeeps(t *testing.T) {
	s, clock, _ := openTemp(t)
	k := SubCardKey{Channel: "C1", ProjectID: 7, PipelineID: 42}
	c, err := s.UpdateSubCard(k, func(c *SubCard, found bool) error {
		if found {
			t.Error("new card reported found")
		}
		c.CardPending = true
		return nil
	})
	if err != nil || !c.CardPending || c.CreatedAt.IsZero() {
		t.Fatalf("create = %+v, %v", c, err)
	}
	if _, err := s.UpdateSubCard(k, func(c *SubCard, found bool) error {
		c.CardPending, c.MessageTS, c.FinalState = false, "1.2", FinalPosted
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
