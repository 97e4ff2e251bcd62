package state

import (
	"fmt"
	"slices"
	"time"
)

// bucketHomes holds one record per Slack user for the App Home tab
// (schema v4): whether they opened it, and the pipelines they started from
// Slack with the last status the watcher saw.
var bucketHomes = []byte("homes")

// MaxHomePipelines bounds the pipelines remembered per user: recording one
// more forgets the oldest.
const MaxHomePipelines = 20

func migrateHomes(tx Tx) error { return createBuckets(tx, bucketHomes) }

// Home is what pipebot keeps about one user's App Home.
type Home struct {
	User string `json:"user"`
	// OpenedAt is when the user last opened the Home tab; zero when never,
	// and then status changes publish nothing for them.
	OpenedAt time.Time `json:"opened_at,omitzero"`
	// DMChannel is pipebot's DM with the user, from app_home_opened: where
	// the answers to clicks on the Home go (a Home view has no channel).
	DMChannel string `json:"dm_channel,omitempty"`
	// Pipelines are the newest first.
	Pipelines []HomePipeline `json:"pipelines,omitempty"`
}

// Opened reports whether the user has opened the Home tab.
func (h Home) Opened() bool { return !h.OpenedAt.IsZero() }

// HomePipeline is one pipeline a user started from Slack.
type HomePipeline struct {
	ProjectID  int64     `json:"project_id"`
	Project    string    `json:"project"` // path, for display and the buttons
	PipelineID int64     `json:"pipeline_id"`
	Ref        string    `json:"ref"`
	Status     string    `json:"status"`
	WebURL     string    `json:"web_url,omitempty"`
	StartedAt  time.Time `json:"started_at"` // when it was started from Slack
	UpdatedAt  time.Time `json:"updated_at"`
}

func homeKey(user string) ([]byte, error) {
	var b keyBuilder
	return b.str("user id", user).key()
}

// Home returns a user's record; found is false when pipebot keeps none.
func (s *Store) Home(user string) (h Home, found bool, err error) {
	key, err := homeKey(user)
	if err != nil {
		return Home{}, false, fmt.Errorf("read home of %q: %w", user, err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketHomes, key, &h)
		return err
	})
	if err != nil {
		return Home{}, false, fmt.Errorf("read home of %s: %w", user, err)
	}
	return h, found, nil
}

// MarkHomeOpened records that user opened the Home tab now, and the DM
// channel Slack named with it (kept when dm is empty).
func (s *Store) MarkHomeOpened(user, dm string) (Home, error) {
	return s.updateHome(user, true, func(h *Home) bool {
		h.OpenedAt = s.nowUTC()
		if dm != "" {
			h.DMChannel = dm
		}
		return true
	})
}

// AddHomePipeline records a pipeline user started from Slack, newest
// first; the same pipeline again (a retry) moves to the front with its new
// status. At most MaxHomePipelines are kept.
func (s *Store) AddHomePipeline(user string, p HomePipeline) (Home, error) {
	if p.ProjectID <= 0 || p.PipelineID <= 0 {
		return Home{}, fmt.Errorf("add home pipeline of %s: %w: project and pipeline ids must be positive", user, ErrInvalidKey)
	}
	return s.updateHome(user, true, func(h *Home) bool {
		now := s.nowUTC()
		p.StartedAt, p.UpdatedAt = now, now
		h.Pipelines = slices.DeleteFunc(h.Pipelines, func(q HomePipeline) bool {
			return q.ProjectID == p.ProjectID && q.PipelineID == p.PipelineID
		})
		h.Pipelines = append([]HomePipeline{p}, h.Pipelines...)
		if len(h.Pipelines) > MaxHomePipelines {
			h.Pipelines = h.Pipelines[:MaxHomePipelines]
		}
		return true
	})
}

// SetHomePipelineStatus records the status the watcher saw for one of
// user's pipelines. changed is false (and nothing is written) when pipebot
// keeps no such pipeline for the user or the status is the same.
func (s *Store) SetHomePipelineStatus(user string, projectID, pipelineID int64, status string) (h Home, changed bool, err error) {
	// Most watched pipelines are on no one's Home (a `pipeline watch`, a
	// user pipebot keeps nothing for): a read answers those without a
	// write transaction.
	h, found, err := s.Home(user)
	if err != nil || !found || !slices.ContainsFunc(h.Pipelines, func(p HomePipeline) bool {
		return p.ProjectID == projectID && p.PipelineID == pipelineID && p.Status != status
	}) {
		return h, false, err
	}
	h, err = s.updateHome(user, false, func(h *Home) bool {
		changed = false
		for i := range h.Pipelines {
			p := &h.Pipelines[i]
			if p.ProjectID == projectID && p.PipelineID == pipelineID {
				if p.Status == status {
					return false
				}
				p.Status, p.UpdatedAt = status, s.nowUTC()
				changed = true
				return true
			}
		}
		return false
	})
	return h, changed, err
}

// updateHome runs fn on user's record inside one transaction and writes it
// when fn reports a change. Without create, a missing record stays missing.
func (s *Store) updateHome(user string, create bool, fn func(*Home) bool) (Home, error) {
	key, err := homeKey(user)
	if err != nil {
		return Home{}, fmt.Errorf("update home of %q: %w", user, err)
	}
	var h Home
	err = s.db.Update(func(tx Tx) error {
		found, err := get(tx, bucketHomes, key, &h)
		if err != nil {
			return err
		}
		if !found && !create {
			return nil
		}
		h.User = user
		if !fn(&h) {
			return nil
		}
		return put(tx, bucketHomes, key, h)
	})
	if err != nil {
		return Home{}, fmt.Errorf("update home of %s: %w", user, err)
	}
	return h, nil
}
