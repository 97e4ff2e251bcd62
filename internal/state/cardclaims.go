package state

import (
	"fmt"
)

// A channel shows one card per pipeline, whether a watch or a subscription
// posts it. The two claims below decide, each in one transaction over both
// records of a (channel, project, pipeline), which of them posts: whoever
// records its card intent first; the other finds that record and adopts
// the card (a watch) or leaves the channel to it (a subscription, which
// takes the card over when the watch ends).

// ClaimWatchCard records w, a watch about to post its card, unless a
// subscription card for the same channel and pipeline is recorded; then it
// writes nothing and returns that card with claimed false. CreatedAt and
// UpdatedAt are set as PutWatch sets them.
func (s *Store) ClaimWatchCard(w Watch) (card SubCard, claimed bool, err error) {
	k := w.Key()
	wkey, err := watchKey(k)
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim card %s: %w", k, err)
	}
	ckey, err := subCardKey(SubCardKey(k))
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim card %s: %w", k, err)
	}
	err = s.db.Update(func(tx Tx) error {
		claimed = false
		found, err := get(tx, bucketSubCards, ckey, &card)
		if err != nil || found {
			return err
		}
		claimed = true
		return s.putWatchTx(tx, wkey, w)
	})
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim card %s: %w", k, err)
	}
	return card, claimed, nil
}

// ClaimSubCard records the intent to post a subscription card at k
// (CardPending, with project for display) unless a watch or a card is
// already recorded there; then it writes nothing and returns claimed false
// (and the card, when that is what it found).
func (s *Store) ClaimSubCard(k SubCardKey, project string) (card SubCard, claimed bool, err error) {
	wkey, err := watchKey(WatchKey(k))
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim sub card %v: %w", k, err)
	}
	ckey, err := subCardKey(k)
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim sub card %v: %w", k, err)
	}
	err = s.db.Update(func(tx Tx) error {
		card, claimed = SubCard{}, false
		var w Watch
		watched, err := get(tx, bucketWatches, wkey, &w)
		if err != nil || watched {
			return err
		}
		found, err := get(tx, bucketSubCards, ckey, &card)
		if err != nil || found {
			return err
		}
		now := s.nowUTC()
		card = SubCard{Channel: k.Channel, ProjectID: k.ProjectID, PipelineID: k.PipelineID, Project: project,
			CardPending: true, CreatedAt: now, UpdatedAt: now}
		claimed = true
		return put(tx, bucketSubCards, ckey, card)
	})
	if err != nil {
		return SubCard{}, false, fmt.Errorf("claim sub card %v: %w", k, err)
	}
	return card, claimed, nil
}
