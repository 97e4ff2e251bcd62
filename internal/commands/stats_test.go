package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

const shopID = 9

// withInsights gives the harness the insights builder, uploads and the
// project group/shop with n generated pipelines over the last 28 days.
func withInsights(t *testing.T, h *harness, n int, jobs ...simulator.JobSpec) {
	t.Helper()
	if len(jobs) == 0 {
		jobs = []simulator.JobSpec{
			{Name: "compile", Stage: "build"},
			{Name: "unit", Stage: "test"},
			{Name: "integration", Stage: "test", Flaky: true},
			{Name: "lint", Stage: "test", AllowFailure: true, Fail: true},
		}
	}
	h.sim.AddProject(simulator.Project{ID: shopID, Path: "group/shop", Branches: []string{"develop"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: jobs})
	if n > 0 {
		h.sim.GenerateHistory(shopID, simulator.History{Days: 28, Pipelines: n, Seed: 5})
	}
	gl := h.router.deps.GitLab.(*gitlab.Client)
	h.router.deps.Insights = insights.NewBuilder(insights.Config{GitLab: gl, Store: h.store})
	poster := h.router.deps.Slack.(*notify.Slack)
	h.router.deps.Uploads = poster
	h.router.deps.Spool = notify.NewSpool(t.TempDir())
	h.sim.ResetRequests()
}

// channelMessages returns the channel's top-level (or thread) messages.
func channelMessages(h *harness, thread string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.fake.Messages(chanID) {
		if m.Ephemeral || len(m.FileIDs) > 0 {
			continue // files are the charts
		}
		if thread == "" && m.ThreadTS == "" || thread != "" && m.ThreadTS == thread {
			out = append(out, m)
		}
	}
	return out
}

func TestStatsPostsTheReportWithProgressAndUploadsTheChart(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 300)
	r, out := h.do(viewer, "stats group/shop")
	if !r.None {
		t.Fatalf("stats answered through response_url: %s", out)
	}
	msgs := channelMessages(h, "")
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the channel, want the one report", len(msgs))
	}
	report := string(msgs[0].Blocks)
	for _, want := range []string{"CI stats of", "group/shop", "last 14 days", "Pass rate", "Median duration", "p95 duration",
		"Slowest jobs", "Failing most", "Flaky jobs", "integration", "https://gitlab.example.com/group/shop/-/pipelines"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q: %s", want, report)
		}
	}
	if strings.Contains(report, "Reading the CI history") {
		t.Error("the progress message was not replaced by the report")
	}
	// 150 pipelines to read in 28 days: the progress was posted, then
	// updated into the report.
	posts := h.fake.CallsOf("chat.postMessage")
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "read 0 of") {
		t.Errorf("first post %+v, want the progress message", posts)
	}
	updates := h.fake.CallsOf("chat.update")
	if len(updates) < 2 || !strings.Contains(updates[len(updates)-2].Text, "read") {
		t.Errorf("%d updates; want progress updates before the report", len(updates))
	}
	files := h.fake.Files()
	if len(files) != 1 || files[0].Name != "ci-stats-group_shop-14d.png" || files[0].Channel != chanID || files[0].Size < 1000 {
		t.Fatalf("uploaded %+v, want the chart in the channel", files)
	}
	lists := 0
	for _, q := range h.sim.Requests() {
		if q.Path == "/api/v4/projects/group%2Fshop/pipelines" {
			lists++
		}
	}
	if lists != 3 {
		t.Errorf("%d list requests for ~300 pipelines, want 3", lists)
	}

	// Asked again: no progress (nothing to read), one list request.
	h.sim.ResetRequests()
	h.do(viewer, "stats group/shop chart:no")
	if n := len(h.sim.Requests()); n != 1 {
		t.Errorf("second report made %d GitLab requests, want 1", n)
	}
	if n := len(h.fake.Files()); n != 1 {
		t.Errorf("chart:no uploaded a chart (%d files)", n)
	}
	if posts := h.fake.CallsOf("chat.postMessage"); len(posts) != 2 || strings.Contains(posts[1].Text, "Reading") {
		t.Errorf("second report posts %+v", posts)
	}
}

