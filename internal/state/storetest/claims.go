package storetest

import (
	"sync"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
)

func testCardClaimsLetOnlyTheFirstOfAWatchAndASubscriptionPost(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	w := sampleWatch("C1", 7, 42)
	k := state.SubCardKey(w.Key())

	if _, claimed, err := s.ClaimWatchCard(w); err != nil || !claimed {
		t.Fatalf("first claim by a watch: claimed %v, %v", claimed, err)
	}
	if _, claimed, err := s.ClaimSubCard(k, "group/app"); err != nil || claimed {
		t.Fatalf("a subscription after the watch: claimed %v, %v; want refused", claimed, err)
	}
	if _, found, _ := s.SubCard(k); found {
		t.Error("a refused subscription claim wrote a card")
	}

	// Another pipeline: the subscription first.
	w2 := sampleWatch("C1", 7, 43)
	k2 := state.SubCardKey(w2.Key())
	card, claimed, err := s.ClaimSubCard(k2, "group/app")
	if err != nil || !claimed || !card.CardPending || card.Project != "group/app" {
		t.Fatalf("first claim by a subscription: %+v, claimed %v, %v", card, claimed, err)
	}
	if _, err := s.UpdateSubCard(k2, func(c *state.SubCard, _ bool) error { c.MessageTS, c.CardPending = "1.2", false; return nil }); err != nil {
		t.Fatal(err)
	}
	got, claimed, err := s.ClaimWatchCard(w2)
	if err != nil || claimed || got.MessageTS != "1.2" {
		t.Fatalf("a watch after the subscription: %+v, claimed %v, %v; want refused with the card", got, claimed, err)
	}
	if _, watched, _ := s.Watch(w2.Key()); watched {
		t.Error("a refused watch claim wrote a watch")
	}
	if _, claimed, _ := s.ClaimSubCard(k2, "group/app"); claimed {
		t.Error("a second subscription claim on a recorded card succeeded")
	}
	if _, _, err := s.ClaimWatchCard(state.Watch{Channel: "", ProjectID: 7, PipelineID: 1}); err == nil {
		t.Error("a claim with an empty channel succeeded")
	}
}

func testCardClaimsRacingHaveOneWinner(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	for i := int64(1); i <= 50; i++ {
		w := sampleWatch("C1", 7, i)
		var wg sync.WaitGroup
		var watchWon, subWon bool
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, watchWon, _ = s.ClaimWatchCard(w)
		}()
		go func() {
			defer wg.Done()
			<-start
			_, subWon, _ = s.ClaimSubCard(state.SubCardKey(w.Key()), "group/app")
		}()
		close(start)
		wg.Wait()
		if watchWon == subWon {
			t.Fatalf("pipeline %d: watch won %v, subscription won %v; want exactly one", i, watchWon, subWon)
		}
	}
}
