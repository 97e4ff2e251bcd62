package state

import (
	"fmt"
)

// OnceMarked reports whether (namespace, key) carries an unexpired MarkOnce
// marker, without marking it: for callers that mark only once the work is
// done (a webhook delivery is marked after it was processed).
func (s *Store) OnceMarked(namespace, key string) (bool, error) {
	k, err := onceKey(namespace, key)
	if err != nil {
		return false, fmt.Errorf("check once in %s: %w", namespace, err)
	}
	marked := false
	err = s.db.View(func(tx Tx) error {
		var r onceRecord
		found, err := get(tx, bucketOnce, k, &r)
		if err != nil {
			return err
		}
		marked = found && s.nowUTC().Before(r.ExpiresAt)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("check once in %s: %w", namespace, err)
	}
	return marked, nil
}
