package simulator

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	appID     = "pipebot-app"
	appSecret = "pipebot-secret"
	appCB     = "http://127.0.0.1:8080/gitlab/oauth/callback"
)

func oauthFixture(t *testing.T) (*fixture, *oauth2.Config) {
	t.Helper()
	f := newFixture(t)
	f.sim.AddOAuthApp(appID, appSecret, appCB, []string{"api", "read_user"})
	conf := &oauth2.Config{
		ClientID: appID, ClientSecret: appSecret, RedirectURL: appCB, Scopes: []string{"api"},
		Endpoint: oauth2.Endpoint{AuthURL: f.ts.URL + "/oauth/authorize", TokenURL: f.ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	return f, conf
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// approve loads the authorization page at authURL, submits its form with
// decision (and username when the page asks) the way a browser would, and
// returns the redirect target without following it.
func (f *fixture) approve(t *testing.T, authURL, decision, username string) *url.URL {
	t.Helper()
	page := f.send(t, "GET", strings.TrimPrefix(authURL, f.ts.URL), nil, "")
	body := string(page.body)
	if page.status != 200 || !strings.Contains(body, `<form method="post" action="/oauth/authorize">`) ||
		!strings.Contains(body, `<button type="submit" name="decision" value="authorize">Authorize</button>`) ||
		!strings.Contains(body, `value="deny">Deny</button>`) {
		t.Fatalf("authorization page: %d %s", page.status, body)
	}
	form := url.Values{"decision": {decision}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if strings.Contains(body, `name="username"`) {
		form.Set("username", username)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(f.ts.URL+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize POST = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestOAuthCodeFlowWithPKCEAndRefreshRotation(t *testing.T) {
	f, conf := oauthFixture(t)
	f.sim.SetBrowserUser(1)
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	loc := f.approve(t, conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)), "authorize", "")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != appCB || loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect = %s", loc)
	}
	code := loc.Query().Get("code")

	// A wrong verifier does not redeem the code, and does not burn it.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErr(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "api" || tok.Extra("expires_in") != float64(7200) || tok.Extra("created_at") == nil {
		t.Fatalf("token = %+v", tok)
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthErr(err) != "invalid_grant" {
		t.Fatalf("code reuse: %v", err)
	}
	r := f.send(t, "GET", "/api/v4/user", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, "")
	if m := r.object(t); m["username"] != "alice" {
		t.Fatalf("bearer /user: %d %v", r.status, m)
	}
	reqs := f.sim.Requests()
	if last := reqs[len(reqs)-1]; last.Credential != CredentialOAuth || last.ActingUserID != 1 || last.TokenValue != tok.AccessToken {
		t.Fatalf("record = %+v", last)
	}
	// PRIVATE-TOKEN does not take an OAuth token.
	wantMessage(t, f.do(t, "GET", "/user", tok.AccessToken, nil), 401, "401 Unauthorized")

	// Refresh through oauth2's TokenSource once the token is expired: a new
	// pair, and the old pair stops working.
	old := *tok
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == old.RefreshToken {
		t.Fatal("refresh did not rotate the pair")
	}
	stale := &oauth2.Token{RefreshToken: old.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	if _, err := conf.TokenSource(ctx, stale).Token(); oauthErr(err) != "invalid_grant" {
		t.Fatalf("old refresh token: %v", err)
	}
	wantOAuth401(t, f.send(t, "GET", "/api/v4/user", map[string]string{"Authorization": "Bearer " + old.AccessToken}, ""), "Token was revoked. You have to re-authorize from the user.")
	if r := f.send(t, "GET", "/api/v4/user", map[string]string{"Authorization": "Bearer " + fresh.AccessToken}, ""); r.status != 200 {
		t.Fatalf("new token: %d", r.status)
	}
	if a, rt := f.sim.OAuthTokenRequests("authorization_code"), f.sim.OAuthTokenRequests("refresh_token"); a != 3 || rt != 2 {
		t.Fatalf("token requests: code %d refresh %d, want 3 and 2", a, rt)
	}
	if n := f.sim.LiveOAuthTokens(1); n != 1 {
		t.Fatalf("live tokens = %d, want 1", n)
	}
}

func oauthErr(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func wantOAuth401(t *testing.T, r response, desc string) {
	t.Helper()
	m := r.object(t)
	if r.status != 401 || m["error"] != "invalid_token" || m["error_description"] != desc {
		t.Fatalf("got %d %s, want 401 invalid_token %q", r.status, r.body, desc)
	}
	if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Bearer realm=`) || !strings.Contains(h, `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", h)
	}
}

// code runs the authorization step for user 1 with an S256 challenge.
func (f *fixture) code(t *testing.T, conf *oauth2.Config, verifier string) string {
	t.Helper()
	f.sim.SetBrowserUser(1)
	return f.approve(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "authorize", "").Query().Get("code")
}

func TestOAuthTokenRefusals(t *testing.T) {
	f, conf := oauthFixture(t)
	v := oauth2.GenerateVerifier()
	post := func(form url.Values, basic bool) response {
		hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		req, _ := http.NewRequest("POST", "/", nil)
		if basic {
			req.SetBasicAuth(appID, appSecret)
			hdr["Authorization"] = req.Header.Get("Authorization")
		}
		return f.send(t, "POST", "/oauth/token", hdr, form.Encode())
	}
	base := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appCB},
			"code_verifier": {v}, "client_id": {appID}, "client_secret": {appSecret}}
	}
	cases := []struct {
		name   string
		edit   func(url.Values)
		basic  bool
		status int
		err    string
	}{
		{"wrong secret", func(q url.Values) { q.Set("client_secret", "nope") }, false, 401, "invalid_client"},
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, false, 401, "invalid_client"},
		{"redirect_uri differs", func(q url.Values) { q.Set("redirect_uri", appCB+"x") }, false, 400, "invalid_grant"},
		{"no verifier", func(q url.Values) { q.Del("code_verifier") }, false, 400, "invalid_grant"},
		{"unknown code", func(q url.Values) { q.Set("code", "forged") }, false, 400, "invalid_grant"},
		{"no code", func(q url.Values) { q.Del("code") }, false, 400, "invalid_request"},
		{"unsupported grant", func(q url.Values) { q.Set("grant_type", "password") }, false, 400, "unsupported_grant_type"},
		{"HTTP Basic client auth", func(q url.Values) { q.Del("client_id"); q.Del("client_secret") }, true, 200, ""},
	}
	code := f.code(t, conf, v)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := base(code)
			tc.edit(q)
			r := post(q, tc.basic)
			m := r.object(t)
			if r.status != tc.status || (tc.err != "" && m["error"] != tc.err) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.err)
			}
			if tc.err == "invalid_grant" && !strings.HasPrefix(m["error_description"].(string), "The provided authorization grant is invalid") {
				t.Fatalf("description = %v", m["error_description"])
			}
		})
	}
	// A code is good for ten minutes.
	code = f.code(t, conf, v)
	f.clock.Add(10*time.Minute + time.Second)
	if r := post(base(code), false); r.status != 400 || r.object(t)["error"] != "invalid_grant" {
		t.Fatalf("expired code: %d %s", r.status, r.body)
	}
}

