// Package identity owns who acts in GitLab for a Slack user (DESIGN §7):
// pipebot's own token (PIPEBOT_IDENTITY=bot), the user's own linked
// account (linked: the OAuth authorization code flow with PKCE, the
// encrypted tokens, their refresh), or pipebot's administrator token with
// Sudo (sudo: the Slack email mapped to a GitLab user). It hands the router
// a GitLab client bound to that identity; handlers never pick a token.
//
// It is imported by commands and cmd/bot; the leaves (gitlab, state) know
// nothing of it. Tokens, codes, verifiers, states and the client secret
// never reach a log, an error text or the store unencrypted.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// Mode is PIPEBOT_IDENTITY.
type Mode string

// The identity modes.
const (
	ModeBot    Mode = "bot"
	ModeLinked Mode = "linked"
	ModeSudo   Mode = "sudo"
)

// ParseMode reads "bot", "linked" or "sudo"; "" is bot.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeBot, nil
	case ModeBot, ModeLinked, ModeSudo:
		return m, nil
	}
	return "", fmt.Errorf("%q is not an identity mode (bot, linked or sudo)", s)
}

// Kind says whose identity an Actor is.
type Kind int

// The kinds of actors.
const (
	// KindBot is pipebot's own token.
	KindBot Kind = iota + 1
	// KindLinked is the person's own linked GitLab account.
	KindLinked
	// KindSudo is pipebot's administrator token acting as the person.
	KindSudo
)

// Actor is who acts in GitLab for one Slack user's command.
type Actor struct {
	Kind Kind
	// GitLab is the client bound to this identity.
	GitLab *gitlab.Client
	// UserID and Username name the GitLab user (0 and "" for the bot,
	// whose name the caller knows from GET /user).
	UserID   int64
	Username string
}

// Person reports whether the actor is the person themselves (linked or
// sudo), so GitLab's answers are about their permissions, not pipebot's.
func (a Actor) Person() bool { return a.Kind == KindLinked || a.Kind == KindSudo }

// String names the actor for the audit log: "linked @alice", "sudo @alice"
// or "bot".
func (a Actor) String() string {
	switch a.Kind {
	case KindLinked:
		return "linked @" + a.Username
	case KindSudo:
		return "sudo @" + a.Username
	case KindBot:
		return "bot"
	}
	return ""
}

// ErrNotLinked: PIPEBOT_IDENTITY=linked and the user has not linked their
// GitLab account. Nothing may run for them until they do.
var ErrNotLinked = errors.New("identity: gitlab account not linked")

// ErrLinkRevoked: GitLab refused the link's tokens (revoked, or the refresh
// token was no longer valid); the link was deleted and its owner must log
// in again.
var ErrLinkRevoked = errors.New("identity: gitlab no longer accepts the linked account")

// RefusedError is a refusal to act for a person, with the sentence to tell
// them (sudo: no email, no GitLab user with it, a blocked user).
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// store is identity's slice of the state package.
type store interface {
	Link(team, user string) (state.Link, bool, error)
	Links() ([]state.Link, error)
	WithLink(team, user string, fn func(l *state.Link, found bool) (state.RecordOp, error)) (state.Link, error)
	DeleteLink(team, user string) (bool, error)
	LockLink(ctx context.Context, team, user string) (func(), error)
	PutPendingLogin(p state.PendingLogin) error
	WithPendingLogin(stateHash string, fn func(p *state.PendingLogin, found bool) (state.RecordOp, error)) error
	PendingLogins() ([]state.PendingLogin, error)
}

var _ store = (*state.Store)(nil)

// slackUsers reads a Slack user's profile (sudo: the email).
type slackUsers interface {
	GetUserInfoContext(ctx context.Context, user string, opts ...slack.GetUserInfoOption) (*slack.User, error)
}

var _ slackUsers = (*slack.Client)(nil)

// OAuthConfig is the GitLab OAuth application of linked mode.
type OAuthConfig struct {
	// GitLabURL is GitLab's base URL (…/oauth/authorize is under it).
	GitLabURL string
	// PublicURL is where browsers reach pipebot; the callback is
	// PublicURL + CallbackPath.
	PublicURL    string
	ClientID     string
	ClientSecret string
}

// HTTP paths of the login flow.
const (
	StartPath    = "/gitlab/oauth/start"
	CallbackPath = "/gitlab/oauth/callback"
)

