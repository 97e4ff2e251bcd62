package slackapp

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func TestRenderText(t *testing.T) {
	tests := []struct {
		name     string
		blocks   string
		fallback string
		want     string
		buttons  []consoleButton
	}{
		{
			name: "pipeline card with header, fields, context and buttons",
			blocks: `[
			  {"type":"header","text":{"type":"plain_text","text":"Pipeline #42 failed"}},
			  {"type":"section","text":{"type":"mrkdwn","text":"*<https://gitlab.example.com/g/app|g/app>* on ` + "`main`" + `"},
			   "fields":[{"type":"mrkdwn","text":"*Status*\nfailed"},{"type":"mrkdwn","text":"*By* <@U1|ann>"}]},
			  {"type":"divider"},
			  {"type":"context","elements":[{"type":"image","image_url":"https://x/y.png","alt_text":"x"},{"type":"mrkdwn","text":"took 3m &amp; 2 retries"}]},
			  {"type":"actions","elements":[
			    {"type":"button","action_id":"pipeline.retry","text":{"type":"plain_text","text":"Retry"},"value":"pipeline retry g/app 42"},
			    {"type":"button","action_id":"pipeline.cancel","text":{"type":"plain_text","text":"Cancel"},"value":"pipeline cancel g/app 42","style":"danger"},
			    {"type":"button","action_id":"link","text":{"type":"plain_text","text":"Open in GitLab"},"url":"https://gitlab.example.com/g/app/-/pipelines/42"}]}
			]`,
			want: "== Pipeline #42 failed ==\n*g/app (https://gitlab.example.com/g/app)* on `main`\n*Status*\nfailed\n*By* @ann\n----\ntook 3m & 2 retries",
			buttons: []consoleButton{
				{Label: "Retry", ActionID: "pipeline.retry", Value: "pipeline retry g/app 42"},
				{Label: "Cancel", ActionID: "pipeline.cancel", Value: "pipeline cancel g/app 42"},
				{Label: "Open in GitLab", ActionID: "link", URL: "https://gitlab.example.com/g/app/-/pipelines/42"},
			},
		},
		{
			name:     "no blocks renders the fallback mrkdwn",
			fallback: "Use `/ci help` &lt;noun&gt; or see <https://docs.example.com>",
			want:     "Use `/ci help` <noun> or see https://docs.example.com",
		},
		{
			name:     "garbled blocks fall back to text",
			blocks:   `{"not":"an array"}`,
			fallback: "plain",
			want:     "plain",
		},
		{
			name:   "section accessory button is clickable",
			blocks: `[{"type":"section","text":{"type":"mrkdwn","text":"job *build* failed"},"accessory":{"type":"button","action_id":"job.log","text":{"type":"plain_text","text":"Log"},"value":"job log g/app 7"}}]`,
			want:   "job *build* failed",
			buttons: []consoleButton{
				{Label: "Log", ActionID: "job.log", Value: "job log g/app 7"},
			},
		},
		{
			name:   "plain_text is not treated as mrkdwn",
			blocks: `[{"type":"section","text":{"type":"plain_text","text":"a &lt; b <x|y>"}}]`,
			want:   "a &lt; b <x|y>",
		},
		{
			name:   "mentions, channels, special mentions and dates",
			blocks: `[{"type":"section","text":{"type":"mrkdwn","text":"<@U123> in <#C1|ops> <!here> <!date^1392734382^{date}|Feb 18> <!subteam^S1|@oncall> <mailto:a@b.c|mail>"}}]`,
			want:   "@U123 in #ops @here Feb 18 @oncall mail (mailto:a@b.c)",
		},
		{
			name:   "link whose label equals its url is shown once, entities in urls decoded",
			blocks: `[{"type":"section","text":{"type":"mrkdwn","text":"<https://g.example.com/a?x=1&amp;y=2|https://g.example.com/a?x=1&amp;y=2>"}}]`,
			want:   "https://g.example.com/a?x=1&y=2",
		},
		{
			name:   "image, markdown and rich text blocks",
			blocks: `[{"type":"image","image_url":"https://x/y.png","alt_text":"graph"},{"type":"markdown","text":"**done** &amp; dusted"},{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"see "},{"type":"link","url":"https://x.example","text":"here"},{"type":"emoji","name":"tada"}]},{"type":"rich_text_list","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"one"}]}]}]}]`,
			want:   "[image: graph]\n**done** & dusted\nsee here (https://x.example):tada:\n- one",
		},
		{
			name:   "unclosed angle bracket is left alone",
			blocks: `[{"type":"section","text":{"type":"mrkdwn","text":"a <b"}}]`,
			want:   "a <b",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, buttons := renderText(json.RawMessage(tc.blocks), tc.fallback)
			if text != tc.want {
				t.Errorf("text =\n%s\nwant\n%s", text, tc.want)
			}
			if !slices.Equal(buttons, tc.buttons) {
				t.Errorf("buttons = %+v, want %+v", buttons, tc.buttons)
			}
		})
	}
}

