package state

import (
	"errors"
	"fmt"
	"time"
)

// FinalState values of Watch.FinalState.
const (
	// FinalNone means the final thread reply has not been started.
	FinalNone = ""
	// FinalPending means pipebot is about to post the final thread reply.
	FinalPending = "pending"
	// FinalPosted means the final thread reply was posted.
	FinalPosted = "posted"
)

// Watch is a pipeline pipebot follows and keeps one card for, per channel.
type Watch struct {
	ProjectID   int64  `json:"project_id"`
	Project     string `json:"project"` // path_with_namespace, for display
	PipelineID  int64  `json:"pipeline_id"`
	Channel     string `json:"channel"`
	MessageTS   string `json:"message_ts"`   // the card's ts; "" until posted
	Requester   string `json:"requester"`    // Slack user id who started it ("" if none)
	LastStatus  string `json:"last_status"`  // last GitLab status rendered on the card
	CardPending bool   `json:"card_pending"` // intent recorded: the card is being posted (crash recovery looks it up)
	FinalState  string `json:"final_state"`  // "" | "pending" (about to post the final thread reply) | "posted"
	Broadcast   bool   `json:"broadcast"`    // whether failure replies are broadcast to the channel
	// RecoverFinal: an earlier attempt at this watch (by a leader that
	// died) may have posted the final reply, so Slack is asked first.
	RecoverFinal bool      `json:"recover_final,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// WatchKey identifies a watch: one card per channel and pipeline.
type WatchKey struct {
	Channel    string
	ProjectID  int64
	PipelineID int64
}

// String renders the key for errors and logs.
func (k WatchKey) String() string {
	return fmt.Sprintf("%s/%d/%d", k.Channel, k.ProjectID, k.PipelineID)
}

// Key returns the watch's identity.
func (w Watch) Key() WatchKey {
	return WatchKey{Channel: w.Channel, ProjectID: w.ProjectID, PipelineID: w.PipelineID}
}

// PutWatch creates or replaces a watch. CreatedAt is kept from an existing
// record (or set from the clock if zero on a new one); UpdatedAt is set from
// the clock.
func (s *Store) PutWatch(w Watch) error {
	key, err := watchKey(w.Key())
	if err != nil {
		return fmt.Errorf("put watch %s: %w", w.Key(), err)
	}
	err = s.db.Update(func(tx Tx) error { return s.putWatchTx(tx, key, w) })
	if err != nil {
		return fmt.Errorf("put watch %s: %w", w.Key(), err)
	}
	return nil
}

// putWatchTx writes w at key inside tx, keeping the stored CreatedAt when w
// has none and stamping UpdatedAt from the clock.
func (s *Store) putWatchTx(tx Tx, key []byte, w Watch) error {
	var old Watch
	found, err := get(tx, bucketWatches, key, &old)
	if err != nil {
		return err
	}
	now := s.nowUTC()
	switch {
	case found && w.CreatedAt.IsZero():
		w.CreatedAt = old.CreatedAt
	case w.CreatedAt.IsZero():
		w.CreatedAt = now
	default:
		w.CreatedAt = w.CreatedAt.UTC()
	}
	w.UpdatedAt = now
	return put(tx, bucketWatches, key, w)
}

// Watch returns the watch at k; found is false if there is none.
func (s *Store) Watch(k WatchKey) (w Watch, found bool, err error) {
	key, err := watchKey(k)
	if err != nil {
		return Watch{}, false, fmt.Errorf("get watch %s: %w", k, err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketWatches, key, &w)
		return err
	})
	if err != nil {
		return Watch{}, false, fmt.Errorf("get watch %s: %w", k, err)
	}
	return w, found, nil
}

// errKeyChanged is returned when an update function changes a record's identity.
var errKeyChanged = errors.New("update must not change the record's key")

// UpdateWatch reads the watch at k, applies fn and writes it back, all in one
// transaction, and returns the stored result. It returns ErrNotFound if there
// is no such watch; an error from fn aborts the update and is returned wrapped.
// fn must not change the key fields.
func (s *Store) UpdateWatch(k WatchKey, fn func(*Watch) error) (Watch, error) {
	key, err := watchKey(k)
	if err != nil {
		return Watch{}, fmt.Errorf("update watch %s: %w", k, err)
	}
	var w Watch
	err = s.db.Update(func(tx Tx) error {
		found, err := get(tx, bucketWatches, key, &w)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if err := fn(&w); err != nil {
			return err
		}
		if w.Key() != k {
			return errKeyChanged
		}
		w.CreatedAt = w.CreatedAt.UTC()
		w.UpdatedAt = s.nowUTC()
		return put(tx, bucketWatches, key, w)
	})
	if err != nil {
		return Watch{}, fmt.Errorf("update watch %s: %w", k, err)
	}
	return w, nil
}

// DeleteWatch removes the watch at k; deleting a missing watch is not an error.
func (s *Store) DeleteWatch(k WatchKey) error {
	key, err := watchKey(k)
	if err != nil {
		return fmt.Errorf("delete watch %s: %w", k, err)
	}
	err = s.db.Update(func(tx Tx) error {
		_, err := del(tx, bucketWatches, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete watch %s: %w", k, err)
	}
	return nil
}

// Watches returns every watch ordered by key: channel, then project id, then
// pipeline id.
func (s *Store) Watches() ([]Watch, error) {
	var ws []Watch
	err := s.db.View(func(tx Tx) error {
		ws = nil
		return each(tx, bucketWatches, func(w Watch) error {
			ws = append(ws, w)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	return ws, nil
}

// WatchesByProject returns every watch grouped by project id, each group in
// key order. The watcher polls once per project, not once per pipeline.
func (s *Store) WatchesByProject() (map[int64][]Watch, error) {
	ws, err := s.Watches()
	if err != nil {
		return nil, err
	}
	byProject := make(map[int64][]Watch)
	for _, w := range ws {
		byProject[w.ProjectID] = append(byProject[w.ProjectID], w)
	}
	return byProject, nil
}
