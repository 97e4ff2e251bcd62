package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// sudoTTL is how long a Slack user's GitLab user is remembered (DESIGN §7:
// at most 10 minutes, so a blocked or changed account is seen soon).
const sudoTTL = 10 * time.Minute

// sudoRefusedTTL is how long a refusal is remembered: a person who just
// fixed their email should not wait ten minutes.
const sudoRefusedTTL = time.Minute

// sudoSearchLimit bounds the users GitLab's fuzzy search returns for one
// email (name matches come along).
const sudoSearchLimit = 100

type sudoEntry struct {
	id       int64
	username string
	refused  string
	at       time.Time
}

type sudoCache struct {
	mu      sync.Mutex
	entries map[string]sudoEntry
	// lookups counts the mappings that asked Slack and GitLab (tests).
	lookups int
}

// sudoUser maps a Slack user to the GitLab user with the same email:
// Slack users.info (scope users:read.email), then GitLab's admin search
// GET /users?search=<email>, keeping only a user whose whole email matches,
// case-insensitively (the search also returns fuzzy name matches). No
// email, no match or a user who is not active is a *RefusedError.
func (s *Service) sudoUser(ctx context.Context, team, user string) (sudoEntry, error) {
	key := team + "/" + user
	now := s.cfg.Now()
	s.sudo.mu.Lock()
	e, ok := s.sudo.entries[key]
	s.sudo.mu.Unlock()
	if ok {
		ttl := sudoTTL
		if e.refused != "" {
			ttl = sudoRefusedTTL
		}
		if now.Sub(e.at) < ttl {
			if e.refused != "" {
				return sudoEntry{}, &RefusedError{Msg: e.refused}
			}
			return e, nil
		}
	}
	e, err := s.lookupSudo(ctx, user)
	if err != nil {
		return sudoEntry{}, err
	}
	e.at = now
	s.sudo.mu.Lock()
	s.sudo.entries[key] = e
	s.sudo.lookups++
	if len(s.sudo.entries) > 10000 {
		for k, v := range s.sudo.entries {
			if now.Sub(v.at) >= sudoTTL {
				delete(s.sudo.entries, k)
			}
		}
	}
	s.sudo.mu.Unlock()
	if e.refused != "" {
		return sudoEntry{}, &RefusedError{Msg: e.refused}
	}
	return e, nil
}

func (s *Service) lookupSudo(ctx context.Context, user string) (sudoEntry, error) {
	su, err := s.cfg.Slack.GetUserInfoContext(ctx, user)
	if err != nil {
		return sudoEntry{}, fmt.Errorf("slack users.info: %w", err)
	}
	email := strings.TrimSpace(su.Profile.Email)
	if email == "" {
		return sudoEntry{refused: "pipebot can't see the email address of your Slack account (the app needs the users:read.email scope, and you need an email), so it can't find you in GitLab; nothing ran."}, nil
	}
	// The bot client without Sudo: looking a user up is pipebot's own
	// business, not something done as the person.
	users, err := s.cfg.Bot.SearchUsers(ctx, email, sudoSearchLimit)
	if err != nil {
		return sudoEntry{}, fmt.Errorf("find the gitlab user of a slack email: %w", err)
	}
	i := slices.IndexFunc(users, func(u gitlab.User) bool { return strings.EqualFold(u.Email, email) })
	if i < 0 {
		return sudoEntry{refused: "No GitLab user has the email address of your Slack account, so pipebot can't act for you in GitLab; nothing ran. Ask a GitLab administrator to add that email to your GitLab account."}, nil
	}
	u := users[i]
	if u.State != "" && u.State != "active" {
		return sudoEntry{refused: fmt.Sprintf("Your GitLab account @%s is %s, so pipebot can't act for you in GitLab; nothing ran.", slackEscape(u.Username), slackEscape(u.State))}, nil
	}
	return sudoEntry{id: u.ID, username: u.Username}, nil
}

// sudoAPI is what the sudo start-up check asks GitLab.
type sudoAPI interface {
	CurrentUser(ctx context.Context) (gitlab.User, error)
	TokenSelf(ctx context.Context) (gitlab.TokenInfo, error)
}

var _ sudoAPI = (*gitlab.Client)(nil)

// ErrSudoToken: pipebot's token cannot use Sudo; the message says what is
// missing.
var ErrSudoToken = errors.New("identity: the token cannot act as other users")

// sudoTokenError is ErrSudoToken with what the token lacks, worded to follow
// the caller's "needs an administrator's token with scopes api and sudo:".
type sudoTokenError struct{ lack string }

func (e *sudoTokenError) Error() string        { return e.lack }
func (e *sudoTokenError) Is(target error) bool { return target == ErrSudoToken }

// CheckSudo is serve's start-up check for PIPEBOT_IDENTITY=sudo: the token
// must belong to an administrator (GET /user: is_admin) and have the sudo
// scope (GET /personal_access_tokens/self). The error names what is
// missing.
func CheckSudo(ctx context.Context, gl sudoAPI) error {
	u, err := gl.CurrentUser(ctx)
	if err != nil {
		return fmt.Errorf("could not read its user (GET /user): %w", err)
	}
	if !u.IsAdmin {
		return &sudoTokenError{fmt.Sprintf("it belongs to @%s, who is not a GitLab administrator", u.Username)}
	}
	ti, err := gl.TokenSelf(ctx)
	if err != nil {
		return fmt.Errorf("could not read its scopes (GET /personal_access_tokens/self; sudo mode needs a personal access token): %w", err)
	}
	if !slices.Contains(ti.Scopes, "sudo") {
		return &sudoTokenError{fmt.Sprintf("it lacks the sudo scope (it has %s)", strings.Join(ti.Scopes, ", "))}
	}
	if !slices.Contains(ti.Scopes, "api") {
		return &sudoTokenError{fmt.Sprintf("it lacks the api scope (it has %s)", strings.Join(ti.Scopes, ", "))}
	}
	return nil
}
