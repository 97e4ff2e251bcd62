package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// refreshMargin is how long before its expiry an access token is refreshed
// (GitLab's last 7200 s), so a command never starts with one about to end.
const refreshMargin = time.Minute

// oauthConfig is the GitLab application as golang.org/x/oauth2 sees it.
func (s *Service) oauthConfig() *oauth2.Config {
	o := s.cfg.OAuth
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL: o.GitLabURL + "/oauth/authorize", TokenURL: o.GitLabURL + "/oauth/token",
			// GitLab (Doorkeeper) takes the credentials in the form; this
			// saves auto-detection's failed first try.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: o.PublicURL + CallbackPath,
		Scopes:      []string{"api"},
	}
}

// oauthContext makes x/oauth2 use the service's HTTP client.
func (s *Service) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTPClient)
}

// linkSource is the gitlab.TokenSource of a linked user: the access token
// of their stored link, refreshed shortly before it expires and when
// GitLab answers 401.
type linkSource struct {
	s          *Service
	team, user string
}

var _ gitlab.TokenSource = (*linkSource)(nil)

func (ls *linkSource) Token(ctx context.Context) (string, error) {
	s := ls.s
	l, found, err := s.cfg.Store.Link(ls.team, ls.user)
	if err != nil {
		return "", fmt.Errorf("read link: %w", err)
	}
	if !found {
		// Logged out (or dropped) while the command ran.
		return "", ErrNotLinked
	}
	access, err := s.cfg.Sealer.Open(l.AccessToken, accessAAD(l.Team, l.User))
	if err != nil {
		return "", fmt.Errorf("open link of %s: %w", ls.user, err)
	}
	if !l.Expiry.IsZero() && s.cfg.Now().Add(refreshMargin).After(l.Expiry) {
		return s.refresh(ctx, ls.team, ls.user, string(access))
	}
	return string(access), nil
}

func (ls *linkSource) Refresh(ctx context.Context, rejected string) (string, error) {
	return ls.s.refresh(ctx, ls.team, ls.user, rejected)
}

// refresh replaces the link's token pair with a new one, unless another
// request already did since stale was read; one refresh runs at a time per
// link (GitLab rotates the refresh token: two refreshes with the same one
// would lose the link). A link GitLab refuses is deleted: ErrLinkRevoked.
func (s *Service) refresh(ctx context.Context, team, user, stale string) (string, error) {
	unlock, err := s.cfg.Store.LockLink(ctx, team, user)
	if err != nil {
		return "", err
	}
	defer unlock()
	l, found, err := s.cfg.Store.Link(team, user)
	if err != nil {
		return "", fmt.Errorf("read link: %w", err)
	}
	if !found {
		return "", ErrLinkRevoked
	}
	sl := s.cfg.Sealer
	access, err := sl.Open(l.AccessToken, accessAAD(l.Team, l.User))
	if err != nil {
		return "", fmt.Errorf("open link of %s: %w", user, err)
	}
	if string(access) != stale && s.cfg.Now().Add(refreshMargin).Before(l.Expiry) {
		return string(access), nil // refreshed while this request waited
	}
	refreshTok, err := sl.Open(l.RefreshToken, refreshAAD(l.Team, l.User))
	if err != nil {
		return "", fmt.Errorf("open link of %s: %w", user, err)
	}
	// An expiry in the past makes the TokenSource refresh; what it
	// returns (not an earlier exchange's answer) is the newest pair, and
	// it keeps the old refresh token if GitLab sent none.
	old := &oauth2.Token{AccessToken: string(access), RefreshToken: string(refreshTok), Expiry: time.Unix(1, 0)}
	s.refreshes.Lock()
	s.refreshes.n++
	s.refreshes.Unlock()
	tok, err := s.oauthConfig().TokenSource(s.oauthContext(ctx), old).Token()
	if err != nil {
		if refused(err) {
			s.dropLink(team, user, l.Version)
			s.log.Info().Str("user", user).Str("reason", oauthErrorCode(err)).Msg("gitlab refused the link's refresh token; link dropped")
			return "", ErrLinkRevoked
		}
		return "", fmt.Errorf("refresh gitlab token: %w: %s", gitlab.ErrUnavailable, oauthErrorCode(err))
	}
	if err := s.storeTokens(team, user, l.Version, tok); err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// storeTokens seals tok into the link, if it is still the version read.
func (s *Service) storeTokens(team, user string, version int64, tok *oauth2.Token) error {
	sl := s.cfg.Sealer
	_, err := s.cfg.Store.WithLink(team, user, func(l *state.Link, found bool) (state.RecordOp, error) {
		if !found {
			return state.Keep, ErrLinkRevoked // logged out meanwhile
		}
		if l.Version != version {
			return state.Keep, errors.New("identity: link changed during its refresh")
		}
		if err := sl.sealTokens(l, l.Team, l.User, []byte(tok.AccessToken), []byte(tok.RefreshToken)); err != nil {
			return state.Keep, err
		}
		l.Expiry = tok.Expiry.UTC()
		return state.Save, nil
	})
	if err != nil {
		return fmt.Errorf("store refreshed link: %w", err)
	}
	return nil
}

// dropLink deletes a link GitLab refused, unless it changed since version.
func (s *Service) dropLink(team, user string, version int64) {
	_, err := s.cfg.Store.WithLink(team, user, func(l *state.Link, found bool) (state.RecordOp, error) {
		if !found || l.Version != version {
			return state.Keep, nil
		}
		return state.Delete, nil
	})
	if err != nil {
		s.log.Error().Err(err).Str("user", user).Msg("drop refused link")
	}
}

// refused reports whether the token endpoint refused the grant itself
// (invalid_grant, a revoked or unknown refresh token; invalid_client), as
// opposed to GitLab being unreachable.
func refused(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	if re.ErrorCode != "" {
		return re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client"
	}
	return re.Response != nil && (re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusUnauthorized)
}

// oauthErrorCode describes an OAuth failure without its response body.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return re.ErrorCode
		}
		if re.Response != nil {
			return "status " + re.Response.Status
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "request failed"
}

