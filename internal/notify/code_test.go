package notify

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// mrkdwnTexts returns the fallback text and every mrkdwn text of m's blocks.
func mrkdwnTexts(t *testing.T, m Message) []string {
	t.Helper()
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out := []string{m.Text}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok && x["type"] == "mrkdwn" {
				out = append(out, s)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

var fenced = regexp.MustCompile("(?s)```.*?```")

// unbalancedBackticks reports whether, outside code blocks, s has an odd
// number of backticks (a span that swallows what follows it).
func unbalancedBackticks(s string) bool {
	return strings.Count(fenced.ReplaceAllString(s, ""), "`")%2 != 0
}

func TestCodeSpansSurviveBackticksInGitLabNames(t *testing.T) {
	const hostile = "a`b <!here>"
	in := failedPipeline()
	in.Pipeline.Ref = hostile
	in.Jobs = append(in.Jobs, gitlab.Job{ID: 20, Name: "x`y <!here>", Stage: "s`t", Status: gitlab.StatusManual})
	manual := in
	manual.Pipeline.Status = gitlab.StatusManual
	cases := []struct {
		name string
		msg  Message
	}{
		{"card", PipelineCard(in)},
		{"card waiting for a manual job", PipelineCard(manual)},
		{"final reply", FinalReply(in)},
		{"short card", ShortCard(in)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range mrkdwnTexts(t, c.msg) {
				if strings.Contains(s, "<!here>") {
					t.Errorf("raw <!here> in %q", s)
				}
				if unbalancedBackticks(s) {
					t.Errorf("unbalanced backtick in %q", s)
				}
			}
		})
	}
}

func TestCode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"main", "main"},
		{"a`b <!here>", "aˋb &lt;!here&gt;"},
		{"```", "ˋˋˋ"},
		{"x & y", "x &amp; y"},
		{"two\nlines\r\nhere", "two lines here"},
	}
	for _, c := range cases {
		if got := Code(c.in); got != c.want {
			t.Errorf("Code(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
