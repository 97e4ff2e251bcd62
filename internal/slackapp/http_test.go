package slackapp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var testNow = time.Unix(1_700_000_000, 0)

// blockActionsPayload is a block_actions payload shaped like Slack's docs
// (https://api.slack.com/reference/interaction-payloads/block-actions).
const blockActionsPayload = `{
  "type": "block_actions",
  "team": {"id": "T9TK3CUKW", "domain": "example"},
  "user": {"id": "UA8RXUSPL", "username": "jtorrance", "name": "jtorrance", "team_id": "T9TK3CUKW"},
  "api_app_id": "AABA1ABCD",
  "token": "9s8d9as89d8as9d8as989",
  "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0CHAN", "is_ephemeral": false},
  "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
  "channel": {"id": "C0CHAN", "name": "ci"},
  "message": {"type": "message", "ts": "1548261231.000200", "thread_ts": "1548261200.000100", "text": "card"},
  "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
  "actions": [{
    "action_id": "pipeline.retry",
    "block_id": "actions",
    "text": {"type": "plain_text", "text": "Retry", "emoji": true},
    "value": "pipeline retry group/app 42",
    "type": "button",
    "action_ts": "1548426417.840180"
  }]
}`

const viewSubmissionPayload = `{
  "type": "view_submission",
  "team": {"id": "T9TK3CUKW"},
  "user": {"id": "UA8RXUSPL", "name": "jtorrance"},
  "trigger_id": "111.222.abc",
  "view": {"id": "VNHU13V36", "type": "modal", "callback_id": "var.set", "private_metadata": "C0CHAN",
           "state": {"values": {"value": {"value": {"type": "plain_text_input", "value": "s3cr3t"}}}}}
}`

const linkSharedEvent = `{
  "token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456", "type": "event_callback",
  "event_id": "Ev08MFMKH6", "event_time": 1234567890,
  "event": {"type": "link_shared", "channel": "C123ABC456", "is_bot_user_member": true, "user": "U123ABC456",
            "message_ts": "123456789.9875", "unfurl_id": "C123ABC456.123456789.987501",
            "links": [{"domain": "gitlab.example.com", "url": "https://gitlab.example.com/g/app/-/pipelines/42"}],
            "event_ts": "123456789.9875"}
}`

// harness is NewHTTP over a real pool whose handler records requests.
type harness struct {
	h    http.Handler
	pool *Pool
	rec  *recorder
}

func newHarness(t *testing.T, cfg PoolConfig, handler Handler) *harness {
	t.Helper()
	rec := &recorder{}
	if handler == nil {
		handler = rec
	}
	if cfg.Once == nil {
		cfg.Once = onceMap()
	}
	p := NewPool(cfg, handler)
	p.Start(t.Context())
	t.Cleanup(p.Stop)
	return &harness{
		h:    NewHTTP(HTTPConfig{SigningSecret: testSecret, Pool: p, Now: func() time.Time { return testNow }, Logger: zerolog.Nop()}),
		pool: p,
		rec:  rec,
	}
}

// post sends a signed POST (when signAt is non-zero) and returns the recorder.
func (h *harness) post(path, contentType, body string, signAt time.Time, extra http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	if !signAt.IsZero() {
		for k, v := range signedHeader(testSecret, signAt, []byte(body)) {
			r.Header[k] = v
		}
	}
	for k, v := range extra {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w
}

const formType = "application/x-www-form-urlencoded"

func commandBody() string { return commandBodyWith("13345224609.738474920.8088930838d88f008e0") }

// commandBodyWith is commandBody for the invocation with triggerID: each
// typed command gets its own.
func commandBodyWith(triggerID string) string {
	return url.Values{
		"token": {"gIkuvaNzQIHg97ATvDxqgjtO"}, "team_id": {"T0001"}, "team_domain": {"example"},
		"channel_id": {"C2147483705"}, "channel_name": {"ci"}, "user_id": {"U2147483697"}, "user_name": {"steve"},
		"command": {"/ci"}, "text": {"pipeline list group/app ref:main"},
		"response_url": {"https://hooks.slack.com/commands/1234/5678"}, "trigger_id": {triggerID},
	}.Encode()
}

func interactionBody(payload string) string {
	return url.Values{"payload": {payload}}.Encode()
}

func TestHTTPSignedSlashCommandIsAckedAtOnceAndSubmittedOnce(t *testing.T) {
	b := newBlocker()
	h := newHarness(t, PoolConfig{}, HandlerFunc(func(ctx context.Context, req Request) {
		b.started <- req.Text
		<-b.release
	}))
	w := h.post(PathCommands, formType, commandBody(), testNow, nil)
	// ServeHTTP has returned while the handler is still blocked: the ack did
	// not wait for the work.
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("response = %d %q, want 200 with empty body", w.Code, w.Body.String())
	}
	if got := <-b.started; got != "pipeline list group/app ref:main" {
		t.Fatalf("handler got text %q", got)
	}
	close(b.release)
	h.pool.Wait()
	if s := h.pool.Stats(); s.Submitted != 1 {
		t.Fatalf("submitted %d, want exactly 1", s.Submitted)
	}
}

