package slackfake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

const channel = "C0CI"

func newFake(t *testing.T, opts slackfake.Options) (*slackfake.Server, *slack.Client) {
	t.Helper()
	fake := slackfake.NewServer(opts)
	t.Cleanup(fake.Close)
	return fake, slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
}

func slackErr(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	if err != nil {
		return "non-slack error: " + err.Error()
	}
	return ""
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func TestPostUpdateAndThreadReplyRoundTripThroughReplies(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	meta := slack.SlackMetadata{EventType: "pipebot_pipeline", EventPayload: map[string]any{"project": "g/app", "pipeline": 42.0}}

	_, ts, err := api.PostMessageContext(ctx, channel,
		slack.MsgOptionText("pipeline #42 running", false),
		slack.MsgOptionBlocks(section("*#42* running")),
		slack.MsgOptionMetadata(meta))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText("pipeline #42 failed", false)); err != nil {
		t.Fatalf("update: %v", err)
	}
	_, replyTS, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("<@U1> #42 failed", false), slack.MsgOptionTS(ts), slack.MsgOptionBroadcast())
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	if replyTS <= ts {
		t.Errorf("reply ts %q not after parent %q", replyTS, ts)
	}

	msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: ts, IncludeAllMetadata: true})
	if err != nil {
		t.Fatalf("replies: %v", err)
	}
	if len(msgs) != 2 {
		t.Fatalf("replies returned %d messages, want parent and reply", len(msgs))
	}
	parent, reply := msgs[0], msgs[1]
	if parent.Text != "pipeline #42 failed" || parent.Edited == nil || parent.ReplyCount != 1 {
		t.Errorf("parent = text %q edited %v replies %d, want updated text, edited, 1 reply", parent.Text, parent.Edited, parent.ReplyCount)
	}
	if len(parent.Blocks.BlockSet) != 1 {
		t.Errorf("update without blocks dropped them: %d blocks", len(parent.Blocks.BlockSet))
	}
	if parent.Metadata.EventType != "pipebot_pipeline" || parent.Metadata.EventPayload["pipeline"] != 42.0 {
		t.Errorf("parent metadata = %+v", parent.Metadata)
	}
	if reply.ThreadTimestamp != ts || reply.Timestamp != replyTS || reply.SubType != "thread_broadcast" {
		t.Errorf("reply = thread %q ts %q subtype %q", reply.ThreadTimestamp, reply.Timestamp, reply.SubType)
	}

	noMeta, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: ts})
	if err != nil {
		t.Fatalf("replies without metadata: %v", err)
	}
	if noMeta[0].Metadata.EventType != "" {
		t.Errorf("metadata returned without include_all_metadata")
	}

	state := fake.Messages(channel)
	if len(state) != 2 || state[0].Edits != 1 || state[0].Text != "pipeline #42 failed" || !state[1].Broadcast {
		t.Errorf("Messages = %+v", state)
	}
	if th := fake.Thread(channel, ts); len(th) != 1 || th[0].TS != replyTS {
		t.Errorf("Thread = %+v", th)
	}
	posts := fake.CallsOf("chat.postMessage")
	if len(posts) != 2 || metadataType(posts[0].Metadata) != "pipebot_pipeline" || posts[0].Blocks == nil || posts[1].ThreadTS != ts || !posts[1].Broadcast {
		t.Errorf("recorded posts = %+v", posts)
	}

	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(hist.Messages) != 2 || hist.Messages[0].Timestamp != replyTS {
		t.Errorf("history should hold the broadcast reply first, then the parent: %+v", hist.Messages)
	}
}