// LogoutResult says what /ci logout did.
type LogoutResult struct {
	// Linked is false when the user had no link.
	Linked   bool
	Username string
	// RevokeErr is set when GitLab could not be told to revoke the tokens
	// (the link is deleted all the same).
	RevokeErr error
}

// Logout deletes the user's link and revokes its tokens at GitLab
// (POST /oauth/revoke with the application's credentials; GitLab revokes
// the pair). The link is deleted even when GitLab cannot be reached.
func (s *Service) Logout(ctx context.Context, team, user string) (LogoutResult, error) {
	if s.cfg.Mode != ModeLinked {
		return LogoutResult{}, nil
	}
	unlock, err := s.cfg.Store.LockLink(ctx, team, user)
	if err != nil {
		return LogoutResult{}, err
	}
	var gone state.Link
	_, err = s.cfg.Store.WithLink(team, user, func(l *state.Link, found bool) (state.RecordOp, error) {
		if !found {
			return state.Keep, nil
		}
		gone = *l
		return state.Delete, nil
	})
	unlock()
	if err != nil {
		return LogoutResult{}, err
	}
	if gone.User == "" {
		return LogoutResult{}, nil
	}
	res := LogoutResult{Linked: true, Username: gone.GitLabUsername}
	tok, err := s.cfg.Sealer.Open(gone.RefreshToken, refreshAAD(gone.Team, gone.User))
	if err != nil {
		tok, err = s.cfg.Sealer.Open(gone.AccessToken, accessAAD(gone.Team, gone.User))
	}
	if err != nil {
		res.RevokeErr = err
		return res, nil
	}
	res.RevokeErr = s.revoke(ctx, string(tok))
	return res, nil
}

// revoke is POST /oauth/revoke (RFC 7009) with the client credentials.
func (s *Service) revoke(ctx context.Context, token string) error {
	form := url.Values{"token": {token}, "client_id": {s.cfg.OAuth.ClientID}, "client_secret": {s.cfg.OAuth.ClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.OAuth.GitLabURL+"/oauth/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		return errors.New("build revoke request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is not secret, but keep errors short
		}
		return fmt.Errorf("revoke at gitlab: %w: %v", gitlab.ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoke at gitlab: status %d", resp.StatusCode)
	}
	return nil
}
