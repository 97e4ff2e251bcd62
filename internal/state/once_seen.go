package state

import (
	"fmt"
)

// OnceMarked reports whether (namespace, key) carries an unexpired MarkOnce
// marker, without marking it: for callers that mark only once the work is
// done (a webhook delivery is marked after it was processed).
func (s *Store) OnceMarked(namespace, key string) (bool, error) {
	m, err := newOnceMarks(namespace, key)
	if err != nil {
		return false, fmt.Errorf("check once in %s: %w", namespace, err)
	}
	marked := false
	err = s.db.View(func(tx Tx) error {
		var err error
		marked, err = m.marked(tx, s.nowUTC())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("check once in %s: %w", namespace, err)
	}
	return marked, nil
}
