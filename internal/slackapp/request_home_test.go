package slackapp

import (
	"testing"

	"github.com/slack-go/slack/slackevents"
)

// A click on the App Home comes with container.type "view" and the Home
// view, and without channel or response_url
// (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).
func TestHomeTabClickCarriesTheHomeViewAndNoChannel(t *testing.T) {
	home := parseInteraction(t, `{"type":"block_actions","trigger_id":"7.8.9","user":{"id":"U1"},"team":{"id":"T1"},
		"container":{"type":"view","view_id":"V1"},"view":{"id":"V1","type":"home","hash":"h1","blocks":[]},
		"actions":[{"action_id":"pipeline_retry","block_id":"home_p1","type":"button","value":"pipeline retry g/app 1","action_ts":"1700000001.1"}]}`)
	if len(home) != 1 || home[0].View == nil || home[0].View.Type != "home" || home[0].ChannelID != "" || home[0].ResponseURL != "" ||
		home[0].Text != "pipeline retry g/app 1" || home[0].UserID != "U1" {
		t.Fatalf("home click: %+v", home)
	}
	msg := parseInteraction(t, `{"type":"block_actions","trigger_id":"7.8.10","response_url":"https://hooks.slack.com/actions/T/1/x","user":{"id":"U1"},"channel":{"id":"C1"},
		"container":{"type":"message","message_ts":"1700000000.000100"},
		"actions":[{"action_id":"pipeline_retry","type":"button","value":"pipeline retry g/app 1","action_ts":"1700000001.1"}]}`)
	if len(msg) != 1 || msg[0].View != nil {
		t.Fatalf("message click carries a view: %+v", msg)
	}
}

func TestAppHomeOpenedNamesTheUserAndTheirDM(t *testing.T) {
	ev, err := parseEventsAPI([]byte(`{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"app_home_opened","user":"U1","channel":"D1","tab":"home","event_ts":"1515449522000016"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := requestFromEvent(ev)
	if !ok || r.UserID != "U1" || r.ChannelID != "D1" || r.DedupeKey != "event:Ev1" {
		t.Fatalf("request = %+v, %v", r, ok)
	}
	if inner, ok := r.Event.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); !ok || inner.Tab != "home" {
		t.Errorf("inner event = %#v", r.Event.InnerEvent.Data)
	}
}