func TestHTTPSlashCommandFieldsMapped(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	h.post(PathCommands, formType, commandBody(), testNow, nil)
	h.pool.Wait()
	got := h.rec.got()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	want := Request{
		Kind: KindCommand, TeamID: "T0001", UserID: "U2147483697", UserName: "steve",
		ChannelID: "C2147483705", ChannelName: "ci", Command: "/ci", Text: "pipeline list group/app ref:main",
		ResponseURL: "https://hooks.slack.com/commands/1234/5678", TriggerID: "13345224609.738474920.8088930838d88f008e0",
		DedupeKey: "command:13345224609.738474920.8088930838d88f008e0", Source: "http", Received: testNow,
	}
	if got[0] != want {
		t.Fatalf("request =\n%+v\nwant\n%+v", got[0], want)
	}
}

func TestHTTPRejectsBeforeDoingWork(t *testing.T) {
	body := commandBody()
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		header   http.Header
		signAt   time.Time
		wantCode int
	}{
		{name: "forged signature is 401", path: PathCommands, body: body, header: http.Header{headerTimestamp: {"1700000000"}, headerSignature: {sign("wrong", "1700000000", []byte(body))}}, wantCode: 401},
		{name: "body changed after signing is 401", path: PathCommands, body: body + "&text=x", header: signedHeader(testSecret, testNow, []byte(body)), wantCode: 401},
		{name: "stale request is 401", path: PathCommands, body: body, signAt: testNow.Add(-6 * time.Minute), wantCode: 401},
		{name: "missing signature headers is 401", path: PathCommands, body: body, wantCode: 401},
		{name: "forged interaction is 401", path: PathInteractions, body: interactionBody(blockActionsPayload), header: http.Header{headerTimestamp: {"1700000000"}, headerSignature: {"v0=" + strings.Repeat("0", 64)}}, wantCode: 401},
		{name: "forged event is 401", path: PathEvents, body: linkSharedEvent, wantCode: 401},
		{name: "GET is 405", method: http.MethodGet, path: PathCommands, signAt: testNow, wantCode: 405},
		{name: "unknown path is 404", path: "/slack/other", body: body, signAt: testNow, wantCode: 404},
		{name: "oversized body is 413", path: PathCommands, body: body + strings.Repeat("x", 1<<20), signAt: testNow, wantCode: 413},
		{name: "signed but malformed interaction is 400", path: PathInteractions, body: "payload=%7Bnot-json", signAt: testNow, wantCode: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, PoolConfig{}, nil)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, tc.path, strings.NewReader(tc.body))
			if !tc.signAt.IsZero() {
				r.Header = signedHeader(testSecret, tc.signAt, []byte(tc.body))
			}
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, r)
			if w.Code != tc.wantCode {
				t.Fatalf("status = %d (%q), want %d", w.Code, w.Body.String(), tc.wantCode)
			}
			h.pool.Wait()
			if s := h.pool.Stats(); s.Submitted != 0 {
				t.Fatalf("submitted %d requests, want none", s.Submitted)
			}
		})
	}
}

