package notify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func (h *harness) subscribe(req SubscribeRequest) {
	h.t.Helper()
	if req.Channel == "" {
		req.Channel = testChannel
	}
	if req.Creator == "" {
		req.Creator = testUser
	}
	if req.Project == "" && req.Group == "" {
		req.Project = "group/app"
	}
	if _, err := h.w.Subscribe(context.Background(), req); err != nil {
		h.t.Fatalf("subscribe: %v", err)
	}
}

// run creates a pipeline on ref and finishes it, ticking once.
func (h *harness) run(pid int64, ref string) int64 {
	h.t.Helper()
	id := h.sim.CreatePipeline(pid, ref, "push", 1)
	if id == 0 {
		h.t.Fatalf("no pipeline on %s", ref)
	}
	h.sim.Finish(pid, id)
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		h.t.Fatalf("tick: %v", err)
	}
	return id
}

func (h *harness) cardFor(id int64) (slackfake.Message, bool) {
	for _, m := range h.topLevel() {
		if strings.Contains(m.Text, fmt.Sprintf("#%d ", id)) {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

func setJobs(h *harness, jobs []simulator.JobSpec) {
	h.sim.AddProject(simulator.Project{ID: projectID, Path: "group/app", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: jobs})
}

func TestFixedAndBrokenAcrossPipelinesOnOneRef(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "fixed,broken"})
	steps := []struct {
		name     string
		jobs     []simulator.JobSpec
		wantCard bool
	}{
		{"first failure is neither", failingJobs, false},
		{"green after red is fixed", passingJobs, true},
		{"green after green is neither", passingJobs, false},
		{"red after green is broken", failingJobs, true},
		{"red after red is neither", failingJobs, false},
	}
	for _, st := range steps {
		setJobs(h, st.jobs)
		id := h.run(projectID, "main")
		if _, got := h.cardFor(id); got != st.wantCard {
			t.Errorf("%s: card posted = %v, want %v", st.name, got, st.wantCard)
		}
	}
	if n := len(h.topLevel()); n != 2 {
		t.Errorf("cards: %d, want 2", n)
	}
	// Another ref has its own history: its first success is not "fixed".
	h.sim.AddProject(simulator.Project{ID: projectID, Path: "group/app", Branches: []string{"dev"}, Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: passingJobs})
	if id := h.run(projectID, "dev"); func() bool { _, ok := h.cardFor(id); return ok }() {
		t.Error("a success on a ref with no failure counted as fixed")
	}
}

func TestSubscriptionCardIsUpdatedInPlaceAndEndsInItsThread(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{On: "running,failed"})
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	runToEnd(t, h, id)
	card := h.card()
	if card.Edits == 0 || !contains(blocksText(card.Blocks), "failed", "rspec") {
		t.Errorf("card not updated to the failure in place: edits %d %s", card.Edits, card.Blocks)
	}
	th := h.thread()
	if len(th) != 1 || !contains(blocksText(th[0].Blocks), "failed", "rspec") {
		t.Fatalf("thread: %+v", th)
	}
	if !th[0].Broadcast {
		t.Error("a failure's thread reply is not broadcast to the channel")
	}
	for i := 0; i < 3; i++ {
		h.clock.Add(time.Second)
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.topLevel()) != 1 || len(h.thread()) != 1 {
		t.Errorf("later ticks posted again: %d cards, %d replies", len(h.topLevel()), len(h.thread()))
	}
}

func TestSubscriptionFiltersOutOtherRefsAndUsers(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.sim.AddUser(simulator.User{ID: 9, Username: "renovate-bot"}, "")
	h.sim.AddProject(simulator.Project{ID: projectID, Path: "group/app", Branches: []string{"feature/x"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, 9: simulator.Developer}, Jobs: failingJobs})
	h.subscribe(SubscribeRequest{Ref: "main", User: "!renovate-bot"})
	h.run(projectID, "feature/x")
	bot := h.sim.CreatePipeline(projectID, "main", "push", 9)
	h.sim.Finish(projectID, bot)
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topLevel()); n != 0 {
		t.Fatalf("filtered pipelines posted %d cards", n)
	}
	id := h.run(projectID, "main")
	if _, ok := h.cardFor(id); !ok {
		t.Error("the matching pipeline got no card")
	}
}

