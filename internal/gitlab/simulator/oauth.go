package simulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OAuth 2 provider as GitLab runs it (doc/api/oauth2.md, Doorkeeper):
// authorization code grant with PKCE, refresh with rotation, revocation.
const (
	oauthCodeTTL  = 10 * time.Minute
	oauthTokenTTL = 7200 * time.Second

	invalidGrantText  = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	invalidClientText = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	accessDeniedText  = "The resource owner or authorization server denied the request."
)

// GitLab's APIGuard answers an expired or revoked token with Rack::OAuth2's
// Bearer Unauthorized: the JSON body and a WWW-Authenticate challenge.
var (
	errOAuthExpired = invalidToken("Token is expired. You can either do re-authorization or token refresh.")
	errOAuthRevoked = invalidToken("Token was revoked. You have to re-authorize from the user.")
)

func invalidToken(desc string) *apiError {
	return &apiError{status: http.StatusUnauthorized,
		body:         map[string]string{"error": "invalid_token", "error_description": desc},
		authenticate: `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="` + desc + `"`}
}

type oauthApp struct {
	clientID, secret, redirectURI string
	scopes                        []string
}

type oauthGrant struct {
	clientID, redirectURI, scope string
	challenge, method            string
	userID                       int64
	expiresAt                    time.Time
	used                         bool
}

type oauthToken struct {
	access, refresh, clientID, scope string
	userID                           int64
	createdAt, expiresAt             time.Time
	revoked                          bool
}

type oauthState struct {
	apps        map[string]*oauthApp
	codes       map[string]*oauthGrant
	access      map[string]*oauthToken
	refresh     map[string]*oauthToken
	browserUser int64
	tokenReqs   map[string]int // by grant_type
}

func (s *Server) oauthInit() {
	if s.oauth.apps == nil {
		s.oauth = oauthState{apps: map[string]*oauthApp{}, codes: map[string]*oauthGrant{},
			access: map[string]*oauthToken{}, refresh: map[string]*oauthToken{}, tokenReqs: map[string]int{}}
	}
}

// AddOAuthApp registers a confidential OAuth application (Admin > Applications).
func (s *Server) AddOAuthApp(clientID, secret, redirectURI string, scopes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthInit()
	s.oauth.apps[clientID] = &oauthApp{clientID: clientID, secret: secret, redirectURI: redirectURI, scopes: append([]string(nil), scopes...)}
}

// SetBrowserUser signs a browser user in for /oauth/authorize; 0 signs out,
// and the page then asks for a username.
func (s *Server) SetBrowserUser(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.browserUser = userID
}

// OAuthTokenRequests counts POST /oauth/token requests with grantType
// ("authorization_code", "refresh_token"; "" for all).
func (s *Server) OAuthTokenRequests(grantType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grantType != "" {
		return s.oauth.tokenReqs[grantType]
	}
	n := 0
	for _, v := range s.oauth.tokenReqs {
		n += v
	}
	return n
}

// ExpireOAuthTokens makes every access token of userID expired now.
func (s *Server) ExpireOAuthTokens(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.oauth.access {
		if t.userID == userID {
			t.expiresAt = s.clock()
		}
	}
}

// RevokeOAuthTokens revokes every token pair of userID (as when the user
// revokes the application in their settings).
func (s *Server) RevokeOAuthTokens(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.oauth.access {
		if t.userID == userID {
			t.revoked = true
		}
	}
}

// LiveOAuthTokens counts userID's access tokens neither revoked nor expired.
func (s *Server) LiveOAuthTokens(userID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.oauth.access {
		if t.userID == userID && !t.revoked && s.clock().Before(t.expiresAt) {
			n++
		}
	}
	return n
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthInit()
	switch {
	case r.URL.Path == "/oauth/authorize" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.authorize(w, r)
	case r.URL.Path == "/oauth/token" && r.Method == http.MethodPost:
		s.tokenEndpoint(w, r)
	case r.URL.Path == "/oauth/revoke" && r.Method == http.MethodPost:
		s.revokeEndpoint(w, r)
	case r.URL.Path == "/oauth/token/info" && r.Method == http.MethodGet:
		s.tokenInfo(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
}

// oauthForm reads the request's parameters: the query, then a form or
// JSON body (Rails merges them).
func oauthForm(r *http.Request) url.Values {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		v := r.URL.Query()
		var m map[string]any
		if json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&m) == nil {
			for k, x := range m {
				if str, ok := x.(string); ok {
					v.Set(k, str)
				}
			}
		}
		return v
	}
	_ = r.ParseForm()
	return r.Form
}