func metadataType(raw json.RawMessage) string {
	var m struct {
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.EventType
}

func TestChatErrors(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, api *slack.Client, ts string) error
		want string
	}{
		{"update of an unknown ts is message_not_found", func(ctx context.Context, api *slack.Client, _ string) error {
			_, _, _, err := api.UpdateMessageContext(ctx, channel, "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update in another channel is message_not_found", func(ctx context.Context, api *slack.Client, ts string) error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C0OTHER", ts, slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"post without text or blocks is no_text", func(ctx context.Context, api *slack.Client, _ string) error {
			_, _, err := api.PostMessageContext(ctx, channel)
			return err
		}, "no_text"},
		{"section over 3000 characters is invalid_blocks", func(ctx context.Context, api *slack.Client, _ string) error {
			_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(section(strings.Repeat("x", 3001))))
			return err
		}, "invalid_blocks"},
		{"more than 50 blocks is invalid_blocks", func(ctx context.Context, api *slack.Client, _ string) error {
			blocks := make([]slack.Block, 51)
			for i := range blocks {
				blocks[i] = slack.NewDividerBlock()
			}
			_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(blocks...))
			return err
		}, "invalid_blocks"},
		{"delete twice is message_not_found", func(ctx context.Context, api *slack.Client, ts string) error {
			if _, _, err := api.DeleteMessageContext(ctx, channel, ts); err != nil {
				return err
			}
			_, _, err := api.DeleteMessageContext(ctx, channel, ts)
			return err
		}, "message_not_found"},
		{"replies of an unknown thread is thread_not_found", func(ctx context.Context, api *slack.Client, _ string) error {
			_, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: "1.000001"})
			return err
		}, "thread_not_found"},
		{"ephemeral without a user is refused", func(ctx context.Context, api *slack.Client, _ string) error {
			_, err := api.PostEphemeralContext(ctx, channel, "", slack.MsgOptionText("x", false))
			return err
		}, "user_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := newFake(t, slackfake.Options{})
			ctx := context.Background()
			_, ts, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("card", false))
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			if got := slackErr(tt.call(ctx, api, ts)); got != tt.want {
				t.Fatalf("error = %q, want %q", got, tt.want)
			}
			calls := fake.Calls()
			if last := calls[len(calls)-1]; last.Error != tt.want {
				t.Errorf("recorded error = %q, want %q", last.Error, tt.want)
			}
		})
	}
}

func TestPostEphemeralIsRecordedForItsUserAndHiddenFromHistory(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	ts, err := api.PostEphemeralContext(ctx, channel, "U1", slack.MsgOptionText("only you can see this", false))
	if err != nil {
		t.Fatalf("ephemeral: %v", err)
	}
	msgs := fake.Messages(channel)
	if len(msgs) != 1 || !msgs[0].Ephemeral || msgs[0].User != "U1" || msgs[0].TS != ts {
		t.Fatalf("Messages = %+v", msgs)
	}
	if c := fake.CallsOf("chat.postEphemeral"); len(c) != 1 || c[0].User != "U1" || c[0].TS != ts {
		t.Errorf("calls = %+v", c)
	}
	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(hist.Messages) != 0 {
		t.Errorf("history shows ephemeral messages: %+v", hist.Messages)
	}
}

