package slackapp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// socketFake is a minimal Slack Socket Mode endpoint: apps.connections.open
// hands out a websocket URL on which the test sends envelopes and reads acks.
type socketFake struct {
	srv   *httptest.Server
	conns chan *websocket.Conn
	token string
}

func newSocketFake(t *testing.T, appToken string) *socketFake {
	t.Helper()
	f := &socketFake{conns: make(chan *websocket.Conn, 1), token: appToken}
	// slack-go dials with Origin https://api.slack.com.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true,"url":"ws` + strings.TrimPrefix(f.srv.URL, "http") + `/ws"}`))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.conns <- c
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *socketFake) apiURL() string { return f.srv.URL + "/api/" }

// exchange sends one envelope and returns the envelope id acknowledged next.
func exchange(t *testing.T, c *websocket.Conn, envelope string) string {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(envelope)); err != nil {
		t.Fatalf("send envelope: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read ack: %v", err)
	}
	var ack struct {
		EnvelopeID string `json:"envelope_id"`
	}
	if err := json.Unmarshal(msg, &ack); err != nil {
		t.Fatalf("ack %q: %v", msg, err)
	}
	return ack.EnvelopeID
}

func envelope(id, typ, payload string) string {
	return `{"envelope_id":"` + id + `","type":"` + typ + `","accepts_response_payload":false,"payload":` + payload + `}`
}

