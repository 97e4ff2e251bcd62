package slackapp

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// syncBuffer is an io.Writer safe for the console's concurrent writes and
// the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// chatHandler stands in for the command router: it answers through the real
// slack-go client pointed at the fake, as pipebot does.
type chatHandler struct {
	api *slack.Client
	mu  sync.Mutex
	got []Request
}

func (h *chatHandler) requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.got...)
}

func (h *chatHandler) Handle(ctx context.Context, req Request) {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	switch {
	case req.Kind == KindCommand && req.Text == "pipelines":
		card := []slack.Block{
			slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Pipeline #42 failed", false, false)),
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*g/app* on `main` &amp; <https://gitlab.example.com/g/app/-/pipelines/42|#42>", false, false), nil, nil),
			slack.NewActionBlock("actions",
				slack.NewButtonBlockElement("pipeline.retry", "pipeline retry g/app 42", slack.NewTextBlockObject(slack.PlainTextType, "Retry", false, false)),
				slack.NewButtonBlockElement("jobs", "job list g/app pipeline:42", slack.NewTextBlockObject(slack.PlainTextType, "Jobs", false, false)),
				slack.NewButtonBlockElement("open", "", slack.NewTextBlockObject(slack.PlainTextType, "Open in GitLab", false, false)).WithURL("https://gitlab.example.com/g/app/-/pipelines/42"),
			),
		}
		_, ts, err := h.api.PostMessageContext(ctx, req.ChannelID, slack.MsgOptionText("Pipeline #42 failed", false), slack.MsgOptionBlocks(card...))
		if err != nil {
			panic(err)
		}
		if _, _, err := h.api.PostMessageContext(ctx, req.ChannelID, slack.MsgOptionText("started by <@"+req.UserID+">", false), slack.MsgOptionTS(ts)); err != nil {
			panic(err)
		}
	case req.Kind == KindCommand:
		if err := slack.PostWebhookContext(ctx, req.ResponseURL, &slack.WebhookMessage{Text: "usage: /ci " + req.Text}); err != nil {
			panic(err)
		}
	case req.Kind == KindAction:
		if _, _, _, err := h.api.UpdateMessageContext(ctx, req.ChannelID, req.MessageTS, slack.MsgOptionText("retrying "+req.Text, false)); err != nil {
			panic(err)
		}
		if err := slack.PostWebhookContext(ctx, req.ResponseURL, &slack.WebhookMessage{Text: "clicked " + req.ActionID}); err != nil {
			panic(err)
		}
	}
}

func newConsoleFixture(t *testing.T) (*slackfake.Server, *chatHandler, *Pool) {
	t.Helper()
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	h := &chatHandler{api: slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))}
	pool := NewPool(PoolConfig{Workers: 2, Once: onceMap()}, h)
	pool.Start(t.Context())
	t.Cleanup(pool.Stop)
	return fake, h, pool
}

