package state

import (
	"path/filepath"
	"testing"
)

func TestV1DatabaseMigratesToSubscriptionsKeepingWatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipebot.db")
	full := migrations
	withMigrations(t, migrations[:1])
	s := openAt(t, path)
	w := sampleWatch("C1", 7, 42)
	if err := s.PutWatch(w); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	migrations = full
	s = openAt(t, path)
	defer s.Close()
	if _, found, err := s.Watch(w.Key()); err != nil || !found {
		t.Fatalf("watch lost in migration: %v %v", found, err)
	}
	if err := s.PutSubscription(Subscription{Channel: "C1", Target: ProjectTarget(7)}); err != nil {
		t.Fatalf("subscriptions bucket missing after migration: %v", err)
	}
}
