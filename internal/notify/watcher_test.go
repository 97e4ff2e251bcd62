package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/state"
)

var failingJobs = []simulator.JobSpec{
	{Name: "compile", Stage: "build"},
	{Name: "rspec", Stage: "test", Fail: true, FailureReason: "script_failure"},
	{Name: "lint", Stage: "test"},
	{Name: "ship", Stage: "deploy"},
}

var passingJobs = []simulator.JobSpec{
	{Name: "compile", Stage: "build"},
	{Name: "rspec", Stage: "test"},
}

// runToEnd advances the pipeline one step per tick until it rests, ticking
// after every step.
func runToEnd(t *testing.T, h *harness, id int64) {
	t.Helper()
	for i := 0; i < 30; i++ {
		st := h.sim.Advance(projectID, id)
		if err := h.tick(); err != nil {
			t.Fatalf("tick: %v", err)
		}
		if st == simulator.StatusSuccess || st == simulator.StatusFailed || st == simulator.StatusCanceled {
			return
		}
	}
	t.Fatal("pipeline never finished")
}

func TestWatchedPipelineThatFailsShowsFailedJobInCardAndThread(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	if got := h.card(); !contains(blocksText(got.Blocks), "#"+fmt.Sprint(id), "group/app") {
		t.Fatalf("first card lacks the pipeline: %s", got.Blocks)
	}
	runToEnd(t, h, id)

	card := h.card()
	if !contains(blocksText(card.Blocks), ":x:", "failed", "rspec", "script failure", "pipeline retry group/app "+fmt.Sprint(id)) {
		t.Errorf("final card should show the failure, the failed job and a Retry button: %s", card.Blocks)
	}
	if strings.Contains(blocksText(card.Blocks), "pipeline cancel") {
		t.Errorf("a finished pipeline's card offers Cancel: %s", card.Blocks)
	}
	if card.Edits == 0 {
		t.Error("card was never updated in place")
	}
	replies := h.thread()
	if len(replies) != 1 {
		t.Fatalf("want exactly one thread reply, got %d: %+v", len(replies), replies)
	}
	if r := replies[0]; !contains(blocksText(r.Blocks), "<@"+testUser+">", "rspec", "failed") {
		t.Errorf("thread reply should mention the requester and the failed job: %s", r.Blocks)
	}
	ws, _ := h.store.Watches()
	if len(ws) != 0 {
		t.Errorf("watch not closed after the final reply: %+v", ws)
	}
	// Further ticks post nothing more.
	before := len(h.fake.Calls())
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 2 || len(h.fake.Calls()) != before {
		t.Errorf("ticks after the end posted again: %d posts", n)
	}
}

func TestCardUpdatesOnlyOnStatusChange(t *testing.T) {
	h := newHarness(t, passingJobs)
	id := h.start()
	for i := 0; i < 3; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.fake.CallsOf("chat.update")); n != 0 {
		t.Fatalf("card updated %d times without a status change", n)
	}
	runToEnd(t, h, id)
	if !contains(blocksText(h.card().Blocks), "passed") {
		t.Errorf("card does not show success: %s", h.card().Blocks)
	}
}

func TestRestartMidWatchDeliversFinalOnce(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	h.sim.Advance(projectID, id)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.sim.Finish(projectID, id)
	for i := 0; i < 3; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		h.restart()
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("final replies after restarts: %d, want 1", n)
	}
	if !contains(blocksText(h.card().Blocks), "failed") {
		t.Errorf("card after restart does not show the end: %s", h.card().Blocks)
	}
}

// crashAfterPost posts for real, then fails as if the process died before
// it could record the post.
type crashAfterPost struct {
	poster
	crashOn string // "card" or "final"
	crashed bool
}

func (c *crashAfterPost) Post(ctx context.Context, channel string, m Message) (string, error) {
	ts, err := c.poster.Post(ctx, channel, m)
	if err != nil || c.crashed {
		return ts, err
	}
	if (c.crashOn == "card" && m.ThreadTS == "") || (c.crashOn == "final" && m.ThreadTS != "") {
		c.crashed = true
		return "", errors.New("killed")
	}
	return ts, err
}

