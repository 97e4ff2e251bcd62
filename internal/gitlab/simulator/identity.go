package simulator

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credential kinds recorded on each Request.
const (
	CredentialNone    = ""
	CredentialPAT     = "pat"     // a personal access token (PRIVATE-TOKEN or Bearer)
	CredentialOAuth   = "oauth"   // an OAuth 2 access token (Bearer)
	CredentialTrigger = "trigger" // a pipeline trigger token
)

// identity is who a request authenticated as and who it acts as.
type identity struct {
	token      string
	credential string
	tokenUser  int64 // the token's owner
	acting     int64 // the user the request acts as (the sudo target with Sudo)
	sudo       bool
}

// authenticate resolves the request's token and Sudo header as GitLab's API
// does (doc/api/rest/authentication.md, "Sudo"): PRIVATE-TOKEN takes personal
// access tokens, Authorization: Bearer takes personal access tokens and OAuth
// access tokens; a blocked user is refused with 403; Sudo (header or sudo
// parameter) needs an administrator and names a user by id or username.
func (s *Server) authenticate(r *http.Request, id *identity) (*User, *apiError) {
	token := id.token
	if token == "" {
		return nil, errUnauthorized
	}
	uid, at, ok := s.tokenOwner(r, token)
	switch {
	case !ok:
		return nil, errUnauthorized
	case at != nil:
		if at.revoked {
			return nil, errOAuthRevoked
		}
		if !s.clock().Before(at.expiresAt) {
			return nil, errOAuthExpired
		}
		id.credential = CredentialOAuth
	default:
		id.credential = CredentialPAT
	}
	user, ok := s.users[uid]
	if !ok {
		return nil, errUnauthorized
	}
	id.tokenUser, id.acting = user.ID, user.ID
	if user.State == "blocked" {
		return nil, errBlocked
	}
	scopes := s.scopesOf(id)
	sudo := r.Header.Get("Sudo")
	if sudo == "" {
		sudo = r.URL.Query().Get("sudo")
	}
	if sudo == "" {
		return user, needScope(r, scopes)
	}
	// API::Helpers#sudo!: admin first, then the token's sudo scope, then
	// the user named by id or username.
	if !user.IsAdmin {
		return nil, msgError(http.StatusForbidden, "403 Forbidden - Must be admin to use sudo")
	}
	if !contains(scopes, "sudo") {
		return nil, insufficientScope("sudo")
	}
	target := s.userByIDOrUsername(sudo)
	if target == nil {
		return nil, msgError(http.StatusNotFound, "404 User with ID or username '"+sudo+"' Not Found")
	}
	id.acting, id.sudo = target.ID, true
	if target.State == "blocked" {
		return nil, errBlocked
	}
	return target, nil
}

// tokenOwner is the user a token belongs to: without PRIVATE-TOKEN an OAuth
// access token (returned as at, revoked or expired alike) is looked up
// first, then a personal access token. s.mu is held.
func (s *Server) tokenOwner(r *http.Request, token string) (uid int64, at *oauthToken, ok bool) {
	if r.Header.Get("PRIVATE-TOKEN") == "" {
		if at, ok := s.oauth.access[token]; ok {
			return at.userID, at, true
		}
	}
	uid, ok = s.tokens[token]
	return uid, nil, ok
}

// scopesOf is the token's scopes: set by SetTokenScopes or granted to the
// OAuth token; a personal access token without explicit scopes has "api",
// and "sudo" too when its owner is an administrator.
func (s *Server) scopesOf(id *identity) []string {
	if id.credential == CredentialOAuth {
		return strings.Fields(s.oauth.access[id.token].scope)
	}
	if sc, ok := s.tokenScopes[id.token]; ok {
		return sc
	}
	if u := s.users[id.tokenUser]; u != nil && u.IsAdmin {
		return []string{"api", "sudo"}
	}
	return []string{"api"}
}

func insufficientScope(scope string) *apiError {
	return &apiError{status: http.StatusForbidden, body: map[string]string{
		"error":             "insufficient_scope",
		"error_description": "The request requires higher privileges than provided by the access token.",
		"scope":             scope,
	}}
}

// needScope is the endpoint's allow_access_with_scope: api allows all;
// read_api allows reads; read_user allows reading /user and /users.
func needScope(r *http.Request, scopes []string) *apiError {
	if contains(scopes, "api") {
		return nil
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if read && contains(scopes, "read_api") {
		return nil
	}
	p := r.URL.Path
	if read && contains(scopes, "read_user") && (p == "/api/v4/user" || strings.HasPrefix(p, "/api/v4/users")) {
		return nil
	}
	if read {
		return insufficientScope("api read_api")
	}
	return insufficientScope("api")
}

// SetTokenScopes restricts a personal access token to scopes ("api",
// "read_api", "read_user", "sudo", ...).
func (s *Server) SetTokenScopes(token string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenScopes == nil {
		s.tokenScopes = map[string][]string{}
	}
	s.tokenScopes[token] = append([]string(nil), scopes...)
}

// tokenSelf answers GET /personal_access_tokens/self
// (doc/api/personal_access_tokens.md) for a personal access token.
func (s *Server) tokenSelf(c *call, id *identity) *apiError {
	if id.credential != CredentialPAT {
		return errFileNotFound
	}
	sum := 0
	for _, b := range []byte(id.token) {
		sum = (sum*31 + int(b)) % 100000
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"id": sum + 1, "name": "simulator token", "revoked": false, "active": true,
		"created_at": ts(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), "description": nil,
		"scopes": s.scopesOf(id), "user_id": id.tokenUser, "last_used_at": nil, "expires_at": nil,
	})
	return nil
}

