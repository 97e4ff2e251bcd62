package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
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

// loginTTL is how long a /ci login link works.
const loginTTL = 10 * time.Minute

// cookieName binds a login to the browser that opened its start link.
const cookieName = "pipebot_oauth"

// randomString is n random bytes, URL-safe base64.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("identity: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// StartLogin records a pending login for team/user and returns the URL of
// pipebot's start page that leads to GitLab's authorization page. The
// state in it is 256 random bits, single use, bound to the Slack team and
// user, valid for 10 minutes, and stored only hashed; the PKCE verifier is
// stored sealed. slackName names the Slack user on the success page.
func (s *Service) StartLogin(_ context.Context, team, user, slackName string) (string, error) {
	if s.cfg.Mode != ModeLinked {
		return "", errors.New("identity: login is only for linked mode")
	}
	st, err := randomString(32)
	if err != nil {
		return "", err
	}
	hash := hashOf(st)
	verifier, err := s.cfg.Sealer.Seal([]byte(oauth2.GenerateVerifier()), verifierAAD(hash))
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UTC()
	if err := s.cfg.Store.PutPendingLogin(state.PendingLogin{
		StateHash: hash, Team: team, User: user, SlackName: slackName, Verifier: verifier,
		CreatedAt: now, ExpiresAt: now.Add(loginTTL),
	}); err != nil {
		return "", err
	}
	return s.cfg.OAuth.PublicURL + StartPath + "?" + url.Values{"state": {st}}.Encode(), nil
}

// ServeHTTP answers GET /gitlab/oauth/start and GET /gitlab/oauth/callback.
// Every failure is a small HTML page (400 for a bad, used or expired login
// or a denied authorization, 502 when GitLab fails), never a 500 or a
// stack trace, and stores nothing.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The callback's URL holds the code and state: no page may pass it on.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	if s.cfg.Mode != ModeLinked {
		page(w, http.StatusNotFound, "Account linking is off", "This pipebot does not link GitLab accounts (PIPEBOT_IDENTITY is not linked).")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "Open this link in your browser.")
		return
	}
	switch r.URL.Path {
	case StartPath:
		s.start(w, r)
	case CallbackPath:
		s.callback(w, r)
	default:
		page(w, http.StatusNotFound, "Not found", "There is no such page.")
	}
}

const (
	msgUnknown = "This login link is unknown or was already used. Run /ci login in Slack for a new one."
	msgExpired = "This login link has expired (they last 10 minutes). Run /ci login in Slack for a new one."
	msgBrowser = "This login was started in another browser: finish it in the browser where you opened the link from Slack, or run /ci login again."
)

// start binds the pending login to this browser with a cookie and sends
// the browser on to GitLab's authorization page.
func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	st := r.URL.Query().Get("state")
	if st == "" {
		page(w, http.StatusBadRequest, "Login link incomplete", msgUnknown)
		return
	}
	hash := hashOf(st)
	now := s.cfg.Now()
	cookie, _ := r.Cookie(cookieName)
	var newCookie, failure string
	var p state.PendingLogin
	err := s.cfg.Store.WithPendingLogin(hash, func(cur *state.PendingLogin, found bool) (state.RecordOp, error) {
		if f, op := checkPending(cur, found, now); f != "" {
			failure = f
			return op, nil
		}
		if cur.BrowserHash != "" {
			// Opened before: only the same browser may go on.
			if !sameBrowser(cur, cookie) {
				failure = msgBrowser
			}
			p = *cur
			return state.Keep, nil
		}
		c, err := randomString(32)
		if err != nil {
			return state.Keep, err
		}
		newCookie, cur.BrowserHash = c, hashOf(c)
		p = *cur
		return state.Save, nil
	})
	if err != nil {
		s.log.Error().Err(err).Msg("oauth start")
		page(w, http.StatusServiceUnavailable, "Try again", "pipebot could not read its database; try again in a moment.")
		return
	}
	if failure != "" {
		page(w, http.StatusBadRequest, "Login link not valid", failure)
		return
	}
	verifier, err := s.cfg.Sealer.Open(p.Verifier, verifierAAD(hash))
	if err != nil {
		page(w, http.StatusBadRequest, "Login link not valid", msgUnknown)
		return
	}
	if newCookie != "" {
		http.SetCookie(w, &http.Cookie{
			Name: cookieName, Value: newCookie, Path: "/gitlab/oauth/", MaxAge: int(p.ExpiresAt.Sub(now).Seconds()) + 1,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.cfg.OAuth.PublicURL, "https://"),
		})
	}
	http.Redirect(w, r, s.oauthConfig().AuthCodeURL(st, oauth2.S256ChallengeOption(string(verifier))), http.StatusFound)
}

// checkPending is what both steps of a login check first: that it exists
// and has not expired (an expired one is deleted). It returns the failure
// to show, "" when the login may go on.
func checkPending(cur *state.PendingLogin, found bool, now time.Time) (string, state.RecordOp) {
	switch {
	case !found:
		return msgUnknown, state.Keep
	case !now.Before(cur.ExpiresAt):
		return msgExpired, state.Delete
	}
	return "", state.Keep
}

// sameBrowser reports whether the request's cookie is the one the login
// was bound to at its start.
func sameBrowser(cur *state.PendingLogin, cookie *http.Cookie) bool {
	return cur.BrowserHash != "" && cookie != nil && sameHash(cur.BrowserHash, hashOf(cookie.Value))
}

