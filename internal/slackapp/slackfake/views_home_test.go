package slackfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func homeView(n int) slack.HomeTabViewRequest {
	blocks := make([]slack.Block, 0, n)
	for i := range n {
		blocks = append(blocks, section(fmt.Sprintf("line %d", i)))
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

func publish(api *slack.Client, user string, v slack.HomeTabViewRequest, hash string) (*slack.ViewResponse, error) {
	req := slack.PublishViewContextRequest{UserID: user, View: v}
	if hash != "" {
		req.Hash = &hash
	}
	return api.PublishViewContext(context.Background(), req)
}

func TestViewsPublishKeepsEachUsersHomeAndChecksHash(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	first, err := publish(api, "U1", homeView(2), "")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if first.Hash == "" || first.Type != slack.VTHomeTab {
		t.Errorf("answer = %+v", first.View)
	}
	if _, err := publish(api, "U2", homeView(1), ""); err != nil {
		t.Fatal(err)
	}
	second, err := publish(api, "U1", homeView(3), first.Hash)
	if err != nil {
		t.Fatalf("publish with the current hash: %v", err)
	}
	if _, err := publish(api, "U1", homeView(4), first.Hash); slackErr(err) != "hash_conflict" {
		t.Errorf("stale hash: %v, want hash_conflict", err)
	}
	raw, ok := fake.HomeView("U1")
	var got struct {
		ID     string            `json:"id"`
		Hash   string            `json:"hash"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if !ok || json.Unmarshal(raw, &got) != nil || len(got.Blocks) != 3 || got.Hash != second.Hash || got.ID != first.ID {
		t.Errorf("U1's home = %s (found %v)", raw, ok)
	}
	if _, ok := fake.HomeView("U3"); ok {
		t.Error("a user nobody published for has a home")
	}
	if calls := fake.CallsOf("views.publish"); len(calls) != 4 || calls[0].User != "U1" || calls[3].Error != "hash_conflict" {
		t.Errorf("recorded calls = %+v", calls)
	}
}

func TestViewsPublishRefusesWhatSlackRefuses(t *testing.T) {
	_, api := newFake(t, slackfake.Options{})
	modal := homeView(1)
	modal.Type = slack.VTModal
	tests := []struct {
		name string
		user string
		view slack.HomeTabViewRequest
		want string
	}{
		{"a modal", "U1", modal, "invalid_arguments"},
		{"101 blocks", "U1", homeView(101), "invalid_arguments"},
		{"no blocks", "U1", slack.HomeTabViewRequest{Type: slack.VTHomeTab}, "invalid_arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := publish(api, tt.user, tt.view, ""); slackErr(err) != tt.want {
				t.Errorf("publish = %v, want %s", err, tt.want)
			}
		})
	}
	if _, err := publish(api, "U1", homeView(100), ""); err != nil {
		t.Errorf("100 blocks refused: %v", err)
	}
}