var authorizePage = template.Must(template.New("a").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Authorize {{.Client}}</title></head>
<body><main>
<h1>Authorize {{.Client}} to use your account?</h1>
{{if .User}}<p>Signed in as <strong>@{{.User}}</strong>.</p>{{end}}
<p>This application will be able to: {{.Scope}}</p>
<form method="post" action="/oauth/authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}{{if not .User}}<label>Username <input type="text" name="username" autocomplete="username"></label>
{{end}}<button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></main></body></html>
`))

var errorPage = template.Must(template.New("e").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>An error has occurred</title></head>
<body><h1>An error has occurred</h1><p>{{.}}</p></body></html>
`))

func htmlError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, msg)
}

// authorize is GET /oauth/authorize (the approval page) and its form's
// POST. An unknown client or a redirect_uri that is not the application's
// gets an error page, never a redirect; other errors redirect back with
// error= and state=.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := oauthForm(r)
	app := s.oauth.apps[q.Get("client_id")]
	if app == nil {
		htmlError(w, http.StatusBadRequest, invalidClientText)
		return
	}
	if q.Get("redirect_uri") != app.redirectURI {
		htmlError(w, http.StatusBadRequest, "The requested redirect uri is malformed or doesn't match client redirect URI.")
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		sep := "?"
		if strings.Contains(app.redirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, app.redirectURI+sep+params.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "The authorization server does not support this response type.")
		return
	}
	scope := q.Get("scope")
	if scope == "" {
		scope = strings.Join(app.scopes, " ")
	}
	for _, sc := range strings.Fields(scope) {
		if !contains(app.scopes, sc) {
			fail("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
			return
		}
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method == "" {
		method = "plain"
	}
	if method != "" && method != "S256" && method != "plain" {
		fail("invalid_request", "The code challenge method must be plain or S256.")
		return
	}
	user := s.users[s.oauth.browserUser]
	if r.Method == http.MethodGet {
		hidden := map[string]string{}
		for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
			if v := q.Get(k); v != "" {
				hidden[k] = v
			}
		}
		data := struct {
			Client, User, Scope string
			Hidden              map[string]string
		}{Client: app.clientID, Scope: scope, Hidden: hidden}
		if user != nil {
			data.User = user.Username
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authorizePage.Execute(w, data)
		return
	}
	if q.Get("decision") != "authorize" {
		fail("access_denied", accessDeniedText)
		return
	}
	if user == nil {
		user = s.userByIDOrUsername(strings.TrimSpace(q.Get("username")))
		if user == nil || q.Get("username") == "" {
			htmlError(w, http.StatusUnauthorized, "Invalid login or password.")
			return
		}
	}
	if user.State == "blocked" {
		htmlError(w, http.StatusForbidden, "Your account has been blocked.")
		return
	}
	code := randomToken()
	s.oauth.codes[code] = &oauthGrant{clientID: app.clientID, redirectURI: app.redirectURI, scope: scope,
		challenge: q.Get("code_challenge"), method: method, userID: user.ID, expiresAt: s.clock().Add(oauthCodeTTL)}
	back(url.Values{"code": {code}})
}

func oauthJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// client authenticates the application from HTTP Basic or the form.
func (s *Server) client(r *http.Request, q url.Values) *oauthApp {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = q.Get("client_id"), q.Get("client_secret")
	}
	app := s.oauth.apps[id]
	if app == nil || subtle.ConstantTimeCompare([]byte(app.secret), []byte(secret)) != 1 {
		return nil
	}
	return app
}

func pkceOK(g *oauthGrant, verifier string) bool {
	switch g.method {
	case "":
		return true
	case "plain":
		return verifier != "" && verifier == g.challenge
	}
	sum := sha256.Sum256([]byte(verifier))
	return verifier != "" && base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
}