func TestOAuthAuthorizePage(t *testing.T) {
	f, conf := oauthFixture(t)
	noRedirect := func(path string) response {
		r := f.send(t, "GET", path, nil, "")
		if r.header.Get("Location") != "" {
			t.Fatalf("%s redirected to %s", path, r.header.Get("Location"))
		}
		return r
	}
	q := url.Values{"client_id": {appID}, "redirect_uri": {appCB}, "response_type": {"code"}, "state": {"s"}}
	bad := url.Values{"client_id": {"evil"}, "redirect_uri": {appCB}, "response_type": {"code"}}
	if r := noRedirect("/oauth/authorize?" + bad.Encode()); r.status != 400 || !strings.Contains(string(r.body), "unknown client") {
		t.Fatalf("unknown client: %d %s", r.status, r.body)
	}
	bad = url.Values{"client_id": {appID}, "redirect_uri": {"https://evil.example/cb"}, "response_type": {"code"}}
	if r := noRedirect("/oauth/authorize?" + bad.Encode()); r.status != 400 || !strings.Contains(string(r.body), "redirect uri") {
		t.Fatalf("foreign redirect_uri: %d %s", r.status, r.body)
	}

	// Deny sends the browser back with access_denied and the state.
	f.sim.SetBrowserUser(2)
	loc := f.approve(t, conf.AuthCodeURL("deny-state"), "deny", "")
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "deny-state" || loc.Query().Get("code") != "" ||
		loc.Query().Get("error_description") == "" {
		t.Fatalf("deny redirect = %s", loc)
	}
	// Without a signed-in browser user the page asks for a username.
	f.sim.SetBrowserUser(0)
	loc = f.approve(t, conf.AuthCodeURL("s2"), "authorize", "bob")
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if m := f.send(t, "GET", "/api/v4/user", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, "").object(t); m["username"] != "bob" {
		t.Fatalf("signed in as %v", m["username"])
	}
	// Errors after the client is known go back to the client.
	for _, tc := range []struct{ key, value, want string }{
		{"response_type", "token", "unsupported_response_type"},
		{"scope", "admin_mode", "invalid_scope"},
		{"code_challenge_method", "S512", "invalid_request"},
	} {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set(tc.key, tc.value)
		if tc.key == "code_challenge_method" {
			qq.Set("code_challenge", "x")
		}
		r := f.send(t, "GET", "/oauth/authorize?"+qq.Encode(), nil, "")
		got, _ := url.Parse(r.header.Get("Location"))
		if r.status != 302 || got == nil || got.Query().Get("error") != tc.want || got.Query().Get("state") != "s" {
			t.Fatalf("%s=%s: %d %s", tc.key, tc.value, r.status, r.header.Get("Location"))
		}
	}
	// Text from the request is escaped in the page.
	qq := url.Values{"client_id": {appID}, "redirect_uri": {appCB}, "response_type": {"code"}, "state": {`"><script>x</script>`}}
	page := f.send(t, "GET", "/oauth/authorize?"+qq.Encode(), nil, "")
	if strings.Contains(string(page.body), "<script>") {
		t.Fatalf("state not escaped: %s", page.body)
	}
}

