package notify

import (
	"context"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// homeLog records what the watcher tells OnHomeChange.
type homeLog struct {
	mu      sync.Mutex
	changes []HomeChange
}

func (l *homeLog) add(_ context.Context, c HomeChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

func (l *homeLog) statuses() []gitlab.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []gitlab.Status
	for _, c := range l.changes {
		out = append(out, c.Pipeline.Status)
	}
	return out
}

func TestWatcherTellsTheHomeOfEachStatusChangeOnce(t *testing.T) {
	h := newHarness(t, passingJobs)
	log := &homeLog{}
	h.w = New(Config{GitLab: h.gl, Slack: h.poster, Store: h.store, Now: h.clock.Now, Logger: zerolog.Nop(), OnHomeChange: log.add})
	id := h.start()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(log.statuses()); n != 0 {
		t.Fatalf("a tick without a change told the home %d times", n)
	}
	runToEnd(t, h, id)
	got := log.statuses()
	if len(got) == 0 || got[len(got)-1] != gitlab.StatusSuccess {
		t.Fatalf("home told %v, want it to end with success", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("status %s told twice in a row: %v", got[i], got)
		}
	}
	log.mu.Lock()
	c := log.changes[0]
	log.mu.Unlock()
	if c.User != testUser || c.ProjectID != projectID || c.Project != "group/app" || c.Pipeline.ID != id {
		t.Errorf("change = %+v", c)
	}
}

func TestPublishHomeReachesViewsPublish(t *testing.T) {
	h := newHarness(t, passingJobs)
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{Section("hello *home*")}}}
	if err := h.slack.PublishHome(context.Background(), testUser, view); err != nil {
		t.Fatal(err)
	}
	raw, ok := h.fake.HomeView(testUser)
	if !ok || !contains(string(raw), "hello *home*") {
		t.Errorf("published home = %s (%v)", raw, ok)
	}
	view.Type = slack.VTModal
	if err := h.slack.PublishHome(context.Background(), testUser, view); err == nil {
		t.Error("a modal published as a home")
	}
}
