package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/state"
)

// timers collects the publishes the App Home schedules, so a test runs
// them when it chooses instead of waiting.
type timers struct {
	mu    sync.Mutex
	waits []time.Duration
	fns   []func()
}

func (tm *timers) after(d time.Duration, f func()) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.waits = append(tm.waits, d)
	tm.fns = append(tm.fns, f)
}

// fire runs the scheduled publishes and says how many there were.
func (tm *timers) fire() int {
	tm.mu.Lock()
	fns := tm.fns
	tm.fns = nil
	tm.mu.Unlock()
	for _, f := range fns {
		f()
	}
	return len(fns)
}

// homeHarness is the router harness with the watcher telling the App Home
// of pipeline changes, as cmd/bot wires it, and a controllable timer.
func homeHarness(t testing.TB) (*harness, *timers) {
	h := newHarness(t)
	poster := notify.NewSlack(notify.SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(h.fake.APIURL())), PerChannel: time.Millisecond})
	var r *Router
	h.w = notify.New(notify.Config{GitLab: h.router.deps.GitLab.(*gitlab.Client), Slack: poster, Store: h.store, Logger: zerolog.Nop(),
		OnHomeChange: func(ctx context.Context, c notify.HomeChange) { r.HomePipelineChanged(ctx, c) }})
	r = New(Deps{GitLab: h.router.deps.GitLab, Watcher: h.w, Subs: h.w, Slack: poster, Store: h.store, Admins: []string{admin}, Logger: zerolog.Nop()})
	tm := &timers{}
	r.home = newHomeTab(time.Second, tm.after)
	h.router = r
	return h, tm
}

// openHome delivers app_home_opened for user (Home tab) as Slack sends it.
func (h *harness) openHome(user, dm string) {
	h.t.Helper()
	raw := fmt.Sprintf(`{"type":"event_callback","team_id":"T1","event_id":"Ev-%s","event":{"type":"app_home_opened","user":%q,"channel":%q,"tab":"home","event_ts":"1515449522000016"}}`, user, user, dm)
	ev, err := slackevents.ParseEvent(json.RawMessage(raw), slackevents.OptionNoVerifyToken())
	if err != nil {
		h.t.Fatal(err)
	}
	h.router.Handle(context.Background(), slackapp.Request{Kind: slackapp.KindEvent, UserID: user, ChannelID: dm, Event: &ev})
}

// homeClick is a click on a Home button: no channel, no response_url.
func (h *harness) homeClick(user, actionID, value string) {
	h.router.Handle(context.Background(), slackapp.Request{Kind: slackapp.KindAction, UserID: user, ActionID: actionID, Text: value,
		TriggerID: "trig-" + user + value, View: &slack.View{ID: "V1", Type: slack.VTHomeTab}})
}