func TestOAuthExpiryAndRevocation(t *testing.T) {
	f, conf := oauthFixture(t)
	ctx := context.Background()
	v := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(ctx, f.code(t, conf, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tk string) response {
		return f.send(t, "GET", "/api/v4/projects/7/pipelines", map[string]string{"Authorization": "Bearer " + tk}, "")
	}
	info := f.send(t, "GET", "/oauth/token/info", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, "").object(t)
	if info["resource_owner_id"] != float64(1) || info["expires_in"] != float64(7200) {
		t.Fatalf("token info = %v", info)
	}
	// Two hours later the token is expired; refreshing still works.
	f.clock.Add(2 * time.Hour)
	wantOAuth401(t, bearer(tok.AccessToken), "Token is expired. You can either do re-authorization or token refresh.")
	tok.Expiry = time.Now().Add(-time.Second)
	tok, err = conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if r := bearer(tok.AccessToken); r.status != 200 {
		t.Fatalf("refreshed token: %d", r.status)
	}
	f.sim.ExpireOAuthTokens(1)
	wantOAuth401(t, bearer(tok.AccessToken), "Token is expired. You can either do re-authorization or token refresh.")

	// /oauth/revoke needs the client; it revokes the pair.
	tok.Expiry = time.Now().Add(-time.Second)
	tok, _ = conf.TokenSource(ctx, tok).Token()
	revoke := func(form url.Values) response {
		return f.send(t, "POST", "/oauth/revoke", nil, form.Encode())
	}
	if r := revoke(url.Values{"token": {tok.AccessToken}, "client_id": {appID}, "client_secret": {"wrong"}}); r.status != 403 || r.object(t)["error"] != "unauthorized_client" {
		t.Fatalf("revoke with a wrong secret: %d %s", r.status, r.body)
	}
	if r := bearer(tok.AccessToken); r.status != 200 {
		t.Fatalf("a refused revoke revoked: %d", r.status)
	}
	if r := revoke(url.Values{"token": {tok.AccessToken}, "client_id": {appID}, "client_secret": {appSecret}}); r.status != 200 || string(r.body) != "{}\n" {
		t.Fatalf("revoke: %d %q", r.status, r.body)
	}
	wantOAuth401(t, bearer(tok.AccessToken), "Token was revoked. You have to re-authorize from the user.")
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErr(err) != "invalid_grant" {
		t.Fatalf("refresh after revoke: %v", err)
	}
	if r := revoke(url.Values{"token": {"unknown"}, "client_id": {appID}, "client_secret": {appSecret}}); r.status != 200 {
		t.Fatalf("revoke of an unknown token: %d", r.status)
	}

	// RevokeOAuthTokens is the user revoking the application.
	tok2, err := conf.Exchange(ctx, f.code(t, conf, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	f.sim.RevokeOAuthTokens(1)
	wantOAuth401(t, bearer(tok2.AccessToken), "Token was revoked. You have to re-authorize from the user.")
	if n := f.sim.LiveOAuthTokens(1); n != 0 {
		t.Fatalf("live tokens after revoking = %d", n)
	}
}

func TestOAuthTokenScopeLimitsTheAPI(t *testing.T) {
	f, conf := oauthFixture(t)
	conf.Scopes = []string{"read_user"}
	v := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(context.Background(), f.code(t, conf, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("scope") != "read_user" {
		t.Fatalf("granted scope = %v", tok.Extra("scope"))
	}
	hdr := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	if r := f.send(t, "GET", "/api/v4/user", hdr, ""); r.status != 200 {
		t.Fatalf("read_user on /user: %d %s", r.status, r.body)
	}
	r := f.send(t, "GET", "/api/v4/projects/7/pipelines", hdr, "")
	if m := r.object(t); r.status != 403 || m["error"] != "insufficient_scope" {
		t.Fatalf("read_user on pipelines: %d %s", r.status, r.body)
	}
}
