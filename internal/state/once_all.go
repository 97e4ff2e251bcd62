package state

import (
	"errors"
	"fmt"
	"time"
)

// MarkOnceAll marks every key of a delivery in namespace for ttl, in one
// transaction, and reports whether none of them was marked before: a Slack
// delivery has a key of its own and one of the envelope that carried it,
// and a redelivery may repeat either. Marking them one at a time would let
// two copies racing (on two workers, or two replicas) each see the other's
// first key and both be dropped.
func (s *Store) MarkOnceAll(namespace string, keys []string, ttl time.Duration) (first bool, err error) {
	if len(keys) == 0 {
		return true, nil
	}
	if ttl <= 0 {
		return false, fmt.Errorf("mark once in %s: %w", namespace, errors.New("ttl must be positive"))
	}
	m, err := newOnceMarks(namespace, keys...)
	if err != nil {
		return false, fmt.Errorf("mark once in %s: %w", namespace, err)
	}
	err = s.db.Update(func(tx Tx) error {
		now := s.nowUTC()
		marked, err := m.marked(tx, now)
		if err != nil {
			return err
		}
		first = !marked
		return m.mark(tx, now.Add(ttl))
	})
	if err != nil {
		return false, fmt.Errorf("mark once in %s: %w", namespace, err)
	}
	return first, nil
}