var errBlocked = msgError(http.StatusForbidden, "403 Forbidden - Your account has been blocked.")

func (s *Server) userByIDOrUsername(v string) *User {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return s.users[n]
	}
	for _, id := range s.userOrder {
		if u := s.users[id]; strings.EqualFold(u.Username, v) {
			return u
		}
	}
	return nil
}

// SetUserState sets a user's state ("active" or "blocked").
func (s *Server) SetUserState(userID int64, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		u.State = state
	}
}

// CountCalls counts recorded API requests (under /api/v4) sent with token.
func (s *Server) CountCalls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.TokenValue == token && strings.HasPrefix(r.Path, "/api/v4/") {
			n++
		}
	}
	return n
}

// CountActingAs counts recorded API requests that acted as userID (through
// the user's own token, an OAuth token or Sudo).
func (s *Server) CountActingAs(userID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.ActingUserID == userID {
			n++
		}
	}
	return n
}

// matchUserSearch applies GET /users?search= as GitLab's User.search does:
// name or username contain the term (case-insensitive), or the public email
// equals it; with admin, the primary email equals it too.
func matchUserSearch(u *User, q string, admin bool) bool {
	if q == "" {
		return true
	}
	q = strings.TrimPrefix(q, "@")
	lq := strings.ToLower(q)
	switch {
	case strings.Contains(strings.ToLower(u.Username), lq), strings.Contains(strings.ToLower(u.Name), lq):
		return true
	case u.PublicEmail != "" && strings.EqualFold(u.PublicEmail, q):
		return true
	case admin && strings.EqualFold(u.Email, q):
		return true
	}
	return false
}

// adminUserJSON is a user as an administrator sees it in GET /users and
// GET /users/:id (Entities::UserWithAdmin): with the private email.
type adminUserJSON struct {
	userFullJSON
	Locked  bool   `json:"locked"`
	Email   string `json:"email"`
	IsAdmin bool   `json:"is_admin"`
}

func (s *Server) adminUser(u *User) adminUserJSON {
	full := s.userFull(u.ID)
	full.PublicEmail = u.PublicEmail
	return adminUserJSON{userFullJSON: *full, Locked: u.State == "blocked", Email: u.Email, IsAdmin: u.IsAdmin}
}

// listUsers answers GET /users with username= and search= filters, newest
// first; administrators get the private fields.
func (s *Server) listUsers(c *call) *apiError {
	q := c.r.URL.Query()
	username, search := q.Get("username"), q.Get("search")
	admin := c.user.IsAdmin
	var plain []userListJSON
	var full []adminUserJSON
	for i := len(s.userOrder) - 1; i >= 0; i-- {
		u := s.users[s.userOrder[i]]
		if username != "" && !strings.EqualFold(u.Username, username) {
			continue
		}
		if !matchUserSearch(u, search, admin) {
			continue
		}
		if admin {
			full = append(full, s.adminUser(u))
		} else {
			plain = append(plain, s.userList(u))
		}
	}
	if search != "" {
		// User.search's order: exact public email, username, name, then by
		// name and id.
		q := strings.ToLower(strings.TrimPrefix(search, "@"))
		rank := func(id int64) int {
			u := s.users[id]
			switch {
			case strings.ToLower(u.PublicEmail) == q:
				return 0
			case strings.ToLower(u.Username) == q:
				return 1
			case strings.ToLower(u.Name) == q:
				return 2
			}
			return 3
		}
		less := func(a, b int64) bool {
			ra, rb := rank(a), rank(b)
			if ra != rb {
				return ra < rb
			}
			if na, nb := s.users[a].Name, s.users[b].Name; na != nb {
				return na < nb
			}
			return a < b
		}
		sort.SliceStable(full, func(i, k int) bool { return less(full[i].ID, full[k].ID) })
		sort.SliceStable(plain, func(i, k int) bool { return less(plain[i].ID, plain[k].ID) })
	}
	if admin {
		return writePage(c, full)
	}
	return writePage(c, plain)
}

// getUser answers GET /users/:id. Like GitLab for a non-admin token, it shows
// public_email (set when the user made the email public) and never email;
// an administrator also sees email and is_admin.
func (s *Server) getUser(c *call, idStr string) *apiError {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return msgError(404, "404 User Not Found")
	}
	u, ok := s.users[id]
	if !ok {
		return msgError(404, "404 User Not Found")
	}
	if c.user.IsAdmin {
		writeJSON(c.w, 200, s.adminUser(u))
		return nil
	}
	full := s.userFull(id)
	full.PublicEmail = u.PublicEmail
	writeJSON(c.w, 200, full)
	return nil
}

// currentUser answers GET /user for the acting user; is_admin appears only
// for administrators (Entities::UserWithAdmin), as in GitLab.
func (s *Server) currentUser(c *call) *apiError {
	u := c.user
	out := currentUserJSON{
		userFullJSON: *s.userFull(u.ID), Locked: u.State == "blocked", Email: u.Email,
	}
	out.PublicEmail = u.PublicEmail
	if u.IsAdmin {
		t := true
		out.IsAdmin = &t
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}