func TestChildPipelineFoldsIntoItsParent(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	parent := h.sim.CreatePipeline(projectID, "main", "push", 1)
	child := h.sim.CreateChildPipeline(projectID, parent)
	h.sim.Finish(projectID, child)
	h.sim.Finish(projectID, parent)
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.cardFor(child); ok {
		t.Error("child pipeline got its own card")
	}
	if _, ok := h.cardFor(parent); !ok {
		t.Error("parent pipeline got no card")
	}
}

func TestGroupSubscriptionPicksUpANewProject(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.sim.AddGroup(simulator.Group{ID: 70, Path: "group"})
	h.subscribe(SubscribeRequest{Group: "group"})
	h.sim.AddProject(simulator.Project{ID: 8, Path: "group/sub/new", Members: map[int64]simulator.AccessLevel{1: simulator.Developer}, Jobs: failingJobs})
	h.clock.Add(6 * time.Minute) // past GroupRefresh
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	id := h.run(8, "main")
	// The new project is quiet: noticed within the quiet interval (4 s at
	// the harness's 1 s ticks).
	card, ok := h.cardFor(id)
	for i := 0; i < 4 && !ok; i++ {
		h.clock.Add(time.Second)
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		card, ok = h.cardFor(id)
	}
	if !ok {
		t.Fatalf("no card for the new project's failure: %+v", h.topLevel())
	}
	if !strings.Contains(blocksText(card.Blocks), "group/sub/new") {
		t.Errorf("card does not name the new project: %s", card.Blocks)
	}
}

func TestSubscriptionCrashBetweenPostingAndSavingLeavesOneCard(t *testing.T) {
	for _, crashOn := range []string{"card", "final"} {
		t.Run(crashOn, func(t *testing.T) {
			h := newHarness(t, failingJobs)
			h.subscribe(SubscribeRequest{})
			h.setPoster(&crashAfterPost{poster: h.slack, crashOn: crashOn})
			id := h.sim.CreatePipeline(projectID, "main", "push", 1)
			h.sim.Finish(projectID, id)
			h.clock.Add(time.Second)
			if err := h.tick(); err == nil {
				t.Fatal("tick should report the crashed post")
			}
			h.poster = h.slack
			h.restart()
			for i := 0; i < 3; i++ {
				h.clock.Add(time.Second)
				if err := h.tick(); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(h.topLevel()); n != 1 {
				t.Fatalf("cards: %d, want 1", n)
			}
			if n := len(h.thread()); n != 1 {
				t.Fatalf("thread replies: %d, want 1", n)
			}
		})
	}
}

func TestDowntimeCatchUpPostsEachMissedEndOnce(t *testing.T) {
	h := newHarness(t, failingJobs)
	old := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, old)
	h.clock.Add(time.Hour)
	h.subscribe(SubscribeRequest{})
	a := h.sim.CreatePipeline(projectID, "main", "push", 1)
	b := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.topLevel()); n != 0 {
		t.Fatalf("running pipelines posted under the default filter: %d", n)
	}
	// Down: the store is closed while both pipelines end.
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(20 * time.Minute)
	h.sim.Finish(projectID, a)
	h.clock.Add(20 * time.Minute)
	h.sim.Finish(projectID, b)
	h.clock.Add(20 * time.Minute)
	h.open()
	for i := 0; i < 3; i++ {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		h.restart()
		h.clock.Add(time.Second)
	}
	if _, ok := h.cardFor(old); ok {
		t.Error("a pipeline that ended before the subscription was posted")
	}
	for _, id := range []int64{a, b} {
		card, ok := h.cardFor(id)
		if !ok {
			t.Fatalf("missed end of #%d not posted", id)
		}
		if n := len(h.fake.Thread(testChannel, card.TS)); n != 1 {
			t.Errorf("#%d thread replies: %d, want 1", id, n)
		}
	}
	if n := len(h.topLevel()); n != 2 {
		t.Errorf("cards: %d, want 2", n)
	}
}

