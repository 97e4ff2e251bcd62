package state

import (
	"fmt"
)

// Channel holds a Slack channel's settings.
type Channel struct {
	ID              string   `json:"id"`
	DefaultProject  string   `json:"default_project"`
	AllowedProjects []string `json:"allowed_projects,omitempty"`
	InviteHinted    bool     `json:"invite_hinted"` // told once how to invite pipebot
}

// Channel returns a channel's settings; found is false if none are stored.
func (s *Store) Channel(id string) (c Channel, found bool, err error) {
	key, err := channelKey(id)
	if err != nil {
		return Channel{}, false, fmt.Errorf("get channel %s: %w", id, err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketChannels, key, &c)
		return err
	})
	if err != nil {
		return Channel{}, false, fmt.Errorf("get channel %s: %w", id, err)
	}
	if !found {
		return Channel{}, false, nil
	}
	return c, true, nil
}

// UpdateChannel reads a channel's settings (a fresh Channel with ID set if
// absent), applies fn and writes them back in one transaction, returning the
// stored result. An error from fn aborts the update and is returned wrapped.
// fn must not change ID.
func (s *Store) UpdateChannel(id string, fn func(*Channel) error) (Channel, error) {
	key, err := channelKey(id)
	if err != nil {
		return Channel{}, fmt.Errorf("update channel %s: %w", id, err)
	}
	var c Channel
	err = s.db.Update(func(tx Tx) error {
		found, err := get(tx, bucketChannels, key, &c)
		if err != nil {
			return err
		}
		if !found {
			c = Channel{ID: id}
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return errKeyChanged
		}
		return put(tx, bucketChannels, key, c)
	})
	if err != nil {
		return Channel{}, fmt.Errorf("update channel %s: %w", id, err)
	}
	return c, nil
}