func TestCrashBetweenFinalPostAndSaveLeavesOneReply(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	h.setPoster(&crashAfterPost{poster: h.slack, crashOn: "final"})
	h.sim.Finish(projectID, id)
	if err := h.tick(); err == nil {
		t.Fatal("tick should report the crashed post")
	}
	w, ok, err := h.store.Watch(state.WatchKey{Channel: testChannel, ProjectID: projectID, PipelineID: id})
	if err != nil || !ok || w.FinalState != "pending" {
		t.Fatalf("intent not recorded before the post: %+v %v %v", w, ok, err)
	}
	h.poster = h.slack
	h.restart()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("thread replies: %d, want 1", n)
	}
	if ws, _ := h.store.Watches(); len(ws) != 0 {
		t.Errorf("watch not closed: %+v", ws)
	}
}

func TestCrashBeforeFinalPostPostsItAfterRestart(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	h.sim.Finish(projectID, id)
	key := state.WatchKey{Channel: testChannel, ProjectID: projectID, PipelineID: id}
	// Intent recorded, then the process died before posting.
	if _, err := h.store.UpdateWatch(key, func(w *state.Watch) error { w.FinalState = "pending"; return nil }); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("thread replies: %d, want 1", n)
	}
}

func TestCrashBetweenCardPostAndSaveLeavesOneCard(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.setPoster(&crashAfterPost{poster: h.slack, crashOn: "card"})
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	_, err := h.w.Watch(context.Background(), WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser})
	if err == nil {
		t.Fatal("watch should report the crashed post")
	}
	h.poster = h.slack
	h.restart()
	runToEnd(t, h, id)
	if len(h.topLevel()) != 1 {
		t.Fatalf("cards in channel: %d, want 1", len(h.topLevel()))
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("thread replies: %d, want 1", n)
	}
}

func TestGitLabErrorStormDuringWatchStillEndsRight(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	h.sim.Finish(projectID, id)
	h.sim.FailNext(20, 500, 0)
	errs := 0
	for i := 0; i < 60 && len(h.thread()) == 0; i++ {
		if err := h.tick(); err != nil {
			errs++
		}
		h.clock.Add(10 * time.Minute) // past any backoff
	}
	if errs == 0 {
		t.Fatal("the storm never reached the watcher")
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("thread replies after the storm: %d, want 1", n)
	}
	if r := h.thread()[0]; !contains(blocksText(r.Blocks), "failed", "rspec") {
		t.Errorf("final reply wrong after storm: %s", r.Blocks)
	}
}

func TestErrorsBackOffAndHonorRetryAfter(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.start()
	h.sim.FailNext(100, 429, 90*time.Second)
	if err := h.tick(); err == nil {
		t.Fatal("want a rate-limit error")
	}
	h.sim.ResetRequests()
	h.clock.Add(30 * time.Second)
	_ = h.tick()
	if n := len(h.sim.Requests()); n != 0 {
		t.Fatalf("polled %d times during Retry-After", n)
	}
	h.clock.Add(61 * time.Second)
	_ = h.tick()
	if n := len(h.sim.Requests()); n == 0 {
		t.Fatal("never polled again after Retry-After passed")
	}
}

func TestOnePollRequestPerProjectPerTick(t *testing.T) {
	// 100 watched pipelines in 5 projects: one list request per project,
	// where a request-per-pipeline loop would make 100.
	h := newHarness(t, passingJobs)
	watchAcross(t, h, 5, 20)
	h.sim.ResetRequests()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sim.Requests()); n != 5 {
		t.Fatalf("GitLab requests in one tick with 100 watches in 5 projects: %d, want 5", n)
	}
	for _, r := range h.sim.Requests() {
		if !strings.Contains(r.RawQuery, "updated_after=") {
			t.Errorf("poll without updated_after: %s?%s", r.Path, r.RawQuery)
		}
	}
}

// failFirstPost fails the first card post before it reaches Slack, as a
// Slack outage would.
type failFirstPost struct {
	poster
	failed bool
}

