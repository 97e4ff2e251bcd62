package slackapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func TestButtonClickWithoutBlockIDStillCarriesItsCommand(t *testing.T) {
	raw := `{"type":"block_actions","trigger_id":"4.5.6","response_url":"https://hooks.slack.com/actions/T/1/x","user":{"id":"U1"},"channel":{"id":"C1"},"container":{"type":"message","message_ts":"1700000000.000100"},"actions":[{"action_id":"pipeline_retry","type":"button","value":"pipeline retry g/app 1","action_ts":"1700000001.1"}]}`
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		t.Fatal(err)
	}
	reqs := requestsFromInteraction(ic)
	if len(reqs) != 1 || reqs[0].Text != "pipeline retry g/app 1" || reqs[0].Kind != KindAction || reqs[0].DedupeKey != "action:4.5.6" {
		t.Fatalf("requests: %+v", reqs)
	}
}

// parseInteraction is requestsFromInteraction of a raw payload.
func parseInteraction(t *testing.T, raw string) []Request {
	t.Helper()
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		t.Fatal(err)
	}
	return requestsFromInteraction(ic)
}

func TestDedupeKeysNameOneDelivery(t *testing.T) {
	long := strings.Repeat("7", maxDedupeID+1)
	hashOf := func(id string) string {
		sum := sha256.Sum256([]byte(id))
		return "sha256-" + hex.EncodeToString(sum[:])
	}
	tests := []struct {
		name string
		reqs func(t *testing.T) []Request
		want []string // DedupeKey of each request
	}{
		{"slash command by its trigger_id", func(*testing.T) []Request {
			return []Request{requestFromCommand(slack.SlashCommand{Command: "/ci", Text: "run g/a main", TriggerID: "13345224609.738474920"})}
		}, []string{"command:13345224609.738474920"}},
		{"slash command without trigger_id has no key", func(*testing.T) []Request {
			return []Request{requestFromCommand(slack.SlashCommand{Command: "/ci", Text: "run g/a main"})}
		}, []string{""}},
		{"two people typing the same command are two deliveries", func(*testing.T) []Request {
			return []Request{
				requestFromCommand(slack.SlashCommand{UserID: "U1", Command: "/ci", Text: "run g/a main", TriggerID: "1.1"}),
				requestFromCommand(slack.SlashCommand{UserID: "U2", Command: "/ci", Text: "run g/a main", TriggerID: "2.2"}),
			}
		}, []string{"command:1.1", "command:2.2"}},
		{"click by its trigger_id", func(t *testing.T) []Request {
			return parseInteraction(t, `{"type":"block_actions","trigger_id":"T1","actions":[{"action_id":"a","block_id":"b","value":"v","action_ts":"9.9"}]}`)
		}, []string{"action:T1"}},
		{"click without trigger_id by its action_ts", func(t *testing.T) []Request {
			return parseInteraction(t, `{"type":"block_actions","actions":[{"action_id":"a","block_id":"b","value":"v","action_ts":"9.9"}]}`)
		}, []string{"action:9.9"}},
		{"several actions in one payload get one key each", func(t *testing.T) []Request {
			return parseInteraction(t, `{"type":"block_actions","trigger_id":"T2","actions":[{"action_id":"a","block_id":"b","value":"1"},{"action_id":"c","block_id":"b","value":"2"}]}`)
		}, []string{"action:T2#0", "action:T2#1"}},
		{"view submission by its trigger_id", func(t *testing.T) []Request {
			return parseInteraction(t, `{"type":"view_submission","trigger_id":"T3","view":{"id":"V1","callback_id":"cb"}}`)
		}, []string{"view:T3"}},
		{"event by its event_id", func(t *testing.T) []Request {
			ev, err := parseEventsAPI([]byte(linkSharedEvent))
			if err != nil {
				t.Fatal(err)
			}
			r, _ := requestFromEvent(ev)
			return []Request{r}
		}, []string{"event:Ev08MFMKH6"}},
		{"an overlong id is hashed", func(*testing.T) []Request {
			return []Request{requestFromCommand(slack.SlashCommand{TriggerID: long})}
		}, []string{"command:" + hashOf(long)}},
		{"an id with a control character is hashed", func(*testing.T) []Request {
			return []Request{requestFromCommand(slack.SlashCommand{TriggerID: "a\x00b"})}
		}, []string{"command:" + hashOf("a\x00b")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqs := tc.reqs(t)
			if len(reqs) != len(tc.want) {
				t.Fatalf("got %d requests, want %d", len(reqs), len(tc.want))
			}
			for i, r := range reqs {
				if r.DedupeKey != tc.want[i] {
					t.Errorf("request %d: DedupeKey %q, want %q", i, r.DedupeKey, tc.want[i])
				}
				if r.EnvelopeKey != "" {
					t.Errorf("request %d: EnvelopeKey %q outside Socket Mode", i, r.EnvelopeKey)
				}
			}
		})
	}
}

func TestEnvelopeKeysAndRetryComeFromTheEnvelope(t *testing.T) {
	one := []Request{{DedupeKey: "command:1.1"}}
	two := []Request{{DedupeKey: "action:T#0"}, {DedupeKey: "action:T#1"}}
	tests := []struct {
		name      string
		env       socketmode.Request
		reqs      []Request
		wantKeys  []string
		wantRetry int
	}{
		{"first delivery", socketmode.Request{EnvelopeID: "e-1"}, one, []string{"envelope:e-1"}, 0},
		{"redelivery keeps the key and counts the retry", socketmode.Request{EnvelopeID: "e-1", RetryAttempt: 1, RetryReason: "timeout"}, one, []string{"envelope:e-1"}, 1},
		{"several requests in one envelope", socketmode.Request{EnvelopeID: "e-2"}, two, []string{"envelope:e-2#0", "envelope:e-2#1"}, 0},
		{"no envelope id, no key", socketmode.Request{}, one, []string{""}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromEnvelope(tc.env, append([]Request(nil), tc.reqs...))
			for i, r := range got {
				if r.EnvelopeKey != tc.wantKeys[i] || r.Retry != tc.wantRetry || r.DedupeKey != tc.reqs[i].DedupeKey {
					t.Errorf("request %d = envelope key %q retry %d dedupe key %q; want %q, %d, %q",
						i, r.EnvelopeKey, r.Retry, r.DedupeKey, tc.wantKeys[i], tc.wantRetry, tc.reqs[i].DedupeKey)
				}
			}
		})
	}
}