// Config configures a Service.
type Config struct {
	Mode Mode
	// Bot is pipebot's client (GITLAB_TOKEN); people's clients derive
	// from it and share its transport.
	Bot   *gitlab.Client
	Store store
	// Sealer encrypts stored tokens; required in linked mode.
	Sealer *Sealer
	// OAuth is the GitLab application; required in linked mode.
	OAuth OAuthConfig
	// Slack reads users' emails; required in sudo mode.
	Slack slackUsers
	// Notify tells a Slack user something privately (their DM with
	// pipebot): that a login finished. Optional.
	Notify func(ctx context.Context, user, text string) error
	// HTTPClient makes the OAuth token and revoke requests; default one
	// with a 30 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     zerolog.Logger
}

// Service resolves who acts for a Slack user and runs the login flow. It
// is safe for concurrent use.
type Service struct {
	cfg  Config
	log  zerolog.Logger
	sudo sudoCache
	// refreshes counts token refreshes made (benchmarks, tests).
	refreshes struct {
		sync.Mutex
		n int
	}
}

// New returns a Service. It does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeBot
	}
	if cfg.Bot == nil || cfg.Store == nil {
		return nil, errors.New("identity: a bot client and a store are required")
	}
	switch cfg.Mode {
	case ModeLinked:
		if cfg.Sealer == nil || cfg.OAuth.ClientID == "" || cfg.OAuth.ClientSecret == "" || cfg.OAuth.PublicURL == "" || cfg.OAuth.GitLabURL == "" {
			return nil, errors.New("identity: linked mode needs a sealer and the OAuth application")
		}
	case ModeSudo:
		if cfg.Slack == nil {
			return nil, errors.New("identity: sudo mode needs Slack's users.info")
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.OAuth.PublicURL = strings.TrimRight(cfg.OAuth.PublicURL, "/")
	cfg.OAuth.GitLabURL = strings.TrimSuffix(strings.TrimRight(cfg.OAuth.GitLabURL, "/"), "/api/v4")
	s := &Service{cfg: cfg, log: cfg.Logger.With().Str("component", "identity").Logger()}
	s.sudo.entries = map[string]sudoEntry{}
	return s, nil
}

// Mode is the service's identity mode.
func (s *Service) Mode() Mode { return s.cfg.Mode }

// Actor resolves who acts in GitLab for the Slack user team/user and
// returns a client bound to that identity. It makes no GitLab request in
// bot and linked modes (sudo maps the user at most every 10 minutes).
// Errors: ErrNotLinked, ErrLinkRevoked, a *RefusedError, or a store or
// network failure.
func (s *Service) Actor(ctx context.Context, team, user string) (Actor, error) {
	switch s.cfg.Mode {
	case ModeLinked:
		l, found, err := s.findLink(team, user)
		if err != nil {
			return Actor{}, err
		}
		if !found {
			return Actor{}, ErrNotLinked
		}
		ts := &linkSource{s: s, team: l.Team, user: user}
		return Actor{Kind: KindLinked, GitLab: s.cfg.Bot.WithOAuth(ts), UserID: l.GitLabUserID, Username: l.GitLabUsername}, nil
	case ModeSudo:
		e, err := s.sudoUser(ctx, team, user)
		if err != nil {
			return Actor{}, err
		}
		return Actor{Kind: KindSudo, GitLab: s.cfg.Bot.WithSudo(e.id), UserID: e.id, Username: e.username}, nil
	}
	return Actor{Kind: KindBot, GitLab: s.cfg.Bot}, nil
}

// findLink reads the link of team/user. A request that carries no team
// (a publish of the App Home caused by the watcher) finds the user's link
// in whichever workspace they made it, when that is one.
func (s *Service) findLink(team, user string) (state.Link, bool, error) {
	if team != "" {
		l, found, err := s.cfg.Store.Link(team, user)
		if err != nil {
			return state.Link{}, false, fmt.Errorf("read link: %w", err)
		}
		return l, found, nil
	}
	all, err := s.cfg.Store.Links()
	if err != nil {
		return state.Link{}, false, fmt.Errorf("read links: %w", err)
	}
	var hit []state.Link
	for _, l := range all {
		if l.User == user {
			hit = append(hit, l)
		}
	}
	if len(hit) != 1 {
		return state.Link{}, false, nil
	}
	return hit[0], true, nil
}

// Refreshes is how many token refreshes this service made.
func (s *Service) Refreshes() int {
	s.refreshes.Lock()
	defer s.refreshes.Unlock()
	return s.refreshes.n
}
