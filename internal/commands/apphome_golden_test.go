package commands

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

var updateHome = flag.Bool("update-home", false, "rewrite the App Home golden file")

// The whole Home as Slack receives it: a failed, a running and a passed
// pipeline, a project and a group subscription, and a notice.
func TestHomeViewGolden(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	url := func(id int) string { return fmt.Sprintf("https://gitlab.example.com/group/app/-/pipelines/%d", id) }
	v := homeView(homeInput{
		Role: RoleOperator, Identity: GitLabIdentity{Kind: IdentityBot, Username: "pipebot"}, Now: now,
		Notice: ":envelope_with_arrow: I answered your click in our DM (Messages tab).",
		Pipelines: []state.HomePipeline{
			{ProjectID: 7, Project: "group/app", PipelineID: 3, Ref: "main", Status: "failed", WebURL: url(3), StartedAt: now.Add(-5 * time.Minute)},
			{ProjectID: 7, Project: "group/app", PipelineID: 2, Ref: "release/1.2", Status: "running", WebURL: url(2), StartedAt: now.Add(-2 * time.Hour)},
			{ProjectID: 7, Project: "group/app", PipelineID: 1, Ref: "main", Status: "success", WebURL: url(1), StartedAt: now.Add(-72 * time.Hour)},
		},
		Subs: []state.Subscription{
			{Channel: "C0CHAN", Project: "group/app", On: []string{"failed", "fixed"}, Refs: []string{"main", "release/*"}},
			{Channel: "C0OPS", Group: "group", Sources: []string{"schedule"}, Paused: true, PausedReason: "not_in_channel"},
		},
	})
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "home.golden.json")
	if *updateHome {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run HomeViewGolden -update-home to create it)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Errorf("the Home differs from %s:\n%s", path, got)
	}
}