func TestStatsFromACardGoesIntoItsThread(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 20)
	card, err := h.router.deps.Slack.(*notify.Slack).Post(context.Background(), chanID, notify.Message{Text: "a card"})
	if err != nil {
		t.Fatal(err)
	}
	req := h.req(viewer, "stats group/shop days:7")
	req.Kind = slackapp.KindAction
	req.MessageTS = card
	if r := h.router.Dispatch(context.Background(), req); !r.None {
		t.Fatalf("reply %s", replyText(r))
	}
	if top := channelMessages(h, ""); len(top) != 1 {
		t.Errorf("%d top-level messages; the report belongs in the card's thread", len(top))
	}
	if in := channelMessages(h, req.MessageTS); len(in) != 1 || !strings.Contains(string(in[0].Blocks), "last 7 days") {
		t.Errorf("thread messages %+v", in)
	}
	if files := h.fake.Files(); len(files) != 1 || files[0].ThreadTS != req.MessageTS {
		t.Errorf("chart %+v, want it in the card's thread", files)
	}
}

func TestStatsRefusesBadOptionsBeforeAskingGitLab(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 10)
	for text, want := range map[string]string{
		"stats group/shop days:0":      "from 1 to 90",
		"stats group/shop days:91":     "at most 90 days",
		"stats group/shop days:week":   "from 1 to 90",
		"stats group/shop chart:maybe": "say yes or no",
		"stats group/shop limit:3":     "has no option",
	} {
		r, out := h.do(viewer, text)
		if !strings.Contains(out, want) || r.InChannel {
			t.Errorf("%q: %s", text, out)
		}
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("bad options made %d GitLab requests", n)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("bad options posted %d messages", n)
	}
}

func TestStatsEscapesGitLabTextAndSaysWhenThereAreTooFewPipelines(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 0, simulator.JobSpec{Name: "e2e <@U1|x> & *bold*", Stage: "test", Fail: true})
	h.sim.GenerateHistory(shopID, simulator.History{Days: 7, Pipelines: 3, Seed: 1})
	h.do(viewer, "stats group/shop")
	msgs := channelMessages(h, "")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	report := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(msgs[0].Blocks))
	if strings.Contains(report, "<@U1") || !strings.Contains(report, "e2e &lt;@U1¦x&gt; &amp; *bold*") {
		t.Errorf("job name not escaped: %s", report)
	}
	if !strings.Contains(report, "3 pipelines — too few for a trend") {
		t.Errorf("no word on too few pipelines: %s", report)
	}
	if strings.Contains(report, "▲") || strings.Contains(report, "▼") {
		t.Errorf("a trend over 3 pipelines: %s", report)
	}
}

func TestStatsOutsideTheChannelAnswersThroughResponseURL(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 30)
	h.fake.NotInChannel(chanID)
	r, out := h.do(viewer, "stats group/shop")
	if !r.InChannel || !strings.Contains(out, "CI stats of") || !strings.Contains(out, "/invite @pipebot") {
		t.Errorf("reply %v: %s", r.InChannel, out)
	}
	if n := len(h.fake.Files()); n != 0 {
		t.Errorf("%d files uploaded to a channel pipebot is not in", n)
	}
}

func TestStatsOfAnUnknownProjectIsOneSentence(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 0)
	_, out := h.do(viewer, "stats group/nope")
	if !strings.Contains(out, "I can't find the project group/nope") {
		t.Errorf("reply: %s", out)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("posted %d messages", n)
	}
}

func TestStatsChartDirKeepsTheChartAndSaysWhere(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 20)
	h.router.deps.ChartDir = t.TempDir()
	h.do(viewer, "stats group/shop")
	msgs := channelMessages(h, "")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Blocks), "Chart saved to "+filepath.Join(h.router.deps.ChartDir, "ci-stats-group_shop-14d-")) {
		t.Fatalf("report: %s", msgs[0].Blocks)
	}
	saved, _ := filepath.Glob(filepath.Join(h.router.deps.ChartDir, "*.png"))
	if len(saved) != 1 {
		t.Errorf("saved %v", saved)
	} else if b, _ := os.ReadFile(saved[0]); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Error("the saved chart is not a PNG")
	}
}

func TestStatsChartDirThatCannotBeWrittenIsNotSaidToHoldTheChart(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 20)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.router.deps.ChartDir = filepath.Join(file, "charts") // under a file: no directory can be made
	h.do(viewer, "stats group/shop")
	msgs := channelMessages(h, "")
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if strings.Contains(string(msgs[0].Blocks), "Chart saved to") {
		t.Errorf("the report says a chart was saved where none could be: %s", msgs[0].Blocks)
	}
}
