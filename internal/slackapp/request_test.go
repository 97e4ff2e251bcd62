package slackapp

import (
	"encoding/json"
	"testing"

	"github.com/slack-go/slack"
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