// homeText is user's published Home as text with Slack markup readable.
func (h *harness) homeText(user string) string {
	h.t.Helper()
	raw, ok := h.fake.HomeView(user)
	if !ok {
		h.t.Fatalf("no Home published for %s", user)
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}

// runPipeline starts a pipeline as user in the channel and returns its id.
func (h *harness) runPipeline(user string) int64 {
	h.t.Helper()
	before := h.sim.CountRequests("POST", "/api/v4/projects/group%2Fapp/pipeline")
	if _, text := h.do(user, "pipeline run group/app main"); !strings.Contains(text, "Started") {
		h.t.Fatalf("run as %s: %s", user, text)
	}
	if h.sim.CountRequests("POST", "/api/v4/projects/group%2Fapp/pipeline") != before+1 {
		h.t.Fatal("no pipeline created")
	}
	ws, err := h.store.Watches()
	if err != nil {
		h.t.Fatal(err)
	}
	var id int64
	for _, w := range ws {
		if w.Requester == user && w.PipelineID > id {
			id = w.PipelineID
		}
	}
	return id
}

func TestHomeShowsRoleIdentityOwnPipelinesAndSubscriptions(t *testing.T) {
	h, _ := homeHarness(t)
	mine := h.runPipeline(operator)
	theirs := h.runPipeline(admin)
	if err := h.store.PutSubscription(state.Subscription{Channel: "C0SUBS", Target: state.ProjectTarget(7), ProjectID: 7, Project: "group/app",
		On: []string{"failed"}, Refs: []string{"main"}}); err != nil {
		t.Fatal(err)
	}
	h.openHome(operator, "D0OPER")
	home := h.homeText(operator)
	for _, want := range []string{
		"*Your role:* operator", "pipebot's token", "pipebot's token (@pipebot)",
		fmt.Sprintf("/pipelines/%d|#%d>", mine, mine), "`group/app`", "ref `main`",
		"<#C0SUBS>", "on `failed`", "ref `main`", homeRefreshAction,
	} {
		if !strings.Contains(home, want) {
			t.Errorf("Home lacks %q:\n%s", want, home)
		}
	}
	if strings.Contains(home, fmt.Sprintf("#%d>", theirs)) {
		t.Errorf("operator's Home shows the admin's pipeline #%d:\n%s", theirs, home)
	}
	if n := h.sim.CountRequests("GET", "/api/v4/user"); n != 1 {
		t.Errorf("GET /user %d times, want 1", n)
	}
	// A second open reuses the cached identity.
	h.openHome(operator, "D0OPER")
	if n := h.sim.CountRequests("GET", "/api/v4/user"); n != 1 {
		t.Errorf("GET /user %d times after a second open, want 1", n)
	}
	if rec, _, _ := h.store.Home(operator); rec.DMChannel != "D0OPER" || !rec.Opened() {
		t.Errorf("home record = %+v", rec)
	}
}

func TestHomeMessagesTabPublishesNothing(t *testing.T) {
	h, _ := homeHarness(t)
	raw := `{"type":"event_callback","team_id":"T1","event_id":"Ev-m","event":{"type":"app_home_opened","user":"U0OPER","channel":"D0OPER","tab":"messages","event_ts":"1"}}`
	ev, err := slackevents.ParseEvent(json.RawMessage(raw), slackevents.OptionNoVerifyToken())
	if err != nil {
		t.Fatal(err)
	}
	h.router.Handle(context.Background(), slackapp.Request{Kind: slackapp.KindEvent, UserID: operator, Event: &ev})
	if n := len(h.fake.CallsOf("views.publish")); n != 0 {
		t.Errorf("messages tab published %d views", n)
	}
}

func TestWatchedPipelineChangeRepublishesItsStartersHomeCoalescedAndWithoutGitLab(t *testing.T) {
	h, tm := homeHarness(t)
	h.openHome(operator, "D0OPER")
	id := h.runPipeline(operator)
	// Starting it schedules a publish that shows it.
	if n := tm.fire(); n != 1 {
		t.Fatalf("starting a pipeline scheduled %d publishes, want 1", n)
	}
	other := h.runPipeline(admin) // the admin never opened their Home
	tm.fire()
	before := len(h.fake.CallsOf("views.publish"))
	userReads := h.sim.CountRequests("GET", "/api/v4/user")

	for range 2 {
		h.sim.Advance(7, id)
		h.sim.Advance(7, other)
		if err := h.w.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := tm.fire(); n != 1 {
		t.Fatalf("two changes scheduled %d publishes, want 1 (coalesced, and none for a user who never opened Home)", n)
	}
	if n := len(h.fake.CallsOf("views.publish")) - before; n != 1 {
		t.Fatalf("views.publish %d times, want 1", n)
	}
	rec, _, _ := h.store.Home(operator)
	status := notify.StatusWord(h.pipelineStatus(id))
	if rec.Pipelines[0].Status == "created" || !strings.Contains(h.homeText(operator), "* "+status+" ·") {
		t.Errorf("Home does not show the new status %q (record %+v):\n%s", status, rec.Pipelines[0], h.homeText(operator))
	}
	if _, ok := h.fake.HomeView(admin); ok {
		t.Error("the admin's Home was published though they never opened it")
	}
	if n := h.sim.CountRequests("GET", "/api/v4/user") - userReads; n != 0 {
		t.Errorf("re-publishing read GET /user %d times", n)
	}
	// A tick without changes schedules nothing.
	if err := h.w.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := tm.fire(); n != 0 {
		t.Errorf("a quiet tick scheduled %d publishes", n)
	}
}

func (h *harness) pipelineStatus(id int64) (s gitlab.Status) {
	h.t.Helper()
	p, err := h.router.deps.GitLab.Pipeline(context.Background(), "group/app", id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Status
}

func TestHomeScheduleWaitsOutTheIntervalAndSchedulesOnce(t *testing.T) {
	tm := &timers{}
	ht := newHomeTab(3*time.Second, tm.after)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	publishes := 0
	ht.schedule("U1", now, func() { publishes++ })
	ht.schedule("U1", now, func() { publishes++ })
	if len(tm.waits) != 1 || tm.waits[0] != 0 {
		t.Fatalf("waits = %v, want one immediate", tm.waits)
	}
	tm.fire()
	ht.published("U1", now)
	ht.schedule("U1", now.Add(time.Second), func() { publishes++ })
	if len(tm.waits) != 2 || tm.waits[1] != 2*time.Second {
		t.Fatalf("waits = %v, want the rest of the interval (2s)", tm.waits)
	}
	ht.schedule("U2", now.Add(time.Second), func() { publishes++ })
	if len(tm.waits) != 3 || tm.waits[2] != 0 {
		t.Errorf("another user waited %v", tm.waits)
	}
	tm.fire()
	if publishes != 3 {
		t.Errorf("publishes = %d, want 3", publishes)
	}
	// After shutdown a scheduled publish does nothing.
	ht.schedule("U3", now, func() { publishes++ })
	ht.mu.Lock()
	ht.stopped = true
	ht.mu.Unlock()
	tm.fire()
	if publishes != 3 {
		t.Errorf("a publish ran after stop")
	}
}

func TestHomeRetryRunsAsTheClickerAndAnswersInTheDM(t *testing.T) {
	h, _ := homeHarness(t)
	id := h.runPipeline(operator)
	h.sim.Finish(7, id) // rspec fails
	for _, u := range []string{operator, viewer} {
		if _, err := h.store.AddHomePipeline(u, state.HomePipeline{ProjectID: 7, Project: "group/app", PipelineID: id, Ref: "main", Status: "failed"}); err != nil {
			t.Fatal(err)
		}
	}
	h.openHome(viewer, "D0VIEW")
	h.openHome(operator, "D0OPER")
	retry := fmt.Sprintf("pipeline retry group/app %d", id)
	if !strings.Contains(h.homeText(operator), `"value":"`+retry+`"`) {
		t.Fatalf("Home has no Retry button carrying %q:\n%s", retry, h.homeText(operator))
	}
	retryPath := fmt.Sprintf("/api/v4/projects/group%%2Fapp/pipelines/%d/retry", id)

	h.homeClick(viewer, "pipeline_retry", retry)
	if n := h.sim.CountRequests("POST", retryPath); n != 0 {
		t.Fatalf("a viewer's click retried the pipeline (%d)", n)
	}
	msgs := h.fake.Messages("D0VIEW")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text+string(msgs[0].Blocks), "needs the operator role") {
		t.Fatalf("viewer's DM = %+v", msgs)
	}
	if !strings.Contains(h.homeText(viewer), "I answered your click in our DM") {
		t.Errorf("viewer's Home has no notice:\n%s", h.homeText(viewer))
	}

	h.homeClick(operator, "pipeline_retry", retry)
	if n := h.sim.CountRequests("POST", retryPath); n != 1 {
		t.Fatalf("operator's click retried %d times, want 1", n)
	}
	var dm []string
	for _, m := range h.fake.Messages("D0OPER") {
		dm = append(dm, m.Text)
	}
	joined := strings.Join(dm, "\n")
	if !strings.Contains(joined, "Retrying pipeline") || !strings.Contains(joined, fmt.Sprintf("Pipeline #%d", id)) {
		t.Errorf("operator's DM lacks the answer and the card: %q", joined)
	}
	if ws, _ := h.store.Watches(); !watching(ws, "D0OPER", id) {
		t.Errorf("retried pipeline not watched in the DM: %+v", ws)
	}
	entries, _ := h.store.Audit(10)
	if len(entries) == 0 || entries[0].User != operator {
		t.Errorf("audit = %+v", entries)
	}
}

func watching(ws []state.Watch, channel string, id int64) bool {
	for _, w := range ws {
		if w.Channel == channel && w.PipelineID == id {
			return true
		}
	}
	return false
}

func TestHomeRefreshRepublishes(t *testing.T) {
	h, _ := homeHarness(t)
	h.openHome(operator, "D0OPER")
	if strings.Contains(h.homeText(operator), "<#C0NEW>") {
		t.Fatal("subscription shown before it exists")
	}
	if err := h.store.PutSubscription(state.Subscription{Channel: "C0NEW", Target: state.GroupTarget("team"), Group: "team"}); err != nil {
		t.Fatal(err)
	}
	h.homeClick(operator, homeRefreshAction, "")
	if !strings.Contains(h.homeText(operator), "<#C0NEW> · group `team`") {
		t.Errorf("refreshed Home lacks the new subscription:\n%s", h.homeText(operator))
	}
	if n := len(h.fake.Messages("D0OPER")); n != 0 {
		t.Errorf("refresh posted %d DMs", n)
	}
}