func (f *failFirstPost) Post(ctx context.Context, channel string, m Message) (string, error) {
	if !f.failed && m.ThreadTS == "" {
		f.failed = true
		return "", errors.New("slack unavailable")
	}
	return f.poster.Post(ctx, channel, m)
}

func TestCardThatFailedToPostStillGetsItsFinalReply(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.setPoster(&failFirstPost{poster: h.slack})
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	if _, err := h.w.Watch(context.Background(), WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}); err == nil {
		t.Fatal("watch should report the failed post")
	}
	h.sim.Finish(projectID, id)
	for i := 0; i < 3; i++ {
		_ = h.tick()
	}
	if !contains(blocksText(h.card().Blocks), "failed") {
		t.Errorf("card: %s", h.card().Blocks)
	}
	if n := len(h.thread()); n != 1 {
		t.Fatalf("final replies: %d, want 1", n)
	}
	if ws, _ := h.store.Watches(); len(ws) != 0 {
		t.Errorf("watch stuck: %+v", ws)
	}
}

func TestOneBrokenWatchDoesNotHoldUpTheOthers(t *testing.T) {
	h := newHarness(t, passingJobs)
	broken := h.start()
	healthy := h.start()
	// Someone deletes the first card in Slack.
	var brokenTS string
	for _, m := range h.topLevel() {
		if strings.Contains(blocksText(m.Blocks), fmt.Sprintf("pipeline_id\":\"%d", broken)) || strings.Contains(string(m.Metadata), fmt.Sprintf("\"%d\"", broken)) {
			brokenTS = m.TS
		}
	}
	if brokenTS == "" {
		t.Fatal("could not find the first card")
	}
	if _, _, err := slackClient(h).DeleteMessage(testChannel, brokenTS); err != nil {
		t.Fatal(err)
	}
	h.sim.Finish(projectID, broken)
	h.sim.Finish(projectID, healthy)
	_ = h.tick()
	_ = h.tick()
	ws, _ := h.store.Watches()
	if len(ws) != 0 {
		t.Errorf("watches left: %+v", ws)
	}
	replies := 0
	for _, m := range h.fake.Messages(testChannel) {
		if m.ThreadTS != "" && m.ThreadTS != m.TS && !m.Deleted {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("the healthy pipeline's final reply: %d replies, want 1", replies)
	}
}

func TestBusyProjectDoesNotPinTheCursor(t *testing.T) {
	h := newHarness(t, passingJobs)
	id := h.start()
	for i := 0; i < 120; i++ {
		h.sim.CreatePipeline(projectID, "main", "push", 1)
	}
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.sim.Finish(projectID, id)
	for i := 0; i < 3; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if !contains(blocksText(h.card().Blocks), "passed") {
		t.Fatalf("watched pipeline's end was never seen among 120 busier ones: %s", h.card().Blocks)
	}
}

func TestWatchesEndAfterMaxAge(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.start()
	h.clock.Add(8 * 24 * time.Hour)
	_ = h.tick()
	if ws, _ := h.store.Watches(); len(ws) != 0 {
		t.Errorf("a week-old unchanged watch is still polled: %+v", ws)
	}
}

// watchAcross watches perProject new pipelines in each of projects new
// projects (ids 101…), all posting to testChannel.
func watchAcross(tb testing.TB, h *harness, projects, perProject int) {
	tb.Helper()
	ctx := context.Background()
	for p := int64(1); p <= int64(projects); p++ {
		pid := 100 + p
		h.sim.AddProject(simulator.Project{ID: pid, Path: fmt.Sprintf("group/app%d", p), Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: passingJobs})
		proj, err := h.gl.Project(ctx, fmt.Sprint(pid))
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < perProject; i++ {
			id := h.sim.CreatePipeline(pid, "main", "push", 1)
			pl, err := h.gl.Pipeline(ctx, fmt.Sprint(pid), id)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := h.w.Watch(ctx, WatchRequest{Project: proj, Pipeline: pl, Channel: testChannel}); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
