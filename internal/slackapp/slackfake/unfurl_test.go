package slackfake

import (
	"context"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func TestChatUnfurlRecordsPreviewsAndRefusesBadRequests(t *testing.T) {
	fake := NewServer(Options{})
	defer fake.Close()
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	ctx := context.Background()
	card := func(text string) map[string]slack.Attachment {
		return map[string]slack.Attachment{"https://gl.example/a/-/pipelines/1": {
			Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", text, false, false), nil, nil)}}}}
	}
	cases := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"by channel and ts", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C1", "1.1", card("first"))
			return err
		}, ""},
		{"again for the same message replaces the preview", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C1", "1.1", card("second"))
			return err
		}, ""},
		{"by unfurl_id and source", func() error {
			_, _, _, err := api.UnfurlMessageByIDContext(ctx, "U1-abc", "composer", card("composed"))
			return err
		}, ""},
		{"unknown source", func() error {
			_, _, _, err := api.UnfurlMessageByIDContext(ctx, "U1-abc", "elsewhere", card("x"))
			return err
		}, "invalid_source"},
		{"no ts", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C1", "", card("x"))
			return err
		}, "invalid_ts"},
		{"invalid blocks", func() error {
			_, _, _, err := api.UnfurlMessageContext(ctx, "C1", "1.1", card(""))
			return err
		}, "invalid_blocks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %s", err, tc.wantErr)
			}
		})
	}
	got := fake.Unfurls()
	if len(got) != 2 {
		t.Fatalf("Unfurls() = %+v, want the channel preview and the composer one", got)
	}
	if got[0].Channel != "C1" || got[0].TS != "1.1" || !strings.Contains(string(got[0].Blocks), "second") {
		t.Errorf("channel preview = %+v, want the replacing one in C1 at 1.1", got[0])
	}
	if got[1].UnfurlID != "U1-abc" || got[1].Source != "composer" || got[1].Channel != "" {
		t.Errorf("composer preview = %+v", got[1])
	}
	if n := len(fake.CallsOf("chat.unfurl")); n != 6 {
		t.Errorf("recorded %d chat.unfurl calls, want 6", n)
	}
}