func TestSocketModeAcksEveryEnvelopeAndSubmitsRequests(t *testing.T) {
	const appToken = "xapp-1-A111-222-abc"
	fake := newSocketFake(t, appToken)
	handled := make(chan Request, 10)
	pool := NewPool(PoolConfig{Once: onceMap()}, HandlerFunc(func(_ context.Context, r Request) { handled <- r }))
	pool.Start(t.Context())
	defer pool.Stop()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- RunSocketMode(ctx, SocketConfig{AppToken: appToken, BotToken: "xoxb-1", APIURL: fake.apiURL(), Pool: pool, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	}()
	var conn *websocket.Conn
	select {
	case conn = <-fake.conns:
	case <-time.After(5 * time.Second):
		t.Fatal("socket mode never connected")
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","num_connections":1,"connection_info":{"app_id":"A111"}}`)); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name     string
		envelope string
	}{
		{"slash command", envelope("e1", "slash_commands", `{"team_id":"T1","channel_id":"C1","user_id":"U1","user_name":"ann","command":"/ci","text":"pipelines","response_url":"https://hooks.slack.com/commands/x","trigger_id":"tr1"}`)},
		{"button click", envelope("e2", "interactive", `{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"container":{"message_ts":"5.5"},"trigger_id":"tr2","actions":[{"action_id":"pipeline.retry","block_id":"b","type":"button","value":"pipeline retry g/a 1"}]}`)},
		{"link_shared event", envelope("e3", "events_api", strings.ReplaceAll(linkSharedEvent, "\n", ""))},
		{"same event redelivered", envelope("e4", "events_api", strings.ReplaceAll(linkSharedEvent, "\n", ""))},
		{"event unknown to slack-go", envelope("e5", "events_api", `{"type":"event_callback","team_id":"T1","event_id":"Ev9","event":{"type":"brand_new_event"}}`)},
	}
	for i, s := range steps {
		want := "e" + string(rune('1'+i))
		if got := exchange(t, conn, s.envelope); got != want {
			t.Fatalf("%s: acked %q, want %q", s.name, got, want)
		}
	}
	// The dispatcher acks before it submits, and handles envelopes in order:
	// once the request of the last envelope arrives, all earlier ones were
	// submitted (or dropped as duplicates).
	var got []Request
	for len(got) < 4 {
		select {
		case r := <-handled:
			got = append(got, r)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d requests handled: %+v", len(got), got)
		}
	}
	pool.Wait()
	if extra := len(handled); extra != 0 || pool.Stats().Duplicates != 1 {
		t.Fatalf("%d extra requests, %d duplicates; want the redelivered event dropped once", extra, pool.Stats().Duplicates)
	}
	byKind := map[Kind][]Request{}
	for _, r := range got {
		if r.Source != "socket" || r.Received.IsZero() {
			t.Errorf("request not stamped: %+v", r)
		}
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	if c := byKind[KindCommand]; len(c) != 1 || c[0].Text != "pipelines" || c[0].UserName != "ann" || c[0].ResponseURL == "" {
		t.Errorf("command = %+v", c)
	}
	if a := byKind[KindAction]; len(a) != 1 || a[0].Text != "pipeline retry g/a 1" || a[0].MessageTS != "5.5" || a[0].DedupeKey != "action:tr2" {
		t.Errorf("action = %+v", a)
	}
	if e := byKind[KindEvent]; len(e) != 2 {
		t.Errorf("events = %+v", e)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunSocketMode after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode did not return after ctx ended")
	}
}

// redelivered is envelope as Slack sends it again when it thinks the ack
// was lost: same envelope_id, retry_attempt and retry_reason set.
func redelivered(id, typ, payload string, attempt int) string {
	return `{"envelope_id":"` + id + `","type":"` + typ + `","accepts_response_payload":false,"retry_attempt":` +
		strconv.Itoa(attempt) + `,"retry_reason":"timeout","payload":` + payload + `}`
}

func TestSocketModeRedeliveredEnvelopeIsAckedAgainButHandledOnce(t *testing.T) {
	const appToken = "xapp-1-A111-333-def"
	fake := newSocketFake(t, appToken)
	handled := make(chan Request, 10)
	pool := NewPool(PoolConfig{Once: onceMap()}, HandlerFunc(func(_ context.Context, r Request) { handled <- r }))
	pool.Start(t.Context())
	defer pool.Stop()
	go func() {
		_ = RunSocketMode(t.Context(), SocketConfig{AppToken: appToken, BotToken: "xoxb-1", APIURL: fake.apiURL(), Pool: pool, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	}()
	var conn *websocket.Conn
	select {
	case conn = <-fake.conns:
	case <-time.After(5 * time.Second):
		t.Fatal("socket mode never connected")
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","num_connections":1}`)); err != nil {
		t.Fatal(err)
	}
	const run = `{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/ci","text":"run g/a main","response_url":"https://hooks.slack.com/commands/x","trigger_id":"tr1"}`
	const noTrigger = `{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/ci","text":"run g/a main","response_url":"https://hooks.slack.com/commands/y"}`
	const again = `{"team_id":"T1","channel_id":"C1","user_id":"U1","command":"/ci","text":"run g/a main","response_url":"https://hooks.slack.com/commands/z","trigger_id":"tr2"}`
	const click = `{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"trigger_id":"tr3","actions":[{"action_id":"pipeline.retry","block_id":"b","type":"button","value":"pipeline retry g/a 1"}]}`
	steps := []struct {
		name, id, envelope string
	}{
		{"slash command", "s1", envelope("s1", "slash_commands", run)},
		{"its redelivery", "s1", redelivered("s1", "slash_commands", run, 1)},
		{"a command without trigger_id", "s2", envelope("s2", "slash_commands", noTrigger)},
		{"its redelivery, caught by the envelope id alone", "s2", redelivered("s2", "slash_commands", noTrigger, 1)},
		{"a click", "s3", envelope("s3", "interactive", click)},
		{"its second redelivery", "s3", redelivered("s3", "interactive", click, 2)},
		{"the same text typed again", "s4", envelope("s4", "slash_commands", again)},
	}
	for _, s := range steps {
		if got := exchange(t, conn, s.envelope); got != s.id {
			t.Fatalf("%s: acked %q, want %q (a redelivery is acknowledged too)", s.name, got, s.id)
		}
	}
	var got []string
	for len(got) < 4 {
		select {
		case r := <-handled:
			got = append(got, r.EnvelopeKey)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d requests handled: %v", len(got), got)
		}
	}
	pool.Wait()
	if extra := len(handled); extra != 0 || pool.Stats().Duplicates != 3 {
		t.Fatalf("handled %v and %d more, %d duplicates; want each envelope once", got, extra, pool.Stats().Duplicates)
	}
	slices.Sort(got) // workers run in parallel
	if strings.Join(got, ",") != "envelope:s1,envelope:s2,envelope:s3,envelope:s4" {
		t.Errorf("handled envelopes %v", got)
	}
}

func TestSocketModeFailsOnBadTokenWithoutLeakingIt(t *testing.T) {
	fake := newSocketFake(t, "xapp-the-right-one")
	pool := NewPool(PoolConfig{}, &recorder{})
	tests := []struct {
		name  string
		token string
	}{
		{"revoked app token", "xapp-1-revoked-token-value"},
		{"bot token given as app token", "xoxb-not-an-app-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := RunSocketMode(ctx, SocketConfig{AppToken: tc.token, BotToken: "xoxb-1", APIURL: fake.apiURL(), Pool: pool, Logger: zerolog.Nop()})
			if err == nil || ctx.Err() != nil {
				t.Fatalf("RunSocketMode = %v (ctx %v), want a prompt error", err, ctx.Err())
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
}

// ackRecorder records the envelopes acknowledged.
type ackRecorder struct{ ids []string }

func (a *ackRecorder) Ack(req socketmode.Request, _ ...any) error {
	a.ids = append(a.ids, req.EnvelopeID)
	return nil
}

func TestSocketDispatchTellsUserWhenBusy(t *testing.T) {
	pool := NewPool(PoolConfig{}, &recorder{})
	pool.Stop() // a stopped pool refuses everything as busy
	acks := &ackRecorder{}
	busyURLs := make(chan string, 1)
	d := socketDispatcher{ack: acks, pool: pool, log: zerolog.Nop(), now: time.Now,
		busy: func(_ context.Context, u string) error { busyURLs <- u; return nil }}
	d.dispatch(t.Context(), socketmode.Event{
		Type:    socketmode.EventTypeSlashCommand,
		Data:    slack.SlashCommand{Command: "/ci", Text: "pipelines", ResponseURL: "https://hooks.slack.com/commands/1"},
		Request: &socketmode.Request{EnvelopeID: "env-1", Type: socketmode.RequestTypeSlashCommands},
	})
	if len(acks.ids) != 1 || acks.ids[0] != "env-1" {
		t.Fatalf("acks = %v, want env-1 acknowledged even though busy", acks.ids)
	}
	select {
	case u := <-busyURLs:
		if u != "https://hooks.slack.com/commands/1" {
			t.Fatalf("busy reply went to %q", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("user was not told the pool is busy")
	}
}

func TestPostBusySendsEphemeralMessage(t *testing.T) {
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		got <- m
	}))
	defer srv.Close()
	if err := postBusy(t.Context(), srv.URL+"/response/R1"); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m["response_type"] != "ephemeral" || !strings.Contains(m["text"], "busy") {
		t.Fatalf("busy body = %v", m)
	}
	err := postBusy(t.Context(), "http://127.0.0.1:1/response/secret-capability")
	if err == nil || strings.Contains(err.Error(), "secret-capability") {
		t.Fatalf("unreachable response_url: err = %v (must fail without echoing the URL)", err)
	}
}