func TestConsoleScriptedSession(t *testing.T) {
	fake, h, pool := newConsoleFixture(t)
	out := &syncBuffer{}
	script := strings.Join([]string{
		"!1",            // nothing to click yet
		"/ci pipelines", // card + thread reply
		"!3",            // link button: not clickable
		"!1",            // Retry
		"!9",            // out of range
		"ci help",       // "ci" prefix
		"",              // blank lines are skipped
		"vars",          // bare text is /ci vars
		"/deploy now",   // other slash commands are refused
		"quit",
		"/ci never read",
	}, "\n")
	err := RunConsole(t.Context(), ConsoleConfig{In: strings.NewReader(script), Out: out, Fake: fake, Pool: pool, UserID: "U0ANN", ChannelID: "C0DEMO"})
	if err != nil {
		t.Fatalf("RunConsole: %v", err)
	}
	got := out.String()
	t.Logf("session:\n%s", got)
	for _, want := range []string{
		"no buttons to click yet\n",
		"pipebot:\n  == Pipeline #42 failed ==\n  *g/app* on `main` & #42 (https://gitlab.example.com/g/app/-/pipelines/42)\n  [1] Retry  [2] Jobs  [3] Open in GitLab (https://gitlab.example.com/g/app/-/pipelines/42)\n",
		"  pipebot (in thread):\n    started by @U0ANN\n",
		"[3] Open in GitLab is a link: open https://gitlab.example.com/g/app/-/pipelines/42\n",
		"pipebot (updated):\n  retrying pipeline retry g/app 42\n",
		"pipebot (only you):\n  clicked pipeline.retry\n",
		"no button 9: choose 1 to 3\n",
		"pipebot (only you):\n  usage: /ci help\n",
		"pipebot (only you):\n  usage: /ci vars\n",
		"only /ci is known here\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q\n--- output ---\n%s", want, got)
		}
	}
	if strings.Contains(got, "never read") {
		t.Errorf("input after quit was run:\n%s", got)
	}

	reqs := h.requests()
	var texts []string
	for _, r := range reqs {
		texts = append(texts, r.Kind.String()+":"+r.Text)
	}
	wantTexts := []string{"command:pipelines", "action:pipeline retry g/app 42", "command:help", "command:vars"}
	if strings.Join(texts, "|") != strings.Join(wantTexts, "|") {
		t.Fatalf("handled %v, want %v", texts, wantTexts)
	}
	card := fake.CallsOf("chat.postMessage")[0]
	click := reqs[1]
	if click.ActionID != "pipeline.retry" || click.MessageTS != card.TS || click.DedupeKey == "" ||
		click.ResponseURL == "" || click.Source != "console" || click.UserID != "U0ANN" || click.ChannelID != "C0DEMO" {
		t.Fatalf("click request = %+v (card ts %s)", click, card.TS)
	}
	if reqs[0].Command != "/ci" || reqs[0].ResponseURL == "" || reqs[0].DedupeKey != "" {
		t.Fatalf("command request = %+v", reqs[0])
	}
}

func TestConsoleEOFWaitsForRepliesAndSettle(t *testing.T) {
	fake, _, pool := newConsoleFixture(t)
	out := &syncBuffer{}
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	settled := false
	settle := func(ctx context.Context) {
		settled = true
		// Work started by a handler (a watcher tick) that prints after input ends.
		if _, _, err := api.PostMessageContext(ctx, "C0DEMO", slack.MsgOptionText("pipeline #42 passed", false)); err != nil {
			t.Error(err)
		}
	}
	err := RunConsole(t.Context(), ConsoleConfig{In: strings.NewReader("/ci pipelines\n"), Out: out, Fake: fake, Pool: pool,
		UserID: "U0ANN", ChannelID: "C0DEMO", Settle: settle, Prompt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !settled {
		t.Fatal("Settle was not called at end of input")
	}
	for _, want := range []string{"> ", "Pipeline #42 failed", "started by @U0ANN", "pipeline #42 passed"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestConsoleIgnoresOtherChannels(t *testing.T) {
	fake, _, pool := newConsoleFixture(t)
	out := &syncBuffer{}
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	settle := func(ctx context.Context) {
		_, _, _ = api.PostMessageContext(ctx, "C0OTHER", slack.MsgOptionText("elsewhere", false))
		_, _, _ = api.PostMessageContext(ctx, "C0DEMO", slack.MsgOptionText("here", false))
	}
	if err := RunConsole(t.Context(), ConsoleConfig{In: strings.NewReader(""), Out: out, Fake: fake, Pool: pool, UserID: "U1", ChannelID: "C0DEMO", Settle: settle}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "here") || strings.Contains(got, "elsewhere") {
		t.Fatalf("output = %q, want only this channel's message", got)
	}
}

func TestConsoleReturnsWhenContextEnds(t *testing.T) {
	fake, _, pool := newConsoleFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r, w := io.Pipe()
	defer w.Close()
	if err := RunConsole(ctx, ConsoleConfig{In: r, Out: &syncBuffer{}, Fake: fake, Pool: pool, UserID: "U1", ChannelID: "C1"}); err != nil {
		t.Fatalf("RunConsole after cancel = %v, want nil", err)
	}
}
