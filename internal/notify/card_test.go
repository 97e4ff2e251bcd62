package notify

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("%s differs from golden file %s:\n%s", name, path, got)
	}
}

func ptr[T any](v T) *T { return &v }

var (
	t0      = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	cardNow = t0.Add(5 * time.Minute)
)

func failedPipeline() CardInput {
	return CardInput{
		Project: "group/app",
		Pipeline: gitlab.Pipeline{
			ID: 287, IID: 144, ProjectID: 21, Status: gitlab.StatusFailed, Source: "push", Ref: "main",
			SHA: "50f0acb76a40e34a4ff304f7347dcc6587da8a14", WebURL: "https://gitlab.example.com/group/app/-/pipelines/287",
			User: gitlab.User{Username: "root"}, StartedAt: ptr(t0), FinishedAt: ptr(t0.Add(94 * time.Second)), Duration: 94 * time.Second,
		},
		Jobs: []gitlab.Job{
			{ID: 10, Name: "compile", Stage: "build", Status: gitlab.StatusSuccess},
			{ID: 11, Name: "rspec <b>", Stage: "test", Status: gitlab.StatusFailed, FailureReason: "script_failure", WebURL: "https://gitlab.example.com/group/app/-/jobs/11"},
			{ID: 12, Name: "lint", Stage: "test", Status: gitlab.StatusFailed, AllowFailure: true},
			{ID: 13, Name: "ship", Stage: "deploy", Status: gitlab.StatusSkipped},
		},
		Requester: "U0ALICE",
		Now:       cardNow,
		LogTails: map[int64][]string{11: {
			"» step_script: Executing step",
			"Failures: <!channel> ``` closed?",
			"ERROR: Job failed: exit code 1",
		}},
	}
}

func TestPipelineCardGolden(t *testing.T) {
	running := failedPipeline()
	running.Pipeline.Status = gitlab.StatusRunning
	running.Pipeline.FinishedAt = nil
	running.Pipeline.Duration = 0
	running.Jobs = running.Jobs[:2]
	running.Jobs[1].Status = gitlab.StatusRunning
	running.Jobs[1].FailureReason = ""

	manual := failedPipeline()
	manual.Pipeline.Status = gitlab.StatusManual
	manual.Jobs = []gitlab.Job{
		{ID: 10, Name: "compile", Stage: "build", Status: gitlab.StatusSuccess},
		{ID: 14, Name: "deploy-prod", Stage: "deploy", Status: gitlab.StatusManual},
		{ID: 15, Name: "package", Stage: "build", Status: gitlab.StatusSuccess, HasArtifacts: true},
	}
	for name, in := range map[string]CardInput{"card_failed": failedPipeline(), "card_running": running, "card_manual": manual} {
		t.Run(name, func(t *testing.T) {
			golden(t, name, PipelineCard(in))
		})
	}
	t.Run("final_failed", func(t *testing.T) { golden(t, "final_failed", FinalReply(failedPipeline())) })
}

func TestCardButtonsMatchState(t *testing.T) {
	cases := []struct {
		status gitlab.Status
		want   []string
		absent []string
	}{
		{gitlab.StatusFailed, []string{"pipeline retry group/app 287", "job list group/app pipeline:287"}, []string{"pipeline cancel"}},
		{gitlab.StatusRunning, []string{"pipeline cancel group/app 287"}, []string{"pipeline retry"}},
		{gitlab.StatusSuccess, []string{"job list"}, []string{"pipeline retry", "pipeline cancel"}},
		{gitlab.StatusCanceled, []string{"pipeline retry"}, []string{"pipeline cancel"}},
		{gitlab.StatusManual, []string{"pipeline cancel"}, []string{"pipeline retry"}},
	}
	for _, c := range cases {
		t.Run(string(c.status), func(t *testing.T) {
			in := failedPipeline()
			in.Pipeline.Status = c.status
			b, _ := json.Marshal(PipelineCard(in).Blocks)
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s card lacks %q", c.status, w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(string(b), a) {
					t.Errorf("%s card offers %q", c.status, a)
				}
			}
		})
	}
}

func TestCardEscapesGitLabText(t *testing.T) {
	in := failedPipeline()
	in.Pipeline.Ref = "<!channel> & <https://evil|click>"
	in.Project = "group/<app>"
	b, _ := json.Marshal(PipelineCard(in).Blocks)
	s := blocksText(b)
	for _, bad := range []string{"<!channel>", "<https://evil|click>", "rspec <b>", "· group/<app>"} {
		if strings.Contains(s, bad) {
			t.Errorf("unescaped GitLab text %q reached the card", bad)
		}
	}
	if !strings.Contains(s, "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;") {
		t.Errorf("ref not escaped as expected: %s", s)
	}
}

func TestEscapeAndTruncate(t *testing.T) {
	if got := Escape("a<b>&c"); got != "a&lt;b&gt;&amp;c" {
		t.Errorf("Escape = %q", got)
	}
	s := strings.Repeat("é", 10)
	got := truncate(s, 7)
	if len(got) > 7 || !strings.HasSuffix(got, "…") || !json.Valid([]byte(`"`+got+`"`)) {
		t.Errorf("truncate broke UTF-8 or the limit: %q", got)
	}
	if Duration(94*time.Second) != "1m 34s" || Duration(3*time.Hour+4*time.Minute) != "3h 4m" || Duration(5*time.Second) != "5s" {
		t.Error("Duration formatting changed")
	}
}
