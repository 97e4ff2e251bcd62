package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Account linking (DESIGN §7, schema v5): a Slack user's link to their
// GitLab account, and the logins still waiting for GitLab's callback. The
// store keeps the tokens and the PKCE verifier only as the sealed bytes the
// identity package hands it; it never sees them in clear.
var (
	bucketLinks   = []byte("links")
	bucketPending = []byte("oauth_pending")
)

func migrateLinks(tx Tx) error { return createBuckets(tx, bucketLinks, bucketPending) }

// Link is one Slack user's linked GitLab account.
type Link struct {
	Team string `json:"team"`
	User string `json:"user"`
	// GitLabUserID and GitLabUsername name the account (GET /user with the
	// token when it was linked).
	GitLabUserID   int64  `json:"gitlab_user_id"`
	GitLabUsername string `json:"gitlab_username"`
	// AccessToken and RefreshToken are sealed (AES-256-GCM) by the
	// identity package; Expiry is the access token's.
	AccessToken  []byte    `json:"access_token_sealed"`
	RefreshToken []byte    `json:"refresh_token_sealed"`
	Expiry       time.Time `json:"expiry,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Version counts the writes of this link: a writer that read version n
	// may check it is still n (see WithLink).
	Version int64 `json:"version"`
}

// PendingLogin is a login started with /ci login and not yet finished by
// GitLab's callback. It is found by the hash of its OAuth state: the state
// itself is never stored.
type PendingLogin struct {
	StateHash string `json:"state_hash"`
	Team      string `json:"team"`
	User      string `json:"user"`
	// SlackName is how the success page names the Slack user.
	SlackName string `json:"slack_name,omitempty"`
	// Verifier is the sealed PKCE code verifier.
	Verifier []byte `json:"verifier_sealed"`
	// BrowserHash is the hash of the cookie /gitlab/oauth/start set: the
	// callback must come from the browser that started the login.
	BrowserHash string    `json:"browser_hash,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// RecordOp is what a read-modify-write callback does with its record.
type RecordOp int

// The outcomes of a read-modify-write callback.
const (
	// Keep leaves the record as it was.
	Keep RecordOp = iota
	// Save writes the (possibly new) record.
	Save
	// Delete removes it.
	Delete
)

func linkKey(team, user string) ([]byte, error) {
	var b keyBuilder
	// A console has no team: the part is then "-".
	if team == "" {
		team = "-"
	}
	return b.str("team", team).str("user id", user).key()
}

func pendingKey(stateHash string) ([]byte, error) {
	var b keyBuilder
	return b.str("state hash", stateHash).key()
}

// Link returns a user's link; found is false when they have none.
func (s *Store) Link(team, user string) (l Link, found bool, err error) {
	key, err := linkKey(team, user)
	if err != nil {
		return Link{}, false, fmt.Errorf("read link of %s: %w", user, err)
	}
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketLinks, key, &l)
		return err
	})
	if err != nil {
		return Link{}, false, fmt.Errorf("read link of %s: %w", user, err)
	}
	return l, found, nil
}

