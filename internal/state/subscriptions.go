package state

import (
	"fmt"
	"time"
)

// Buckets of channel subscriptions (schema v2).
var (
	bucketSubs      = []byte("subscriptions")
	bucketRefStatus = []byte("ref_status")
	bucketSubCards  = []byte("sub_cards")
	bucketGroups    = []byte("group_projects")
)

func migrateSubscriptions(tx Tx) error {
	return createBuckets(tx, bucketSubs, bucketRefStatus, bucketSubCards, bucketGroups)
}

// Subscription is a channel's interest in a project's, or a group's,
// pipelines, with its filters. Target is "project:<id>" or "group:<path>".
type Subscription struct {
	Channel   string `json:"channel"`
	Target    string `json:"target"`
	ProjectID int64  `json:"project_id,omitempty"` // for a project subscription
	Project   string `json:"project,omitempty"`    // path, for display
	Group     string `json:"group,omitempty"`      // full group path, for a group subscription
	GroupID   int64  `json:"group_id,omitempty"`
	// Filters; empty On means the default events.
	On      []string `json:"on,omitempty"`
	Refs    []string `json:"refs,omitempty"`
	Sources []string `json:"sources,omitempty"`
	Users   []string `json:"users,omitempty"`
	Creator string   `json:"creator"` // Slack user id told when the subscription pauses
	// Paused is set when Slack refused to post in the channel
	// (not_in_channel, channel_not_found); PausedReason says why.
	Paused       bool      `json:"paused,omitempty"`
	PausedReason string    `json:"paused_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// ProjectTarget is the Target of a subscription to one project.
func ProjectTarget(id int64) string { return fmt.Sprintf("project:%d", id) }

// GroupTarget is the Target of a subscription to a group.
func GroupTarget(path string) string { return "group:" + path }

func subKey(channel, target string) ([]byte, error) {
	var b keyBuilder
	return b.str("channel", channel).str("target", target).key()
}

// PutSubscription creates or replaces the channel's subscription to its target.
func (s *Store) PutSubscription(sub Subscription) error {
	key, err := subKey(sub.Channel, sub.Target)
	if err != nil {
		return fmt.Errorf("put subscription: %w", err)
	}
	if sub.CreatedAt.IsZero() {
		sub.CreatedAt = s.nowUTC()
	}
	sub.CreatedAt = sub.CreatedAt.UTC()
	if err := s.db.Update(func(tx Tx) error { return put(tx, bucketSubs, key, sub) }); err != nil {
		return fmt.Errorf("put subscription %s %s: %w", sub.Channel, sub.Target, err)
	}
	return nil
}

// UpdateSubscription applies fn to a stored subscription in one transaction.
// It returns ErrNotFound when there is none.
func (s *Store) UpdateSubscription(channel, target string, fn func(*Subscription) error) (Subscription, error) {
	key, err := subKey(channel, target)
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription: %w", err)
	}
	var sub Subscription
	err = s.db.Update(func(tx Tx) error {
		found, err := get(tx, bucketSubs, key, &sub)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if err := fn(&sub); err != nil {
			return err
		}
		if sub.Channel != channel || sub.Target != target {
			return errKeyChanged
		}
		return put(tx, bucketSubs, key, sub)
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription %s %s: %w", channel, target, err)
	}
	return sub, nil
}

// DeleteSubscription removes a subscription and reports whether it existed.
func (s *Store) DeleteSubscription(channel, target string) (bool, error) {
	key, err := subKey(channel, target)
	if err != nil {
		return false, fmt.Errorf("delete subscription: %w", err)
	}
	var existed bool
	err = s.db.Update(func(tx Tx) error {
		existed, err = del(tx, bucketSubs, key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete subscription %s %s: %w", channel, target, err)
	}
	return existed, nil
}

// Subscriptions returns every subscription in key order (channel, target).
func (s *Store) Subscriptions() ([]Subscription, error) {
	var out []Subscription
	err := s.db.View(func(tx Tx) error {
		out = nil
		return each(tx, bucketSubs, func(v Subscription) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// ChannelSubscriptions returns one channel's subscriptions.
func (s *Store) ChannelSubscriptions(channel string) ([]Subscription, error) {
	prefix, err := subKey(channel, "x")
	if err != nil {
		return nil, fmt.Errorf("list subscriptions of %s: %w", channel, err)
	}
	prefix = prefix[:len(prefix)-1]
	var out []Subscription
	err = s.db.View(func(tx Tx) error {
		out = nil
		return scan(tx, bucketSubs, prefix, false, func(_ []byte, sub Subscription) error {
			out = append(out, sub)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions of %s: %w", channel, err)
	}
	return out, nil
}

// RefStatus is the last finished pipeline status seen on a project's ref,
// for fixed (red → green) and broken (green → red) detection. Prev is the
// status before PipelineID finished, so that seeing the same pipeline again
// gives the same answer.
type RefStatus struct {
	ProjectID  int64  `json:"project_id"`
	Ref        string `json:"ref"`
	PipelineID int64  `json:"pipeline_id"`
	Status     string `json:"status"`
	Prev       string `json:"prev"`
}

func refStatusKey(projectID int64, ref string) ([]byte, error) {
	var b keyBuilder
	return b.int("project id", projectID).str("ref", ref).key()
}

// RecordRefStatus records that pipelineID finished with status on ref and
// returns the status the ref had before that pipeline (Prev). When the
// recorded pipeline ends again with another status (failed, retried,
// succeeded), Prev is its own earlier end, so a retry that turns it green is
// fixed and one that turns it red is broken. A pipeline older than the one recorded does not change the ref: the newest wins.
func (s *Store) RecordRefStatus(projectID int64, ref string, pipelineID int64, status string) (prev string, err error) {
	key, err := refStatusKey(projectID, ref)
	if err != nil {
		return "", fmt.Errorf("record ref status: %w", err)
	}
	err = s.db.Update(func(tx Tx) error {
		var r RefStatus
		found, err := get(tx, bucketRefStatus, key, &r)
		if err != nil {
			return err
		}
		switch {
		case !found:
			r = RefStatus{ProjectID: projectID, Ref: ref, PipelineID: pipelineID, Status: status}
		case pipelineID == r.PipelineID:
			// The same pipeline ended again (retried): its earlier end is
			// what the ref was before this one. The same end seen again
			// keeps its answer.
			if status != r.Status {
				r.Prev, r.Status = r.Status, status
			}
		case pipelineID > r.PipelineID:
			r.Prev, r.Status, r.PipelineID = r.Status, status, pipelineID
		default:
			// An older pipeline finished late: it says nothing about the
			// ref's current state, only about its own predecessor, unknown.
			prev = ""
			return nil
		}
		prev = r.Prev
		return put(tx, bucketRefStatus, key, r)
	})
	if err != nil {
		return "", fmt.Errorf("record ref status of %d %s: %w", projectID, ref, err)
	}
	return prev, nil
}

// SubCard is a subscription's card for one pipeline in one channel, with the
// same exactly-once discipline as a Watch: CardPending and FinalState are
// intents recorded before posting.
type SubCard struct {
	Channel     string    `json:"channel"`
	ProjectID   int64     `json:"project_id"`
	Project     string    `json:"project"`
	PipelineID  int64     `json:"pipeline_id"`
	MessageTS   string    `json:"message_ts"`
	CardPending bool      `json:"card_pending"`
	LastStatus  string    `json:"last_status"`
	FinalState  string    `json:"final_state"` // "" | "pending" | "posted"
	FinalKey    string    `json:"final_key"`   // which end the final reply is for (a retried pipeline ends again)
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SubCardKey identifies a subscription card.
type SubCardKey struct {
	Channel    string
	ProjectID  int64
	PipelineID int64
}

// Key returns the card's identity.
func (c SubCard) Key() SubCardKey {
	return SubCardKey{Channel: c.Channel, ProjectID: c.ProjectID, PipelineID: c.PipelineID}
}

func subCardKey(k SubCardKey) ([]byte, error) {
	var b keyBuilder
	return b.str("channel", k.Channel).int("project id", k.ProjectID).int("pipeline id", k.PipelineID).key()
}

// SubCard returns a subscription card; found is false if there is none.
func (s *Store) SubCard(k SubCardKey) (c SubCard, found bool, err error) {
	key, err := subCardKey(k)
	if err != nil {
		return SubCard{}, false, fmt.Errorf("get sub card: %w", err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketSubCards, key, &c)
		return err
	})
	if err != nil {
		return SubCard{}, false, fmt.Errorf("get sub card %v: %w", k, err)
	}
	return c, found, nil
}

// UpdateSubCard reads the card at k (a new one with the key set when absent),
// applies fn and stores it in one transaction.
func (s *Store) UpdateSubCard(k SubCardKey, fn func(c *SubCard, found bool) error) (SubCard, error) {
	key, err := subCardKey(k)
	if err != nil {
		return SubCard{}, fmt.Errorf("update sub card: %w", err)
	}
	var c SubCard
	err = s.db.Update(func(tx Tx) error {
		found, err := get(tx, bucketSubCards, key, &c)
		if err != nil {
			return err
		}
		if !found {
			c = SubCard{Channel: k.Channel, ProjectID: k.ProjectID, PipelineID: k.PipelineID, CreatedAt: s.nowUTC()}
		}
		if err := fn(&c, found); err != nil {
			return err
		}
		if c.Key() != k {
			return errKeyChanged
		}
		c.UpdatedAt = s.nowUTC()
		return put(tx, bucketSubCards, key, c)
	})
	if err != nil {
		return SubCard{}, fmt.Errorf("update sub card %v: %w", k, err)
	}
	return c, nil
}

// SubCards returns every subscription card.
func (s *Store) SubCards() ([]SubCard, error) {
	var out []SubCard
	err := s.db.View(func(tx Tx) error {
		out = nil
		return each(tx, bucketSubCards, func(v SubCard) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list sub cards: %w", err)
	}
	return out, nil
}

// PruneSubCards deletes cards whose final reply is posted and that were last
// touched before cutoff, and returns how many it removed.
func (s *Store) PruneSubCards(cutoff time.Time) (int, error) {
	n, err := prune(s, bucketSubCards, func(c SubCard) bool {
		return c.FinalState == FinalPosted && c.UpdatedAt.Before(cutoff)
	})
	if err != nil {
		return n, fmt.Errorf("prune sub cards: %w", err)
	}
	return n, nil
}

// GroupProjects is the discovery cache of a group: the projects GitLab
// showed in it (subgroups included) at RefreshedAt.
type GroupProjects struct {
	Group       string           `json:"group"`
	Projects    map[int64]string `json:"projects"` // id -> path
	RefreshedAt time.Time        `json:"refreshed_at"`
}

func groupKey(group string) ([]byte, error) {
	var b keyBuilder
	return b.str("group", group).key()
}

// GroupProjects returns a group's cached projects; found is false if none.
func (s *Store) GroupProjects(group string) (g GroupProjects, found bool, err error) {
	key, err := groupKey(group)
	if err != nil {
		return GroupProjects{}, false, fmt.Errorf("get group projects: %w", err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketGroups, key, &g)
		return err
	})
	if err != nil {
		return GroupProjects{}, false, fmt.Errorf("get group projects of %s: %w", group, err)
	}
	return g, found, nil
}

// SetGroupProjects stores a group's discovered projects.
func (s *Store) SetGroupProjects(g GroupProjects) error {
	key, err := groupKey(g.Group)
	if err != nil {
		return fmt.Errorf("set group projects: %w", err)
	}
	g.RefreshedAt = g.RefreshedAt.UTC()
	if err := s.db.Update(func(tx Tx) error { return put(tx, bucketGroups, key, g) }); err != nil {
		return fmt.Errorf("set group projects of %s: %w", g.Group, err)
	}
	return nil
}