func TestFormatButtons(t *testing.T) {
	got := formatButtons([]consoleButton{{Label: "Retry"}, {Label: "Cancel"}, {Label: "Open in GitLab", URL: "https://g/x"}})
	if want := "[1] Retry  [2] Cancel  [3] Open in GitLab (https://g/x)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRenderCall(t *testing.T) {
	card := json.RawMessage(`[{"type":"section","text":{"type":"mrkdwn","text":"card"}},{"type":"actions","elements":[{"type":"button","action_id":"a","text":{"type":"plain_text","text":"Go"},"value":"v"}]}]`)
	tests := []struct {
		name string
		call slackfake.Call
		want string
		show bool
	}{
		{name: "channel message", call: slackfake.Call{Method: "chat.postMessage", Blocks: card}, show: true, want: "pipebot:\n  card\n  [1] Go\n"},
		{name: "thread reply is indented", call: slackfake.Call{Method: "chat.postMessage", ThreadTS: "1.1", Text: "done <@U1>"}, show: true, want: "  pipebot (in thread):\n    done @U1\n"},
		{name: "broadcast thread reply says so", call: slackfake.Call{Method: "chat.postMessage", ThreadTS: "1.1", Broadcast: true, Text: "failed"}, show: true, want: "  pipebot (in thread) (also sent to the channel):\n    failed\n"},
		{name: "update", call: slackfake.Call{Method: "chat.update", Text: "now running"}, show: true, want: "pipebot (updated):\n  now running\n"},
		{name: "ephemeral", call: slackfake.Call{Method: "chat.postEphemeral", Text: "token abcd"}, show: true, want: "pipebot (only you):\n  token abcd\n"},
		{name: "response_url defaults to ephemeral", call: slackfake.Call{Method: "response_url", Text: "usage"}, show: true, want: "pipebot (only you):\n  usage\n"},
		{name: "response_url in channel", call: slackfake.Call{Method: "response_url", ResponseType: "in_channel", Text: "hi"}, show: true, want: "pipebot:\n  hi\n"},
		{name: "response_url delete", call: slackfake.Call{Method: "response_url", DeleteOriginal: true}, show: true, want: "pipebot (deleted a message):\n"},
		{name: "file upload", call: slackfake.Call{Method: "files.completeUploadExternal", File: &slackfake.File{Name: "job-7.log", Size: 2048}}, show: true, want: "pipebot uploaded job-7.log (2.0 KiB)\n"},
		{name: "failed call shows the slack error", call: slackfake.Call{Method: "chat.postMessage", Error: "not_in_channel"}, show: true, want: "chat.postMessage: failed: not_in_channel\n"},
		{name: "modal", call: slackfake.Call{Method: "views.open", View: json.RawMessage(`{"title":{"type":"plain_text","text":"Set variable"},"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"KEY"}}]}`)}, show: true, want: "pipebot (form: Set variable, fill it in Slack)\n  KEY\n"},
		{name: "other methods are not shown", call: slackfake.Call{Method: "auth.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok := renderCall(tc.call)
			if ok != tc.show || got != tc.want {
				t.Fatalf("renderCall = %q, %v; want %q, %v", got, ok, tc.want, tc.show)
			}
		})
	}
}

func TestRenderShowsEmojiCodesAsCharacters(t *testing.T) {
	got := mrkdwnToText(":x: *#42* failed · :white_check_mark: build", "mrkdwn")
	if got != "❌ *#42* failed · ✅ build" {
		t.Errorf("got %q", got)
	}
	if got := mrkdwnToText(":x: stays", "plain_text"); got != ":x: stays" {
		t.Errorf("plain text changed: %q", got)
	}
}