// Links returns every link (key rotation, and finding a user whose team is
// not known).
func (s *Store) Links() ([]Link, error) {
	var out []Link
	err := s.db.View(func(tx Tx) error {
		out = nil
		return each(tx, bucketLinks, func(l Link) error {
			out = append(out, l)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return out, nil
}

// WithLink reads a user's link, lets fn change it, and writes what fn
// decides, in one transaction: fn sees found=false and a zero Link (Team
// and User set) when there is none. On Save the store sets UpdatedAt, the
// CreatedAt of a new link, and increments Version. fn must not do network
// I/O: it runs inside the write transaction. The error is fn's, or the
// store's.
func (s *Store) WithLink(team, user string, fn func(l *Link, found bool) (RecordOp, error)) (Link, error) {
	key, err := linkKey(team, user)
	if err != nil {
		return Link{}, fmt.Errorf("update link of %s: %w", user, err)
	}
	var out Link
	err = s.db.Update(func(tx Tx) error {
		var l Link
		found, err := get(tx, bucketLinks, key, &l)
		if err != nil {
			return err
		}
		if !found {
			l = Link{Team: team, User: user}
		}
		op, err := fn(&l, found)
		if err != nil {
			return err
		}
		switch op {
		case Save:
			now := s.nowUTC()
			l.Team, l.User = team, user
			if l.CreatedAt.IsZero() {
				l.CreatedAt = now
			}
			l.UpdatedAt = now
			l.Version++
			out = l
			return put(tx, bucketLinks, key, l)
		case Delete:
			_, err := del(tx, bucketLinks, key)
			return err
		}
		out = l
		return nil
	})
	if err != nil {
		return Link{}, fmt.Errorf("update link of %s: %w", user, err)
	}
	return out, nil
}

// DeleteLink removes a user's link and reports whether there was one.
func (s *Store) DeleteLink(team, user string) (existed bool, err error) {
	key, err := linkKey(team, user)
	if err != nil {
		return false, fmt.Errorf("delete link of %s: %w", user, err)
	}
	err = s.db.Update(func(tx Tx) error {
		existed, err = del(tx, bucketLinks, key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete link of %s: %w", user, err)
	}
	return existed, nil
}

// LockLink holds the link of team/user for a read, a network refresh and
// the write of its result, so that one refresh runs at a time per link
// (GitLab rotates refresh tokens: two refreshes with the same one would
// lose the link): a Store.Lock, which every replica sharing a PostgreSQL
// database sees (an advisory lock), and this process alone on bbolt. The
// lock waits until ctx ends.
func (s *Store) LockLink(ctx context.Context, team, user string) (unlock func(), err error) {
	key, err := linkKey(team, user)
	if err != nil {
		return nil, fmt.Errorf("lock link of %s: %w", user, err)
	}
	unlock, err = s.Lock(ctx, "link/"+string(key))
	if err != nil {
		return nil, fmt.Errorf("lock link of %s: %w", user, err)
	}
	return unlock, nil
}

// ErrPendingExists is returned when a pending login's state hash is taken.
var ErrPendingExists = errors.New("state: pending login exists")

// PutPendingLogin records a new pending login and drops those that expired
// before now.
func (s *Store) PutPendingLogin(p PendingLogin) error {
	key, err := pendingKey(p.StateHash)
	if err != nil {
		return fmt.Errorf("record pending login: %w", err)
	}
	now := s.nowUTC()
	err = s.db.Update(func(tx Tx) error {
		expired := func(p PendingLogin) bool { return !p.ExpiresAt.After(now) }
		if _, _, err := deleteWhere(tx, bucketPending, nil, 0, expired); err != nil {
			return err
		}
		taken, err := tx.Get(bucketPending, key)
		if err != nil {
			return err
		}
		if taken != nil {
			return ErrPendingExists
		}
		return put(tx, bucketPending, key, p)
	})
	if err != nil {
		return fmt.Errorf("record pending login: %w", err)
	}
	return nil
}

// WithPendingLogin reads the pending login of stateHash, lets fn decide,
// and applies fn's decision in one transaction (single use: a callback
// deletes what it consumes, so a second callback finds nothing). fn must
// not do network I/O.
func (s *Store) WithPendingLogin(stateHash string, fn func(p *PendingLogin, found bool) (RecordOp, error)) error {
	key, err := pendingKey(stateHash)
	if err != nil {
		return fmt.Errorf("read pending login: %w", err)
	}
	err = s.db.Update(func(tx Tx) error {
		var p PendingLogin
		found, err := get(tx, bucketPending, key, &p)
		if err != nil {
			return err
		}
		op, err := fn(&p, found)
		if err != nil {
			return err
		}
		switch op {
		case Save:
			return put(tx, bucketPending, key, p)
		case Delete:
			_, err := del(tx, bucketPending, key)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read pending login: %w", err)
	}
	return nil
}

// PendingLogins returns every pending login (key rotation).
func (s *Store) PendingLogins() ([]PendingLogin, error) {
	var out []PendingLogin
	err := s.db.View(func(tx Tx) error {
		out = nil
		return each(tx, bucketPending, func(p PendingLogin) error {
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list pending logins: %w", err)
	}
	return out, nil
}