func TestFinalReplyMentionsTheStarterMatchedByEmail(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.sim.AddUser(simulator.User{ID: 1, Username: "alice", Name: "Alice", Email: "alice@corp.example", PublicEmail: "alice@corp.example"}, "glpat-test")
	h.fake.AddUser(slackfake.User{ID: "U0MATCH", Name: "alice", Email: "alice@corp.example"})
	h.subscribe(SubscribeRequest{})
	h.run(projectID, "main")
	th := h.thread()
	if len(th) != 1 || !strings.Contains(blocksText(th[0].Blocks), "<@U0MATCH>") {
		t.Fatalf("final reply does not mention the matched Slack user: %+v", th)
	}
	// Cached: a second pipeline asks neither GitLab's users nor Slack again.
	before := len(h.fake.CallsOf("users.lookupByEmail"))
	h.run(projectID, "main")
	if n := len(h.fake.CallsOf("users.lookupByEmail")); n != before {
		t.Errorf("users.lookupByEmail called again: %d -> %d", before, n)
	}
}

func TestNotInChannelPausesTheSubscriptionAndTellsItsCreator(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.subscribe(SubscribeRequest{})
	h.fake.NotInChannel(testChannel)
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, id)
	h.clock.Add(time.Second)
	_ = h.tick()
	subs, err := h.store.ChannelSubscriptions(testChannel)
	if err != nil || len(subs) != 1 || !subs[0].Paused {
		t.Fatalf("subscription not paused: %+v %v", subs, err)
	}
	dm := h.fake.Messages(testUser)
	if len(dm) != 1 || !strings.Contains(dm[0].Text, "/invite @pipebot") {
		t.Errorf("creator not told how to invite pipebot: %+v", dm)
	}
	// Paused: further ticks neither post nor tell again.
	h.clock.Add(time.Second)
	_ = h.tick()
	if n := len(h.fake.Messages(testUser)); n != 1 {
		t.Errorf("creator told %d times", n)
	}
}

func TestSubscribeRefusesWhenNotInChannelOrProjectInvisible(t *testing.T) {
	h := newHarness(t, failingJobs)
	h.sim.AddProject(simulator.Project{ID: 99, Path: "secret/app"})
	ctx := context.Background()
	if _, err := h.w.Subscribe(ctx, SubscribeRequest{Channel: testChannel, Project: "secret/app"}); err == nil {
		t.Error("subscribed to a project GitLab does not show pipebot")
	}
	h.fake.NotInChannel("C0OTHER")
	if _, err := h.w.Subscribe(ctx, SubscribeRequest{Channel: "C0OTHER", Project: "group/app"}); err != ErrNotInChannel {
		t.Errorf("subscribe in a channel pipebot is not in: %v, want ErrNotInChannel", err)
	}
	if subs, _ := h.store.Subscriptions(); len(subs) != 0 {
		t.Errorf("refused subscriptions were stored: %+v", subs)
	}
}

func TestWatchesAndSubscriptionsShareOnePollPerProject(t *testing.T) {
	h := newHarness(t, passingJobs)
	h.start()
	h.subscribe(SubscribeRequest{On: "success"})
	h.subscribe(SubscribeRequest{Channel: "C0OTHER", On: "failed"})
	h.sim.ResetRequests()
	h.clock.Add(time.Second)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	lists := 0
	for _, r := range h.sim.Requests() {
		if r.Path == "/api/v4/projects/7/pipelines" {
			lists++
		}
	}
	if n := lists; n != 1 {
		t.Errorf("pipeline list requests for one project with a watch and two subscriptions: %d, want 1", n)
	}
}