func TestHTTPInteractionPostedTwiceIsHandledOnce(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	body := interactionBody(blockActionsPayload)
	for i := range 2 {
		w := h.post(PathInteractions, formType, body, testNow, nil)
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("post %d: %d %q", i, w.Code, w.Body.String())
		}
	}
	h.pool.Wait()
	got := h.rec.got()
	if len(got) != 1 {
		t.Fatalf("handled %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Kind != KindAction || r.Text != "pipeline retry group/app 42" || r.ActionID != "pipeline.retry" ||
		r.MessageTS != "1548261231.000200" || r.ThreadTS != "1548261200.000100" || r.ChannelID != "C0CHAN" ||
		r.UserID != "UA8RXUSPL" || r.DedupeKey != "action:12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3" {
		t.Fatalf("request = %+v", r)
	}
}

func TestHTTPViewSubmissionClosesModal(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	w := h.post(PathInteractions, formType, interactionBody(viewSubmissionPayload), testNow, nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("response = %d %q, want empty 200 (closes the modal)", w.Code, w.Body.String())
	}
	h.pool.Wait()
	got := h.rec.got()
	if len(got) != 1 || got[0].Kind != KindViewSubmission || got[0].View == nil || got[0].View.CallbackID != "var.set" {
		t.Fatalf("requests = %+v", got)
	}
	if v := got[0].View.State.Values["value"]["value"].Value; v != "s3cr3t" {
		t.Errorf("view state value = %q", v)
	}
}

func TestHTTPIgnoresOtherInteractionTypes(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	w := h.post(PathInteractions, formType, interactionBody(`{"type":"shortcut","callback_id":"x","trigger_id":"1"}`), testNow, nil)
	h.pool.Wait()
	if w.Code != http.StatusOK || len(h.rec.got()) != 0 {
		t.Fatalf("status %d, handled %d; want 200 and nothing", w.Code, len(h.rec.got()))
	}
}

func TestHTTPURLVerificationAnswersChallenge(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	w := h.post(PathEvents, "application/json", body, testNow, nil)
	var got struct{ Challenge string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("response %d %q: %v", w.Code, w.Body.String(), err)
	}
	if got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge = %q", got.Challenge)
	}
	h.pool.Wait()
	if len(h.rec.got()) != 0 {
		t.Fatal("url_verification reached the handler")
	}
}

func TestHTTPEventRetriesAreDedupedByEventID(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	for i, hdr := range []http.Header{nil, {"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_timeout"}}} {
		if w := h.post(PathEvents, "application/json", linkSharedEvent, testNow, hdr); w.Code != 200 {
			t.Fatalf("delivery %d: status %d", i, w.Code)
		}
	}
	h.pool.Wait()
	got := h.rec.got()
	if len(got) != 1 {
		t.Fatalf("handled %d, want 1", len(got))
	}
	r := got[0]
	if r.Kind != KindEvent || r.DedupeKey != "event:Ev08MFMKH6" || r.ChannelID != "C123ABC456" || r.UserID != "U123ABC456" || r.Event == nil {
		t.Fatalf("request = %+v", r)
	}
	if r.Event.InnerEvent.Type != "link_shared" {
		t.Errorf("inner event = %q", r.Event.InnerEvent.Type)
	}
}

func TestHTTPBusyPoolAnswersEphemeral(t *testing.T) {
	b := newBlocker()
	h := newHarness(t, PoolConfig{Workers: 1, Queue: 1}, b)
	h.post(PathCommands, formType, commandBodyWith("1.1"), testNow, nil)
	<-b.started
	h.post(PathCommands, formType, commandBodyWith("2.2"), testNow, nil) // fills the queue
	w := h.post(PathCommands, formType, commandBodyWith("3.3"), testNow, nil)
	var raw map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("busy body %q: %v", w.Body.String(), err)
	}
	if w.Code != http.StatusOK || raw["response_type"] != "ephemeral" || !strings.HasPrefix(raw["text"], "pipebot is busy") {
		t.Fatalf("busy response = %d %v", w.Code, raw)
	}
	// An event is not answered "busy" to a user: Slack is asked to redeliver.
	w = h.post(PathEvents, "application/json", linkSharedEvent, testNow, nil)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("busy event status = %d, want 503", w.Code)
	}
	close(b.release)
	h.pool.Wait()
	if w = h.post(PathEvents, "application/json", linkSharedEvent, testNow, http.Header{"X-Slack-Retry-Num": {"1"}}); w.Code != 200 {
		t.Fatalf("redelivered event status = %d", w.Code)
	}
	h.pool.Wait()
	if s := h.pool.Stats(); s.Submitted != 3 {
		t.Fatalf("submitted %d, want 3 (two commands and the redelivered event)", s.Submitted)
	}
}