func TestResponseURL(t *testing.T) {
	ctx := context.Background()
	t.Run("replace_original of a button click replaces the clicked card", func(t *testing.T) {
		fake, api := newFake(t, slackfake.Options{})
		_, ts, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("card: running", false))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		u := fake.ResponseURLFor(channel, "U1", ts)
		// slack-go's own response_url path, which wants the body "ok".
		if _, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionReplaceOriginal(u), slack.MsgOptionText("card: canceled", false), slack.MsgOptionBlocks(section("canceled"))); err != nil {
			t.Fatalf("replace via MsgOptionReplaceOriginal: %v", err)
		}
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "done", ResponseType: slack.ResponseTypeEphemeral}); err != nil {
			t.Fatalf("follow-up via webhook: %v", err)
		}
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "card: retried", ReplaceOriginal: true}); err != nil {
			t.Fatalf("second replace: %v", err)
		}
		msgs := fake.Messages(channel)
		if len(msgs) != 2 {
			t.Fatalf("Messages = %+v, want the card and one ephemeral follow-up", msgs)
		}
		card, follow := msgs[0], msgs[1]
		if card.TS != ts || card.Text != "card: retried" || card.Edits != 2 || card.Blocks != nil {
			t.Errorf("card = %+v, want replaced twice in place", card)
		}
		if !follow.Ephemeral || follow.User != "U1" || follow.Text != "done" {
			t.Errorf("follow-up = %+v", follow)
		}
		calls := fake.CallsOf("response_url")
		if len(calls) != 3 || !calls[0].ReplaceOriginal || calls[0].TS != ts || calls[0].Blocks == nil || calls[0].User != "U1" || calls[0].Channel != channel {
			t.Errorf("response_url calls = %+v", calls)
		}
	})
	t.Run("a slash command's replace_original replaces its previous answer", func(t *testing.T) {
		fake, _ := newFake(t, slackfake.Options{})
		u := fake.ResponseURL(channel, "U1")
		for _, msg := range []*slack.WebhookMessage{
			{Text: "working…"},
			{Text: "pipeline #42 created", ReplaceOriginal: true, ResponseType: slack.ResponseTypeInChannel},
		} {
			if err := slack.PostWebhookContext(ctx, u, msg); err != nil {
				t.Fatalf("post %q: %v", msg.Text, err)
			}
		}
		msgs := fake.Messages(channel)
		if len(msgs) != 1 || msgs[0].Text != "pipeline #42 created" || msgs[0].Edits != 1 {
			t.Errorf("Messages = %+v", msgs)
		}
	})
	t.Run("in_channel answer is a visible bot message and delete_original removes it", func(t *testing.T) {
		fake, _ := newFake(t, slackfake.Options{})
		u := fake.ResponseURL(channel, "U1")
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "visible", ResponseType: slack.ResponseTypeInChannel}); err != nil {
			t.Fatal(err)
		}
		if m := fake.Messages(channel); len(m) != 1 || m[0].Ephemeral || m[0].User != fake.BotUserID() {
			t.Fatalf("Messages = %+v", m)
		}
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{DeleteOriginal: true}); err != nil {
			t.Fatal(err)
		}
		if m := fake.Messages(channel); !m[0].Deleted {
			t.Errorf("not deleted: %+v", m)
		}
	})
	t.Run("a response_url works five times, like Slack's", func(t *testing.T) {
		fake, _ := newFake(t, slackfake.Options{})
		u := fake.ResponseURL(channel, "U1")
		for i := range 5 {
			if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "again"}); err != nil {
				t.Fatalf("use %d: %v", i+1, err)
			}
		}
		err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "sixth"})
		var code slack.StatusCodeError
		if !errors.As(err, &code) || code.Code != http.StatusNotFound {
			t.Fatalf("sixth use: %v, want 404", err)
		}
		if c := fake.CallsOf("response_url"); c[5].Error != "used_url" {
			t.Errorf("recorded %q", c[5].Error)
		}
	})
	t.Run("a response_url expires after 30 minutes", func(t *testing.T) {
		now := time.Unix(1700000000, 0)
		fake, _ := newFake(t, slackfake.Options{Now: func() time.Time { return now }})
		u := fake.ResponseURL(channel, "U1")
		now = now.Add(31 * time.Minute)
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "late"}); err == nil {
			t.Fatal("expired response_url accepted")
		}
	})
}

func TestRateLimitAnswers429WithRetryAfterThenRecovers(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	fake.RateLimit("chat.postMessage", 1, 2500*time.Millisecond)

	_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want *slack.RateLimitedError", err)
	}
	if rl.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %s, want 3s (rounded up)", rl.RetryAfter)
	}
	if _, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("second post: %v", err)
	}
	calls := fake.CallsOf("chat.postMessage")
	if len(calls) != 2 || calls[0].Error != "ratelimited" || calls[1].Error != "" {
		t.Errorf("calls = %+v", calls)
	}
	if n := len(fake.Messages(channel)); n != 1 {
		t.Errorf("%d messages stored, want only the accepted one", n)
	}
}

func TestRateLimitedPostSucceedsWithSlackGoRetry(t *testing.T) {
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()), slack.OptionRetryConfig(slack.RetryConfig{MaxRetries: 1}))
	fake.RateLimit("chat.postMessage", 1, 0)
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("post with retry: %v", err)
	}
	if c := fake.CallsOf("chat.postMessage"); len(c) != 2 {
		t.Errorf("%d calls, want the 429 and the retry", len(c))
	}
}

func TestNotInChannel(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	_, ts, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	fake.NotInChannel(channel)
	_, _, err = api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
	if got := slackErr(err); got != "not_in_channel" {
		t.Errorf("post: %q, want not_in_channel", got)
	}
	_, _, _, err = api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText("x", false))
	if got := slackErr(err); got != "not_in_channel" {
		t.Errorf("update: %q, want not_in_channel", got)
	}
	info, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: channel})
	if err != nil || info.IsMember {
		t.Errorf("conversations.info = %+v, %v; want not a member", info, err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0ELSE", slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("other channel refused: %v", err)
	}
	fake.JoinChannel(channel)
	if _, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("after join: %v", err)
	}
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := range p {
		p[i] = byte((r.left - int64(i)) * 7)
	}
	r.left -= int64(len(p))
	return len(p), nil
}