func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// callback finishes a login: GitLab sent the browser back with a code (or
// an error) and the state.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st := q.Get("state")
	if st == "" {
		page(w, http.StatusBadRequest, "Login not valid", msgUnknown)
		return
	}
	hash := hashOf(st)
	now := s.cfg.Now()
	cookie, _ := r.Cookie(cookieName)
	var p state.PendingLogin
	var failure string
	err := s.cfg.Store.WithPendingLogin(hash, func(cur *state.PendingLogin, found bool) (state.RecordOp, error) {
		if f, op := checkPending(cur, found, now); f != "" {
			failure = f
			return op, nil
		}
		if !sameBrowser(cur, cookie) {
			// Not this browser's login: it stays for the right one.
			failure = msgBrowser
			return state.Keep, nil
		}
		p = *cur
		return state.Delete, nil // single use, whatever happens next
	})
	if err != nil {
		s.log.Error().Err(err).Msg("oauth callback")
		page(w, http.StatusServiceUnavailable, "Try again", "pipebot could not read its database; run /ci login again in a moment.")
		return
	}
	if failure != "" {
		page(w, http.StatusBadRequest, "Login not valid", failure)
		return
	}
	clearCookie(w)
	log := s.log.With().Str("user", p.User).Logger()
	if e := q.Get("error"); e != "" {
		log.Info().Str("error", safeWord(e)).Msg("gitlab authorization not given")
		msg := "GitLab did not authorize pipebot (" + safeWord(e) + "). Nothing was linked; run /ci login in Slack to try again."
		if e == "access_denied" {
			msg = "You denied pipebot access to your GitLab account, so nothing was linked. Run /ci login in Slack if you change your mind."
		}
		page(w, http.StatusBadRequest, "Not linked", msg)
		return
	}
	code := q.Get("code")
	verifier, err := s.cfg.Sealer.Open(p.Verifier, verifierAAD(hash))
	if code == "" || err != nil {
		page(w, http.StatusBadRequest, "Not linked", "GitLab's answer had no authorization code. Run /ci login in Slack to try again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tok, err := s.oauthConfig().Exchange(s.oauthContext(ctx), code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		log.Warn().Str("reason", oauthErrorCode(err)).Msg("oauth code exchange failed")
		page(w, http.StatusBadGateway, "Not linked", "GitLab did not accept the login ("+safeWord(oauthErrorCode(err))+"). Nothing was linked; run /ci login in Slack to try again.")
		return
	}
	u, err := s.cfg.Bot.WithOAuth(staticToken(tok.AccessToken)).CurrentUser(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("read the linked gitlab user")
		_ = s.revoke(ctx, tok.RefreshToken)
		page(w, http.StatusBadGateway, "Not linked", "GitLab did not tell pipebot who you are. Nothing was linked; run /ci login in Slack to try again.")
		return
	}
	prev, err := s.saveLink(ctx, p.Team, p.User, u, tok)
	if err != nil {
		log.Error().Err(err).Msg("store link")
		_ = s.revoke(ctx, tok.RefreshToken)
		page(w, http.StatusServiceUnavailable, "Not linked", "pipebot could not save the link; run /ci login in Slack to try again.")
		return
	}
	if prev != "" {
		_ = s.revoke(ctx, prev) // the pair of the link this one replaced
	}
	log.Info().Int64("gitlab_user_id", u.ID).Str("gitlab_user", u.Username).Msg("gitlab account linked")
	name := p.SlackName
	if name == "" {
		name = p.User
	}
	linkedPage(w, name, u.Username)
	if s.cfg.Notify != nil {
		text := fmt.Sprintf(":white_check_mark: Your Slack account is now linked to GitLab as *@%s*: the commands you type or click run as you in GitLab. `/ci logout` unlinks it.", slackEscape(u.Username))
		if err := s.cfg.Notify(context.WithoutCancel(ctx), p.User, text); err != nil {
			log.Warn().Err(err).Msg("tell the user about the link")
		}
	}
}

// saveLink stores the new link and returns the refresh token of the one
// it replaced, if any, so that it can be revoked.
func (s *Service) saveLink(ctx context.Context, team, user string, u gitlab.User, tok *oauth2.Token) (string, error) {
	unlock, err := s.cfg.Store.LockLink(ctx, team, user)
	if err != nil {
		return "", err
	}
	defer unlock()
	sl := s.cfg.Sealer
	var prev string
	_, err = s.cfg.Store.WithLink(team, user, func(l *state.Link, found bool) (state.RecordOp, error) {
		if found {
			if old, err := sl.Open(l.RefreshToken, refreshAAD(team, user)); err == nil {
				prev = string(old)
			}
		}
		if err := sl.sealTokens(l, team, user, []byte(tok.AccessToken), []byte(tok.RefreshToken)); err != nil {
			return state.Keep, err
		}
		l.GitLabUserID, l.GitLabUsername, l.Expiry = u.ID, u.Username, tok.Expiry.UTC()
		if found {
			l.CreatedAt = time.Time{} // a new link: the store stamps it now
		}
		return state.Save, nil
	})
	return prev, err
}

// staticToken is a TokenSource of one token that is not refreshed.
type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }
func (t staticToken) Refresh(context.Context, string) (string, error) {
	return "", fmt.Errorf("identity: %w: new token refused", gitlab.ErrUnauthorized)
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/gitlab/oauth/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// safeWord keeps an OAuth error code short and plain for a page or log.
func safeWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 60 {
			break
		}
		if r == '_' || r == '-' || r == ' ' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// slackEscape escapes & < > for Slack mrkdwn.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
