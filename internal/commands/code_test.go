package commands

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

var fencedBlock = regexp.MustCompile("(?s)```.*?```")

// replyMrkdwn returns a reply's fallback text and the mrkdwn texts of its
// blocks.
func replyMrkdwn(t *testing.T, r Reply) []string {
	t.Helper()
	raw, err := json.Marshal(r.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	out := []string{r.Text}
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

// TestGitLabNamesWithBackticksKeepCodeSpansClosed: refs and job names that
// hold backticks and Slack control sequences neither ping anyone nor leave
// a code span open in what the commands answer.
func TestGitLabNamesWithBackticksKeepCodeSpansClosed(t *testing.T) {
	const ref = "a`b<!here>"
	h := newHarness(t)
	h.sim.AddProject(simulator.Project{ID: 8, Path: "group/odd", Branches: []string{"main", ref},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs:    []simulator.JobSpec{{Name: "rs`pec <!here>", Stage: "te`st"}}})
	h.sim.CreatePipeline(8, ref, "push", 1)
	for _, cmd := range []string{
		"pipeline list group/odd",
		"job list group/odd pipeline:1",
		"job show group/odd 1",
		"pipeline list group/odd ref:" + ref,
		"job list group/odd status:x`y<!here>",
	} {
		t.Run(cmd, func(t *testing.T) {
			r := h.router.Dispatch(t.Context(), h.req(operator, cmd))
			texts := replyMrkdwn(t, r)
			if len(strings.Join(texts, "")) == 0 {
				t.Fatal("empty reply")
			}
			for _, s := range texts {
				if strings.Contains(s, "<!here>") {
					t.Errorf("raw <!here> in %q", s)
				}
				if strings.Count(fencedBlock.ReplaceAllString(s, ""), "`")%2 != 0 {
					t.Errorf("unbalanced backtick in %q", s)
				}
			}
		})
	}
}

// TestUserAndGitLabTextNeverPingsInVariableAndTriggerAnswers: group paths,
// scopes and trigger names typed by the user come back escaped, whether
// GitLab finds them or not.
func TestUserAndGitLabTextNeverPingsInVariableAndTriggerAnswers(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range []string{
		"var list group:&lt;!here&gt;",
		"var list group:a/&lt;!channel&gt;",
		"var show group:&lt;!here&gt; KEY",
		"var show group/app KEY scope:&lt;!here&gt;",
		"var delete group/app KEY scope:&lt;!here&gt; confirm:yes",
		"trigger run group/app &lt;!here&gt; main",
		`trigger run group/app "a` + "`" + `b &lt;!here&gt;" main`,
	} {
		t.Run(cmd, func(t *testing.T) {
			r := h.router.Dispatch(t.Context(), h.req(admin, cmd))
			texts := replyMrkdwn(t, r)
			if len(strings.Join(texts, "")) == 0 {
				t.Fatal("empty reply")
			}
			for _, s := range texts {
				if strings.Contains(s, "<!here>") || strings.Contains(s, "<!channel>") {
					t.Errorf("raw mention in %q", s)
				}
				if strings.Count(fencedBlock.ReplaceAllString(s, ""), "`")%2 != 0 {
					t.Errorf("unbalanced backtick in %q", s)
				}
			}
		})
	}
}