func TestUploadFileRecordsSizeAndSHA256(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	const size = 3<<20 + 17
	want := sha256.New()
	if _, err := io.Copy(want, &patternReader{left: size}); err != nil {
		t.Fatal(err)
	}
	_, parentTS, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: &patternReader{left: size}, FileSize: size, Filename: "job-7.log", Title: "job 7 log",
		Channel: channel, ThreadTimestamp: parentTS, InitialComment: "full log",
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	files := fake.Files()
	if len(files) != 1 {
		t.Fatalf("Files = %+v", files)
	}
	f := files[0]
	if f.ID != sum.ID || f.Size != size || f.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Errorf("file = %+v, want id %s size %d", f, sum.ID, size)
	}
	if f.Name != "job-7.log" || f.Title != "job 7 log" || f.Channel != channel || f.ThreadTS != parentTS {
		t.Errorf("file sharing = %+v", f)
	}
	raw := fake.CallsOf("files.upload")
	if len(raw) != 1 || raw[0].Body != "" || raw[0].File == nil || raw[0].File.Size != size {
		t.Errorf("raw upload call = %+v", raw)
	}
	th := fake.Thread(channel, parentTS)
	if len(th) != 1 || th[0].Text != "full log" || len(th[0].FileIDs) != 1 || th[0].FileIDs[0] != f.ID {
		t.Errorf("thread = %+v, want the file shared in it", th)
	}
}

func TestUploadStreamsWithoutBufferingTheFile(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	const size = 32 << 20
	u, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "big.zip", FileSize: size})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := http.Post(u.UploadURL, "application/octet-stream", &patternReader{left: size})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("uploading %d bytes allocated %d bytes: the body is buffered", size, alloc)
	}
	if f := fake.Files(); len(f) != 1 || f[0].Size != size {
		t.Errorf("Files = %+v", f)
	}
}

func TestDisableFilesRefusesUploads(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	fake.DisableFiles()
	_, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{Content: "log", FileSize: 3, Filename: "a.log", Channel: channel})
	if got := slackErr(errors.Unwrap(err)); got != "missing_scope" {
		t.Fatalf("upload error = %v, want missing_scope", err)
	}
	if len(fake.Files()) != 0 {
		t.Errorf("files stored while disabled")
	}
}

func TestUsers(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	fake.AddUser(slackfake.User{ID: "U1", Name: "ada", Email: "ada@example.com"})
	ctx := context.Background()
	tests := []struct {
		name, email, wantID, wantErr string
	}{
		{"known email", "ada@example.com", "U1", ""},
		{"email matches case-insensitively", "Ada@Example.com", "U1", ""},
		{"unknown email is users_not_found", "bob@example.com", "", "users_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := api.GetUserByEmailContext(ctx, tt.email)
			if got := slackErr(err); got != tt.wantErr {
				t.Fatalf("error = %q, want %q", got, tt.wantErr)
			}
			if err == nil && (u.ID != tt.wantID || u.Profile.Email != "ada@example.com" || u.Name != "ada") {
				t.Errorf("user = %+v", u)
			}
		})
	}
	if u, err := api.GetUserInfoContext(ctx, "U1"); err != nil || u.RealName != "ada" {
		t.Errorf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U404"); slackErr(err) != "user_not_found" {
		t.Errorf("users.info unknown = %v", err)
	}
}

func TestTokens(t *testing.T) {
	fake := slackfake.NewServer(slackfake.Options{BotToken: "xoxb-right", AppToken: "xapp-right"})
	t.Cleanup(fake.Close)
	tests := []struct {
		name, token, want string
	}{
		{"configured bot token", "xoxb-right", ""},
		{"other token is invalid_auth", "xoxb-wrong", "invalid_auth"},
		{"app token on a bot method", "xapp-right", "not_allowed_token_type"},
		{"no token is not_authed", "", "not_authed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := slack.New(tt.token, slack.OptionAPIURL(fake.APIURL()))
			resp, err := api.AuthTestContext(context.Background())
			if got := slackErr(err); got != tt.want {
				t.Fatalf("error = %q, want %q", got, tt.want)
			}
			if err == nil && resp.UserID != fake.BotUserID() {
				t.Errorf("user id = %q", resp.UserID)
			}
			if _, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false)); slackErr(err) != tt.want {
				t.Errorf("post error = %v, want %q", err, tt.want)
			}
		})
	}
	for _, c := range fake.Calls() {
		if c.Error == "" && !strings.Contains(c.Body, "xoxb-right") {
			t.Errorf("accepted call %s without the token", c.Method)
		}
	}
}

