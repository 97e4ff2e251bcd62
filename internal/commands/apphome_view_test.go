package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/state"
)

func viewText(t *testing.T, v slack.HomeTabViewRequest) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(tree)
	return b.String()
}

func manySubs(n int) []state.Subscription {
	out := make([]state.Subscription, n)
	for i := range out {
		out[i] = state.Subscription{Channel: fmt.Sprintf("C%04d", i), Project: fmt.Sprintf("g/app%d", i)}
	}
	return out
}

func manyPipelines(n int) []state.HomePipeline {
	out := make([]state.HomePipeline, n)
	for i := range out {
		out[i] = state.HomePipeline{ProjectID: 1, Project: "g/app", PipelineID: int64(i + 1), Ref: "main", Status: "running"}
	}
	return out
}

func TestHomeViewStaysWithinSlacksHundredBlocks(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		pipelines int
		subs      int
		notice    string
		wantMore  string // "" when everything fits
	}{
		{"everything fits", 5, 10, "", ""},
		{"many subscriptions", state.MaxHomePipelines, 150, "", "more subscriptions"},
		{"many subscriptions and a notice", state.MaxHomePipelines, 150, "done", "more subscriptions"},
		// 8 fixed blocks: header, role, identity, Refresh, two dividers, two headings.
		{"exactly full", 10, maxHomeBlocks - 8 - 10, "", ""},
		{"one over", 10, maxHomeBlocks - 8 - 10 + 1, "", "…and 2 more subscriptions"},
		{"too many pipelines", 200, 0, "", "more pipelines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := homeView(homeInput{Role: RoleOperator, Pipelines: manyPipelines(tt.pipelines), Subs: manySubs(tt.subs), Notice: tt.notice, Now: now})
			n := len(v.Blocks.BlockSet)
			if n > maxHomeBlocks {
				t.Fatalf("%d blocks", n)
			}
			text := viewText(t, v)
			if tt.wantMore == "" {
				if strings.Contains(text, "more subscriptions") || strings.Contains(text, "more pipelines") {
					t.Errorf("truncated though it fits: %d blocks", n)
				}
				if tt.subs > 0 && !strings.Contains(text, fmt.Sprintf("<#C%04d>", tt.subs-1)) {
					t.Errorf("last subscription missing")
				}
				return
			}
			if n != maxHomeBlocks || !strings.Contains(text, tt.wantMore) {
				t.Errorf("%d blocks, want %d ending with %q", n, maxHomeBlocks, tt.wantMore)
			}
			// Shown plus "N more" accounts for every subscription.
			shown := strings.Count(text, "<#C")
			var more int
			if i := strings.Index(text, "…and "); i >= 0 && strings.Contains(tt.wantMore, "subscriptions") {
				fmt.Sscanf(text[i+len("…and "):], "%d", &more)
				if shown+more != tt.subs {
					t.Errorf("shown %d + %d more != %d subscriptions", shown, more, tt.subs)
				}
			}
		})
	}
}

func TestHomeViewEscapesGitLabText(t *testing.T) {
	v := homeView(homeInput{Role: RoleViewer, Now: time.Now(),
		Identity:  GitLabIdentity{Kind: IdentityBot, Username: "bot<&>"},
		Pipelines: []state.HomePipeline{{ProjectID: 1, Project: "g/app", PipelineID: 3, Ref: "feat/<!here>&`x`", Status: "failed", WebURL: "https://gitlab.example.com/g/app/-/pipelines/3"}},
		Subs:      []state.Subscription{{Channel: "C1", Project: "g/<b>", Refs: []string{"<!everyone>"}}},
	})
	text := viewText(t, v)
	for _, bad := range []string{"<!here>", "<!everyone>", "<b>", "bot<&>"} {
		if strings.Contains(text, bad) {
			t.Errorf("unescaped %q in %s", bad, text)
		}
	}
	for _, want := range []string{"&lt;!here&gt;&amp;", "(@bot&lt;&amp;&gt;)", "*Your role:* viewer"} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q: %s", want, text)
		}
	}
}

func TestHomeViewIdentityLines(t *testing.T) {
	tests := []struct {
		name string
		id   GitLabIdentity
		want []string
	}{
		{"bot", GitLabIdentity{Kind: IdentityBot, Username: "pipebot"}, []string{"pipebot's token (@pipebot)"}},
		{"bot, username unknown", GitLabIdentity{Kind: IdentityBot}, []string{"pipebot's token."}},
		{"linked", GitLabIdentity{Kind: IdentityLinked, Username: "alice"}, []string{"linked as @alice"}},
		{"not linked, login command", GitLabIdentity{Kind: IdentityNotLinked}, []string{"not linked", "Connect GitLab", `"value":"login"`}},
		{"not linked, login URL", GitLabIdentity{Kind: IdentityNotLinked, ConnectURL: "https://pipebot.example.com/gitlab/oauth/start?x=1"}, []string{"Connect GitLab", `"url":"https://pipebot.example.com/gitlab/oauth/start?x=1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := viewText(t, homeView(homeInput{Role: RoleOperator, Identity: tt.id, Now: time.Now()}))
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q: %s", w, text)
				}
			}
		})
	}
}

// The Home's buttons are the pipeline card's: a command of the table.
func TestEveryHomeButtonRunsARealCommand(t *testing.T) {
	h := newHarness(t)
	var ps []state.HomePipeline
	for _, st := range []string{"failed", "canceled", "running", "pending", "manual", "success"} {
		ps = append(ps, state.HomePipeline{ProjectID: 7, Project: "group/app", PipelineID: 42, Ref: "main", Status: st})
	}
	v := homeView(homeInput{Role: RoleOperator, Pipelines: ps, Now: time.Now()})
	values := buttonValues(v.Blocks.BlockSet)
	if len(values) != 6 { // refresh + 2 retries + 3 cancels
		t.Fatalf("buttons = %q", values)
	}
	for _, val := range values {
		if val == "" {
			continue // Refresh
		}
		tokens, err := lexTokenize(val)
		if err != nil {
			t.Fatalf("%q: %v", val, err)
		}
		if cmd, _ := h.router.lookup(tokens); cmd == nil || (cmd.Name != "pipeline retry" && cmd.Name != "pipeline cancel") {
			t.Errorf("button %q runs %v", val, cmd)
		}
	}
}

// Slack sends app_home_opened only to an app that subscribes to it, and
// views.publish answers not_enabled unless the Home tab is on.
func TestManifestEnablesTheHomeTab(t *testing.T) {
	raw, err := os.ReadFile("../../manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	for _, want := range []string{"app_home:", "home_tab_enabled: true", "messages_tab_enabled: true", "- app_home_opened", "- link_shared"} {
		if !lines[want] {
			t.Errorf("manifest.yml lacks %q", want)
		}
	}
}
