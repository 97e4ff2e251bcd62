package gitlab

import (
	"context"
	"fmt"
	"net/http"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// TokenSource supplies a person's OAuth access token (PIPEBOT_IDENTITY=linked).
// The identity package implements it over a stored, encrypted link.
type TokenSource interface {
	// Token returns the access token to send now, refreshed first when it
	// is about to expire.
	Token(ctx context.Context) (string, error)
	// Refresh is called once when GitLab answered 401 to rejected: it
	// returns the token to try again with (a newer one another request
	// already obtained, or a fresh one), or an error that the call then
	// returns as it is (a link GitLab no longer accepts, say).
	Refresh(ctx context.Context, rejected string) (string, error)
}

// WithOAuth returns a client that acts as the person whose OAuth token ts
// supplies: every request carries "Authorization: Bearer <token>" and never
// pipebot's own token. It shares c's transport, connections and retry
// policy, so deriving one per command costs one small allocation.
func (c *Client) WithOAuth(ts TokenSource) *Client {
	d := *c
	d.bearer, d.sudo = ts, 0
	return &d
}

// WithSudo returns a client that sends pipebot's (administrator) token with
// "Sudo: <userID>", so GitLab runs each request as that user with that
// user's permissions (doc/api/rest/authentication.md, "Sudo"). It shares
// c's transport.
func (c *Client) WithSudo(userID int64) *Client {
	d := *c
	d.bearer, d.sudo = nil, userID
	return &d
}

// SudoUser is the user a WithSudo client acts as; 0 otherwise.
func (c *Client) SudoUser() int64 { return c.sudo }

// bearerToken is the person's current token, or "" for pipebot's own.
func (c *Client) bearerToken(ctx context.Context) (string, error) {
	if c.bearer == nil {
		return "", nil
	}
	tok, err := c.bearer.Token(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", fmt.Errorf("gitlab: %w: empty oauth token", ErrUnauthorized)
	}
	return tok, nil
}

// credentialKey carries one request's credential to authSource.
type credentialKey struct{}

type credential struct {
	private string // PRIVATE-TOKEN
	bearer  string // Authorization: Bearer
}

func withCredential(ctx context.Context, private, bearer string) context.Context {
	if bearer != "" {
		private = ""
	}
	return context.WithValue(ctx, credentialKey{}, credential{private: private, bearer: bearer})
}

// authSource is client-go's AuthSource for every pipebot client: it sends
// the credential the request's context carries, so that one gl.Client
// serves pipebot's token and people's tokens alike, and a person's request
// never carries pipebot's token (client-go's own per-request WithToken
// would add the bearer header next to PRIVATE-TOKEN, not instead of it).
type authSource struct{ token string }

var _ gl.AuthSource = authSource{}

func (authSource) Init(context.Context, *gl.Client) error { return nil }

func (a authSource) Header(ctx context.Context) (string, string, error) {
	cr, ok := ctx.Value(credentialKey{}).(credential)
	if !ok {
		cr = credential{private: a.token}
	}
	switch {
	case cr.bearer != "":
		return "Authorization", "Bearer " + cr.bearer, nil
	case cr.private != "":
		return gl.AccessTokenHeaderName, cr.private, nil
	}
	// client-go skips the header on this sentinel: Unauthenticated{}'s.
	return gl.Unauthenticated{}.Header(ctx)
}

// TokenInfo is GET /personal_access_tokens/self: what pipebot's own token
// may do.
type TokenInfo struct {
	Name   string
	Scopes []string
	UserID int64
	Active bool
}

// TokenSelf reads the token the client authenticates with
// (doc/api/personal_access_tokens.md, "Get single personal access token").
func (c *Client) TokenSelf(ctx context.Context) (TokenInfo, error) {
	var w struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		UserID int64    `json:"user_id"`
		Active bool     `json:"active"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "personal_access_tokens/self", out: &w}); err != nil {
		return TokenInfo{}, fmt.Errorf("read token: %w", err)
	}
	return TokenInfo{Name: w.Name, Scopes: w.Scopes, UserID: w.UserID, Active: w.Active}, nil
}

type searchUsersQuery struct {
	Search  string `url:"search"`
	Page    int    `url:"page,omitempty"`
	PerPage int    `url:"per_page,omitempty"`
}

// SearchUsers is GET /users?search=: users whose name or username contains
// term or whose email is term (an administrator's token matches private
// emails too). GitLab's search is fuzzy: callers compare what they need.
func (c *Client) SearchUsers(ctx context.Context, term string, limit int) ([]User, error) {
	if limit <= 0 {
		limit = 20
	}
	ws, err := paginate[wireUser](ctx, c, "users", limit, func(page, perPage int) any {
		return searchUsersQuery{Search: term, Page: page, PerPage: perPage}
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	out := make([]User, 0, len(ws))
	for i := range ws {
		out = append(out, ws[i].user())
	}
	return out, nil
}
