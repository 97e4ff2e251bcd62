package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

const (
	testChannel = "C0CHAN"
	testUser    = "U0ALICE"
	projectID   = int64(7)
)

// clock is a settable clock for backoff decisions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness wires a Watcher to the GitLab simulator and the Slack fake over
// real HTTP, through the real client-go and slack-go clients and a real
// bbolt file.
type harness struct {
	t      testing.TB
	sim    *simulator.Server
	simURL string
	gl     *gitlab.Client
	fake   *slackfake.Server
	slack  *Slack
	dbPath string
	store  *state.Store
	clock  *clock
	w      *Watcher
	poster poster // what the watcher posts through; tests may wrap it
	// openStore opens the store (a process start); nil is the bbolt file
	// at dbPath.
	openStore func() (*state.Store, error)
}

func newHarness(t testing.TB, jobs []simulator.JobSpec) *harness {
	t.Helper()
	return newHarnessOn(t, jobs, nil)
}

// newHarnessOn is newHarness with the store openStore opens (nil: bbolt).
func newHarnessOn(t testing.TB, jobs []simulator.JobSpec, openStore func() (*state.Store, error)) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	sim := simulator.New(simulator.Options{Now: clk.Now})
	sim.AddUser(simulator.User{ID: 1, Username: "alice", Name: "Alice"}, "glpat-test")
	sim.AddProject(simulator.Project{ID: projectID, Path: "group/app", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}, Jobs: jobs})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: "glpat-test", MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	api := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
	h := &harness{
		t: t, sim: sim, simURL: srv.URL, gl: gl, fake: fake,
		slack:  NewSlack(SlackConfig{API: api, PerChannel: time.Millisecond}),
		dbPath: filepath.Join(t.TempDir(), "pipebot.db"),
		clock:  clk, openStore: openStore,
	}
	h.poster = h.slack
	h.open()
	t.Cleanup(func() { _ = h.store.Close() })
	return h
}

// testJobPreview stands in for commands.JobPreview (notify cannot import
// commands): the job's name and status, escaped.
func testJobPreview(project string, j gitlab.Job) Message {
	text := fmt.Sprintf("job %s %s in %s", j.Name, j.Status, project)
	return Message{Text: text, Blocks: []slack.Block{Section(Escape(text))}}
}

// open opens the store and builds a fresh Watcher: a process start.
func (h *harness) open() {
	h.t.Helper()
	open := h.openStore
	if open == nil {
		open = func() (*state.Store, error) { return state.Open(h.dbPath, state.Options{Timeout: time.Second}) }
	}
	st, err := open()
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	h.w = New(Config{GitLab: h.gl, Slack: h.poster, Store: st, Interval: time.Second, Now: h.clock.Now, Logger: zerolog.Nop(), JobPreview: testJobPreview})
}

// restart closes the store and opens it again with a new Watcher, as a
// process restart (or a kill -9: bbolt commits are durable) would.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.store.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) setPoster(p poster) {
	h.poster = p
	h.w = New(Config{GitLab: h.gl, Slack: p, Store: h.store, Interval: time.Second, Now: h.clock.Now, Logger: zerolog.Nop(), JobPreview: testJobPreview})
}

func (h *harness) project() gitlab.Project {
	p, err := h.gl.Project(context.Background(), "group/app")
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) pipeline(id int64) gitlab.Pipeline {
	p, err := h.gl.Pipeline(context.Background(), "group/app", id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// start creates a pipeline in the simulator and watches it.
func (h *harness) start() int64 {
	h.t.Helper()
	id := h.sim.CreatePipeline(projectID, "main", "api", 1)
	if _, err := h.w.Watch(context.Background(), WatchRequest{Project: h.project(), Pipeline: h.pipeline(id), Channel: testChannel, Requester: testUser}); err != nil {
		h.t.Fatalf("watch: %v", err)
	}
	return id
}

func (h *harness) tick() error {
	h.t.Helper()
	return h.w.Tick(context.Background())
}

// topLevel returns the channel's messages that are not thread replies.
func (h *harness) topLevel() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.fake.Messages(testChannel) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			out = append(out, m)
		}
	}
	return out
}

// card returns the single card in the channel, failing unless there is
// exactly one.
func (h *harness) card() slackfake.Message {
	h.t.Helper()
	top := h.topLevel()
	if len(top) != 1 {
		h.t.Fatalf("channel has %d top-level messages, want exactly one card: %+v", len(top), top)
	}
	return top[0]
}

func (h *harness) thread() []slackfake.Message {
	return h.fake.Thread(testChannel, h.card().TS)
}

// blocksText is the blocks JSON with &, < and > as themselves (encoding/json
// writes them as \u0026 etc.), so tests can look for Slack markup.
func blocksText(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func slackClient(h *harness) *slack.Client {
	return slack.New(h.fake.BotToken(), slack.OptionAPIURL(h.fake.APIURL()))
}