func TestFailMethod(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	fake.FailMethod("chat.postMessage", "channel_not_found", 1)
	post := func() error {
		_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
		return err
	}
	if got := slackErr(post()); got != "channel_not_found" {
		t.Errorf("first = %q", got)
	}
	if err := post(); err != nil {
		t.Errorf("second = %v, want the fault used up", err)
	}
	fake.FailMethod("chat.postMessage", "fatal_error", -1)
	for i := range 3 {
		if got := slackErr(post()); got != "fatal_error" {
			t.Errorf("always-failing call %d = %q", i, got)
		}
	}
}

func TestUnknownMethod(t *testing.T) {
	fake, _ := newFake(t, slackfake.Options{})
	resp, err := http.PostForm(fake.APIURL()+"chat.frobnicate", url.Values{"token": {fake.BotToken()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.OK || body.Error != "unknown_method" {
		t.Errorf("body = %+v", body)
	}
}

func TestViews(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	modal := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Set variable", false, false),
		CallbackID:      "var_set",
		PrivateMetadata: `{"project":"g/app"}`,
		Blocks:          slack.Blocks{BlockSet: []slack.Block{section("value?")}},
	}
	v, err := api.OpenViewContext(ctx, "trig-1", modal)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if v.ID == "" || v.CallbackID != "var_set" || v.Hash == "" {
		t.Errorf("view = %+v", v.View)
	}
	open := fake.CallsOf("views.open")
	if len(open) != 1 || open[0].TriggerID != "trig-1" || !bytes.Contains(open[0].View, []byte("var_set")) {
		t.Errorf("recorded open = %+v", open)
	}
	modal.Title = slack.NewTextBlockObject(slack.PlainTextType, "Saved", false, false)
	if _, err := api.UpdateViewContext(ctx, modal, "", v.Hash, v.ID); err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, err := api.UpdateViewContext(ctx, modal, "", v.Hash, v.ID); slackErr(err) != "hash_conflict" {
		t.Errorf("stale hash: %v, want hash_conflict", err)
	}
	modal.PrivateMetadata = strings.Repeat("x", 3001)
	if _, err := api.OpenViewContext(ctx, "trig-2", modal); slackErr(err) != "invalid_arguments" {
		t.Errorf("oversized private_metadata: %v, want invalid_arguments", err)
	}
}

func TestTimestampsAreUniqueAndIncreasingWithAFrozenClock(t *testing.T) {
	now := time.Unix(1700000000, 0)
	fake, api := newFake(t, slackfake.Options{Now: func() time.Time { return now }})
	var last string
	for i := range 3 {
		_, ts, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ts, "1700000000.") || len(ts) != len("1700000000.000000") || ts <= last {
			t.Errorf("post %d ts = %q after %q", i, ts, last)
		}
		last = ts
	}
	_ = fake
}

func TestWaitForAndSubscribeSeeCallsInOrder(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	var seen []string
	cancel := fake.Subscribe(func(c slackfake.Call) { seen = append(seen, c.Method+":"+c.Text) })
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	go func() {
		_, _, _ = api.PostMessage(channel, slack.MsgOptionText("one", false))
		_, _, _ = api.PostMessage(channel, slack.MsgOptionText("two", false))
	}()
	err := fake.WaitFor(ctx, func(calls []slackfake.Call) bool { return len(calls) == 2 })
	if err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	cancel()
	// Recording waits for the previous call's delivery, so once this post
	// returns the second delivery is done, and the canceled subscriber
	// does not see this one.
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText("three", false)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ","); got != "chat.postMessage:one,chat.postMessage:two" {
		t.Errorf("subscriber saw %q", got)
	}

	short, stopShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stopShort()
	if err := fake.WaitFor(short, func([]slackfake.Call) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor on a done ctx = %v", err)
	}

	fake.Reset()
	if len(fake.Calls()) != 0 || len(fake.Messages(channel)) != 0 {
		t.Errorf("Reset kept state")
	}
}