// tokenEndpoint is POST /oauth/token.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	q := oauthForm(r)
	grant := q.Get("grant_type")
	s.oauth.tokenReqs[grant]++
	app := s.client(r, q)
	if app == nil {
		oauthJSONError(w, http.StatusUnauthorized, "invalid_client", invalidClientText)
		return
	}
	var userID int64
	var scope string
	switch grant {
	case "authorization_code":
		if q.Get("code") == "" {
			oauthJSONError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code.")
			return
		}
		g := s.oauth.codes[q.Get("code")]
		if g == nil || g.used || !s.clock().Before(g.expiresAt) || g.clientID != app.clientID ||
			q.Get("redirect_uri") != g.redirectURI || !pkceOK(g, q.Get("code_verifier")) {
			oauthJSONError(w, http.StatusBadRequest, "invalid_grant", invalidGrantText)
			return
		}
		g.used = true
		userID, scope = g.userID, g.scope
	case "refresh_token":
		old := s.oauth.refresh[q.Get("refresh_token")]
		if old == nil || old.revoked || old.clientID != app.clientID {
			oauthJSONError(w, http.StatusBadRequest, "invalid_grant", invalidGrantText)
			return
		}
		old.revoked = true // rotation: the old pair stops working
		userID, scope = old.userID, old.scope
	default:
		oauthJSONError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	t := s.grantOAuthToken(app.clientID, userID, scope)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": t.access, "token_type": "Bearer", "expires_in": int(oauthTokenTTL.Seconds()),
		"refresh_token": t.refresh, "scope": scope, "created_at": t.createdAt.Unix(),
	})
}

// grantOAuthToken issues userID a new access and refresh token pair of the
// application clientID, valid for oauthTokenTTL. s.mu is held.
func (s *Server) grantOAuthToken(clientID string, userID int64, scope string) *oauthToken {
	now := s.clock()
	t := &oauthToken{access: randomToken(), refresh: randomToken(), clientID: clientID, scope: scope,
		userID: userID, createdAt: now, expiresAt: now.Add(oauthTokenTTL)}
	s.oauth.access[t.access], s.oauth.refresh[t.refresh] = t, t
	return t
}

// revokeEndpoint is POST /oauth/revoke (RFC 7009, Doorkeeper's
// TokensController#revoke): the client is authenticated first (403
// unauthorized_client otherwise), then the access or refresh token's pair
// is revoked; an unknown token still answers 200 {}.
func (s *Server) revokeEndpoint(w http.ResponseWriter, r *http.Request) {
	q := oauthForm(r)
	app := s.client(r, q)
	if app == nil {
		oauthJSONError(w, http.StatusForbidden, "unauthorized_client", "You are not authorized to revoke this token")
		return
	}
	tok := q.Get("token")
	t := s.oauth.access[tok]
	if t == nil {
		t = s.oauth.refresh[tok]
	}
	if t != nil {
		if t.clientID != app.clientID {
			oauthJSONError(w, http.StatusForbidden, "unauthorized_client", "You are not authorized to revoke this token")
			return
		}
		t.revoked = true
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// tokenInfo is GET /oauth/token/info (doc/api/oauth2.md, "Retrieve the
// token information") for the Bearer access token.
func (s *Server) tokenInfo(w http.ResponseWriter, r *http.Request) {
	t := s.oauth.access[tokenOf(r)]
	switch {
	case t == nil:
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
		return
	case t.revoked:
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token was revoked")
		return
	case !s.clock().Before(t.expiresAt):
		oauthJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token expired")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resource_owner_id": t.userID, "scope": strings.Fields(t.scope),
		"expires_in": int(t.expiresAt.Sub(s.clock()).Seconds()), "application": map[string]string{"uid": t.clientID},
		"created_at": t.createdAt.Unix(),
	})
}

// IssueOAuthToken grants userID a token pair of the application clientID
// as a finished authorization would (for tests that do not drive the
// approval page); it returns "" when the application or user is unknown.
func (s *Server) IssueOAuthToken(clientID string, userID int64, scope string) (access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauthInit()
	if s.oauth.apps[clientID] == nil || s.users[userID] == nil {
		return "", ""
	}
	t := s.grantOAuthToken(clientID, userID, scope)
	return t.access, t.refresh
}
