package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// harvest lists the OAuth secrets that crossed the wire to GitLab: access
// and refresh tokens from /oauth/token answers, verifiers from its
// requests, codes and states from the redirects.
func (w *wireLog) harvest(t *testing.T) (tokens, codes, verifiers, states []string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, body := range w.resps {
		var tok struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
		}
		if json.Unmarshal([]byte(body), &tok) == nil && tok.Access != "" {
			tokens = append(tokens, tok.Access, tok.Refresh)
		}
		if u, err := url.Parse(body); err == nil && u.Query().Get("code") != "" {
			codes = append(codes, u.Query().Get("code"))
		}
	}
	for _, body := range w.reqs {
		if q, err := url.ParseQuery(body); err == nil && q.Get("code_verifier") != "" {
			verifiers = append(verifiers, q.Get("code_verifier"))
		}
	}
	for _, u := range w.urls {
		if p, err := url.Parse(u); err == nil && p.Query().Get("state") != "" {
			states = append(states, p.Query().Get("state"))
		}
	}
	return tokens, codes, verifiers, states
}

var stateInURL = regexp.MustCompile(`state=([A-Za-z0-9_-]+)`)

// TestLeakScanOAuthSecretsReachNoLogSlackDatabaseOrURL runs linked mode's
// whole life over signed HTTP (a Connect button, a login, commands, a
// refresh, a denied and a replayed login, a logout) and scans every log
// line, Slack request body, database byte and URL sent to GitLab for the
// access and refresh tokens, codes, verifiers, states and the client
// secret. The state may travel in one place only: the private login
// button of the person who asked.
func TestLeakScanOAuthSecretsReachNoLogSlackDatabaseOrURL(t *testing.T) {
	logs := &lockedBuffer{}
	e := newIdentityE2E(t, "linked", logs)
	e.cmd(idSlackAlice, "pipelines team/web") // the Connect button
	login := e.loginURL(idSlackAlice)
	e.loginWithHTTP(login, "alice")
	mustContain(t, "linked", e.cmd(idSlackAlice, "run team/web dev"), "Started pipeline")
	e.sim.ExpireOAuthTokens(idAlice) // the next command refreshes
	mustContain(t, "refreshed", e.cmd(idSlackAlice, "pipelines team/web"), "Pipelines of team/web")
	if e.sim.OAuthTokenRequests("refresh_token") != 1 {
		t.Fatalf("%d refreshes, want 1", e.sim.OAuthTokenRequests("refresh_token"))
	}

	// A denied login, and a callback replayed after its login finished.
	denied := e.loginURL(idSlackAlice)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(denied)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := url.Values{"decision": {"deny"}}
	for k, v := range resp.Request.URL.Query() {
		form.Set(k, v[0])
	}
	if resp, err = c.PostForm(e.glURL+"/oauth/authorize", form); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("denied login: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	_, codes, _, _ := e.wire.harvest(t)
	replay := e.srv.URL + "/gitlab/oauth/callback?" + url.Values{"code": {codes[0]}, "state": {stateInURL.FindStringSubmatch(login)[1]}}.Encode()
	if resp, err = c.Get(replay); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	mustContain(t, "whoami", e.cmd(idSlackAlice, "whoami"), "linked @alice")
	mustContain(t, "logout", e.cmd(idSlackAlice, "logout"), "Unlinked GitLab @alice")
	mustContain(t, "audit", e.cmd(e2eAdmin, "audit"), "as linked @alice")

	tokens, codes, verifiers, states := e.wire.harvest(t)
	if len(tokens) < 4 || len(codes) < 1 || len(verifiers) < 1 || len(states) < 2 {
		t.Fatalf("the scan saw too little: %d tokens, %d codes, %d verifiers, %d states", len(tokens), len(codes), len(verifiers), len(states))
	}
	never := append(append(append([]string{idClientSecret, idGitLabToken, leakSigning}, tokens...), codes...), verifiers...)
	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	urls, _ := e.wire.all()
	for _, s := range append(append([]string{}, never...), states...) {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a log line holds secret %.12q…", s)
		}
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the bbolt file holds secret %.12q…", s)
		}
	}
	for _, s := range never {
		if strings.Contains(urls, s) {
			t.Errorf("a URL sent to GitLab holds secret %.12q…", s)
		}
		for _, call := range e.fake.Calls() {
			if strings.Contains(call.Body+call.Text+string(call.Blocks), s) {
				t.Errorf("Slack %s carried secret %.12q…", call.Method, s)
			}
		}
	}
	// The state of each login goes to Slack once: in the private reply of
	// the person who asked for it.
	for _, s := range states {
		var carriers int
		for _, call := range e.fake.Calls() {
			if !strings.Contains(call.Body, s) {
				continue
			}
			carriers++
			if call.Method != "response_url" || call.ResponseType == slack.ResponseTypeInChannel || call.User != idSlackAlice {
				t.Errorf("a state went %s (%s) to %s", call.Method, call.ResponseType, call.User)
			}
		}
		if carriers != 1 {
			t.Errorf("state %.8q… reached Slack %d times, want once", s, carriers)
		}
	}
	if !strings.Contains(logs.String(), "gitlab account linked") || !strings.Contains(logs.String(), "gitlab authorization not given") {
		t.Error("the scan saw no login log lines: it scanned nothing")
	}
}