func TestSocketModeDeliversEnvelopesAndRecordsAcks(t *testing.T) {
	fake := slackfake.NewServer(slackfake.Options{AppToken: "xapp-test"})
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken("xapp-test"))
	client := socketmode.New(api)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = client.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				switch evt.Type {
				case socketmode.EventTypeSlashCommand:
					cmd, _ := evt.Data.(slack.SlashCommand)
					_ = client.Ack(*evt.Request, map[string]any{"text": "got " + cmd.Text})
				case socketmode.EventTypeInteractive:
					_ = client.Ack(*evt.Request)
				}
			}
		}
	}()

	env, err := fake.SendSocketEvent(ctx, "slash_commands", json.RawMessage(`{"command":"/ci","text":"help","user_id":"U1","channel_id":"C0CI"}`))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	payload, err := fake.WaitForAck(ctx, env)
	if err != nil {
		t.Fatalf("ack: %v", err)
	}
	if !bytes.Contains(payload, []byte(`"got help"`)) {
		t.Errorf("ack payload = %s", payload)
	}
	env2, err := fake.SendSocketEvent(ctx, "interactive", json.RawMessage(`{"type":"block_actions","user":{"id":"U1"}}`))
	if err != nil {
		t.Fatalf("send interactive: %v", err)
	}
	if p, err := fake.WaitForAck(ctx, env2); err != nil || p != nil {
		t.Errorf("interactive ack = %s, %v; want an empty ack", p, err)
	}
	if acks := fake.Acks(); len(acks) != 2 {
		t.Errorf("Acks = %v", acks)
	}
	if c := fake.CallsOf("apps.connections.open"); len(c) == 0 || c[0].Error != "" {
		t.Errorf("connections.open calls = %+v", c)
	}
}

func TestSocketModeRefusesTheBotToken(t *testing.T) {
	fake := slackfake.NewServer(slackfake.Options{AppToken: "xapp-test"})
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken(fake.BotToken()))
	if _, _, err := api.StartSocketModeContext(context.Background()); slackErr(err) != "not_allowed_token_type" {
		t.Errorf("err = %v, want not_allowed_token_type", err)
	}
}

func TestSocketModeRedeliversTheSameEnvelope(t *testing.T) {
	fake := slackfake.NewServer(slackfake.Options{AppToken: "xapp-test"})
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken("xapp-test"))
	client := socketmode.New(api)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = client.RunContext(ctx) }()
	got := make(chan socketmode.Request, 8)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				if evt.Request != nil && evt.Request.EnvelopeID != "" {
					got <- *evt.Request
					_ = client.Ack(*evt.Request)
				}
			}
		}
	}()
	next := func() socketmode.Request {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-ctx.Done():
			t.Fatal("no envelope arrived")
			return socketmode.Request{}
		}
	}
	const payload = `{"command":"/ci","text":"run team/web main","user_id":"U1","channel_id":"C0CI","trigger_id":"1.2"}`
	type delivery struct {
		id, reason string
		attempt    int
	}
	check := func(what string, r socketmode.Request, want delivery) {
		t.Helper()
		if r.EnvelopeID != want.id || r.RetryAttempt != want.attempt || r.RetryReason != want.reason || string(r.Payload) != payload {
			t.Errorf("%s = %s attempt %d reason %q payload %s; want %s attempt %d reason %q and the same payload",
				what, r.EnvelopeID, r.RetryAttempt, r.RetryReason, r.Payload, want.id, want.attempt, want.reason)
		}
	}

	env, err := fake.SendSocketEvent(ctx, "slash_commands", json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	check("first delivery", next(), delivery{env, "", 0})
	if _, err := fake.WaitForAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := fake.RedeliverSocketEvent(ctx, env, "timeout"); err != nil {
			t.Fatal(err)
		}
		check("redelivery after the ack", next(), delivery{env, "timeout", attempt})
	}
	if _, err := fake.WaitForAcks(ctx, env, 3); err != nil || fake.AckCount(env) != 3 {
		t.Fatalf("acks of %s: %d (%v), want one per delivery", env, fake.AckCount(env), err)
	}

	twice, err := fake.SendSocketEventTwice(ctx, "slash_commands", json.RawMessage(payload), "timeout")
	if err != nil {
		t.Fatal(err)
	}
	check("back to back, first", next(), delivery{twice, "", 0})
	check("back to back, redelivery", next(), delivery{twice, "timeout", 1})
	if _, err := fake.WaitForAcks(ctx, twice, 2); err != nil {
		t.Fatal(err)
	}
	if twice == env {
		t.Error("SendSocketEventTwice reused an envelope id")
	}
	if err := fake.RedeliverSocketEvent(ctx, "env-never-sent", "timeout"); err == nil {
		t.Error("redelivering an envelope the fake never sent succeeded")
	}
}