func TestRequestsFromInteraction(t *testing.T) {
	decode := func(s string) slack.InteractionCallback {
		var ic slack.InteractionCallback
		if err := json.Unmarshal([]byte(s), &ic); err != nil {
			t.Fatal(err)
		}
		return ic
	}
	tests := []struct {
		name    string
		payload string
		want    []Request
	}{
		{
			name: "select menu carries its chosen option value",
			payload: `{"type":"block_actions","user":{"id":"U1"},"container":{"channel_id":"C1","message_ts":"1.2"},
				"trigger_id":"T1","actions":[{"action_id":"pick","block_id":"b","type":"static_select","selected_option":{"value":"job log 7"}}]}`,
			want: []Request{{Kind: KindAction, UserID: "U1", ChannelID: "C1", MessageTS: "1.2", TriggerID: "T1", ActionID: "pick", Text: "job log 7", DedupeKey: "action:T1"}},
		},
		{
			name: "without trigger id the action ts keys the dedupe",
			payload: `{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"container":{"message_ts":"1.2","thread_ts":"1.0"},
				"actions":[{"action_id":"a","block_id":"b","type":"button","value":"v","action_ts":"9.9"}]}`,
			want: []Request{{Kind: KindAction, UserID: "U1", ChannelID: "C1", MessageTS: "1.2", ThreadTS: "1.0", ActionID: "a", Text: "v", DedupeKey: "action:9.9"}},
		},
		{
			name: "several actions get one request each with distinct keys",
			payload: `{"type":"block_actions","trigger_id":"T2","actions":[
				{"action_id":"a","block_id":"b","type":"button","value":"one"},{"action_id":"b","block_id":"b","type":"button","value":"two"}]}`,
			want: []Request{
				{Kind: KindAction, TriggerID: "T2", ActionID: "a", Text: "one", DedupeKey: "action:T2#0"},
				{Kind: KindAction, TriggerID: "T2", ActionID: "b", Text: "two", DedupeKey: "action:T2#1"},
			},
		},
		{
			name:    "message shortcut is ignored",
			payload: `{"type":"message_action","callback_id":"x","trigger_id":"T"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := requestsFromInteraction(decode(tc.payload))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d requests %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("request %d =\n%+v\nwant\n%+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestViewSubmissionUsesResponseURLs(t *testing.T) {
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(`{"type":"view_submission","user":{"id":"U1"},"trigger_id":"T9",
		"view":{"id":"V1","callback_id":"cb"},
		"response_urls":[{"block_id":"b","action_id":"a","channel_id":"C7","response_url":"https://hooks.slack.com/app/x"}]}`), &ic); err != nil {
		t.Fatal(err)
	}
	got := requestsFromInteraction(ic)
	if len(got) != 1 || got[0].ResponseURL != "https://hooks.slack.com/app/x" || got[0].ChannelID != "C7" ||
		got[0].ActionID != "cb" || got[0].DedupeKey != "view:T9" || got[0].View.ID != "V1" {
		t.Fatalf("got %+v", got)
	}
}

func TestRequestFromEvent(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		wantOK bool
		want   func(Request) bool
	}{
		{
			name: "link_shared keeps channel, user and message",
			body: linkSharedEvent, wantOK: true,
			want: func(r Request) bool {
				return r.DedupeKey == "event:Ev08MFMKH6" && r.ChannelID == "C123ABC456" && r.MessageTS == "123456789.9875" && r.TeamID == "T123ABC456"
			},
		},
		{
			name:   "app_mention carries its text",
			body:   `{"type":"event_callback","team_id":"T1","event_id":"Ev2","event":{"type":"app_mention","user":"U1","text":"<@U0BOT> pipelines","ts":"1.1","channel":"C1"}}`,
			wantOK: true,
			want: func(r Request) bool {
				return r.DedupeKey == "event:Ev2" && r.Text == "<@U0BOT> pipelines" && r.UserID == "U1" && r.ChannelID == "C1"
			},
		},
		{
			name:   "inner type unknown to slack-go is still delivered and deduped",
			body:   `{"type":"event_callback","team_id":"T1","event_id":"Ev3","event":{"type":"brand_new_event","x":1}}`,
			wantOK: true,
			want: func(r Request) bool {
				return r.DedupeKey == "event:Ev3" && r.Event.InnerEvent.Type == "brand_new_event" && r.Event.InnerEvent.Data == nil
			},
		},
		{name: "url_verification is not a request", body: `{"type":"url_verification","challenge":"c"}`},
		{name: "app_rate_limited is not a request", body: `{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parseEventsAPI([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			r, ok := requestFromEvent(ev)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && (r.Kind != KindEvent || !tc.want(r)) {
				t.Fatalf("request = %+v", r)
			}
		})
	}
}

func TestParseEventsAPIRejectsGarbage(t *testing.T) {
	for _, body := range []string{`not json`, `{"type":"event_callback"}`} {
		if _, err := parseEventsAPI([]byte(body)); err == nil {
			t.Errorf("parseEventsAPI(%q) succeeded", body)
		}
	}
}

func TestRequestFromCommand(t *testing.T) {
	got := requestFromCommand(slack.SlashCommand{TeamID: "T", ChannelID: "C", ChannelName: "n", UserID: "U", UserName: "u",
		Command: "/ci", Text: "help", ResponseURL: "https://r", TriggerID: "tr", Token: "secret-token"})
	want := Request{Kind: KindCommand, TeamID: "T", ChannelID: "C", ChannelName: "n", UserID: "U", UserName: "u",
		Command: "/ci", Text: "help", ResponseURL: "https://r", TriggerID: "tr", DedupeKey: "command:tr"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
