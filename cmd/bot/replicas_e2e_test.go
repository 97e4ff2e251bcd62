package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state/pgtest"
)

// replicaSet is several real `pipebot serve` processes on one PostgreSQL
// database, with the GitLab simulator and the Slack fake. Each process
// reaches Slack through a recorder of its own, so a test can tell which
// process made a call.
type replicaSet struct {
	t     *testing.T
	ctx   context.Context
	sim   *simulator.Server
	gl    *httptest.Server
	fake  *slackfake.Server
	dbURL string
	rs    []*replicaProc
}

// replicaProc is one process of the set.
type replicaProc struct {
	name string
	c    *child
	logs *lockedBuffer

	mu     sync.Mutex
	calls  []timedCall // the Slack Web API calls this process made
	gitlab []timedCall // the GitLab requests it made ("GET /api/v4/…")
}

type timedCall struct {
	at     time.Time
	method string
}

// posting are the Slack methods that change what a channel shows.
var posting = map[string]bool{"chat.postMessage": true, "chat.update": true, "chat.unfurl": true}

func (p *replicaProc) record(method string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, timedCall{at: time.Now(), method: method})
}

// postsSince counts the posting calls the process made at or after t.
func (p *replicaProc) postsSince(t time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		if posting[c.method] && !c.at.Before(t) {
			out = append(out, c.at.Format("15:04:05.000")+" "+c.method)
		}
	}
	return out
}

type replicaOpts struct {
	n            int
	pollInterval string
	webhooks     bool
	// leaseTTL is PIPEBOT_LEASE_TTL; "" means 1s, "default" leaves it unset.
	leaseTTL string
	// socket also takes Slack over Socket Mode (SLACK_APP_TOKEN).
	socket bool
}

const replicaAppToken = "xapp-1-A0TEST-replicas"

// gitlabSince returns when the process first requested a path containing
// part with method at or after t.
func (p *replicaProc) gitlabSince(t time.Time, method, part string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.gitlab {
		if !c.at.Before(t) && strings.HasPrefix(c.method, method+" ") && strings.Contains(c.method, part) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

func newReplicaSet(t *testing.T, o replicaOpts) *replicaSet {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
	return newReplicaSetOn(t, o, pgtest.URL(t))
}

// newReplicaSetOn starts the set on the database at dbURL.
func newReplicaSetOn(t *testing.T, o replicaOpts, dbURL string) *replicaSet {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-replicas")
	sim.AddUser(simulator.User{ID: 7, Username: "dev", Name: "Dev", Email: "dev@example.com"}, "glpat-dev")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer, 7: simulator.Developer},
		Jobs: []simulator.JobSpec{
			{Name: "build", Stage: "build"}, {Name: "unit", Stage: "test", Fail: true, FailureReason: "script_failure"},
			{Name: "lint", Stage: "test"}, {Name: "deploy", Stage: "deploy"},
		}})
	gl := httptest.NewServer(sim)
	t.Cleanup(gl.Close)
	fopts := slackfake.Options{}
	if o.socket {
		fopts.AppToken = replicaAppToken
	}
	fake := slackfake.NewServer(fopts)
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	s := &replicaSet{t: t, ctx: ctx, sim: sim, gl: gl, fake: fake, dbURL: dbURL}
	for i := range o.n {
		p := &replicaProc{name: string(rune('a' + i)), logs: &lockedBuffer{}}
		rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.record(strings.TrimPrefix(r.URL.Path, "/api/"))
			fake.ServeHTTP(w, r)
		}))
		t.Cleanup(rec.Close)
		glRec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.gitlab = append(p.gitlab, timedCall{at: time.Now(), method: r.Method + " " + r.URL.Path})
			p.mu.Unlock()
			sim.ServeHTTP(w, r)
		}))
		t.Cleanup(glRec.Close)
		env := []string{
			"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_SIGNING_SECRET=" + e2eSecret, "SLACK_API_URL=" + rec.URL + "/api/",
			"GITLAB_URL=" + glRec.URL, "GITLAB_TOKEN=glpat-replicas",
			"PIPEBOT_DATABASE_URL=" + dbURL, "PIPEBOT_POLL_INTERVAL=" + o.pollInterval,
			"PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
			"PIPEBOT_ADMINS=" + e2eAdmin, "PIPEBOT_LOG_LEVEL=info",
		}
		if o.webhooks {
			env = append(env, "GITLAB_WEBHOOK_SECRET="+hookSecret)
		}
		if o.socket {
			env = append(env, "SLACK_APP_TOKEN="+replicaAppToken)
		}
		switch o.leaseTTL {
		case "":
			env = append(env, "PIPEBOT_LEASE_TTL=1s")
		case "default":
		default:
			env = append(env, "PIPEBOT_LEASE_TTL="+o.leaseTTL)
		}
		p.c = &child{t: t, addr: freeAddr(t), env: env, stderr: p.logs}
		s.rs = append(s.rs, p)
	}
	t.Cleanup(func() {
		for _, p := range s.rs {
			if p.c.cmd != nil && p.c.cmd.Process != nil {
				_ = p.c.cmd.Process.Signal(syscall.SIGCONT)
			}
			p.c.kill9()
			if t.Failed() {
				t.Logf("replica %s log:\n%s", p.name, p.logs.String())
			}
		}
	})
	for _, p := range s.rs {
		p.c.start()
	}
	return s
}

// leading reads pipebot_leader from a process's /metrics.
func (p *replicaProc) leading() bool {
	resp, err := http.Get("http://" + p.c.addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "pipebot_leader "); ok {
			return v == "1"
		}
	}
	return false
}

// leader waits until exactly one live process other than except reports
// that it leads, and returns it.
func (s *replicaSet) leader(except *replicaProc) *replicaProc {
	s.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []*replicaProc
		for _, p := range s.rs {
			if p != except && p.c.cmd != nil && p.leading() {
				leaders = append(leaders, p)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no single leader emerged")
	return nil
}

// other returns a live process other than p.
func (s *replicaSet) other(p *replicaProc) *replicaProc {
	for _, q := range s.rs {
		if q != p && q.c.cmd != nil {
			return q
		}
	}
	s.t.Fatal("no other live replica")
	return nil
}

// post sends a Slack-signed request to one process.
func (s *replicaSet) post(p *replicaProc, path, contentType string, body []byte) int {
	s.t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.c.addr+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// command sends a slash command to p with trigger (a fresh one when empty)
// and waits for its reply.
func (s *replicaSet) command(p *replicaProc, user, text string) string {
	s.t.Helper()
	n := len(s.fake.CallsOf("response_url"))
	form := url.Values{"command": {"/ci"}, "text": {text}, "user_id": {user}, "user_name": {"someone"},
		"channel_id": {e2eChannel}, "team_id": {"T0E2E"}, "response_url": {s.fake.ResponseURL(e2eChannel, user)},
		"trigger_id": {newTriggerID()}}
	if code := s.post(p, "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode())); code != http.StatusOK {
		s.t.Fatalf("slash command %q to %s: HTTP %d", text, p.name, code)
	}
	s.waitFor("the reply to "+text, func() bool { return len(s.fake.CallsOf("response_url")) > n })
	c := s.fake.CallsOf("response_url")[n]
	return c.Text + " " + unescapeJSON(c.Blocks)
}

func (s *replicaSet) waitFor(what string, cond func() bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	if err := s.fake.WaitFor(ctx, func([]slackfake.Call) bool { return cond() }); err != nil {
		s.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// cards are the channel's pipeline cards (top-level messages with a watch's
// or a subscription's card metadata: not, say, a subscription's
// announcement), replies its thread replies (not ephemeral).
func (s *replicaSet) cards() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range s.fake.Messages(e2eChannel) {
		if !m.Ephemeral && (m.ThreadTS == "" || m.ThreadTS == m.TS) && (strings.Contains(string(m.Metadata), notify.MetaCard) || strings.Contains(string(m.Metadata), notify.MetaSubCard)) {
			out = append(out, m)
		}
	}
	return out
}

func (s *replicaSet) replies() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range s.fake.Messages(e2eChannel) {
		if !m.Ephemeral && m.ThreadTS != "" && m.ThreadTS != m.TS {
			out = append(out, m)
		}
	}
	return out
}

// settle waits until nothing was posted for quiet, at most 10 s: the
// processes poll every 100 ms, so a doubled post would show by then.
func (s *replicaSet) settle(quiet time.Duration) {
	deadline := time.Now().Add(10 * time.Second)
	last := len(s.fake.Calls())
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		n := len(s.fake.Calls())
		if n == last {
			return
		}
		last = n
	}
}

func (s *replicaSet) checkOneCardOneReply(wantIn ...string) {
	s.t.Helper()
	if cs := s.cards(); len(cs) != 1 {
		for _, c := range cs {
			s.t.Logf("card %s: %s", c.TS, c.Text)
		}
		s.t.Errorf("cards in the channel: %d, want exactly 1", len(cs))
	}
	replies := s.replies()
	if len(replies) != 1 {
		s.t.Fatalf("final thread replies: %d, want exactly 1", len(replies))
	}
	text := unescapeJSON(replies[0].Blocks)
	for _, w := range wantIn {
		if !strings.Contains(text, w) {
			s.t.Errorf("final reply lacks %q: %s", w, text)
		}
	}
}

func TestReplicasAWatchGoesOnWhenTheLeaderIsKilledAndEndsWithOneFinalMessage(t *testing.T) {
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "100ms"})
	lead := s.leader(nil)
	follower := s.other(lead)
	// The command goes to the follower: the leader posts the card.
	reply := s.command(follower, e2eAdmin, "run team/web main")
	mustContain(t, "run on the follower", reply, "Started pipeline")
	s.waitFor("the card", func() bool { return len(s.cards()) == 1 })
	if posts := follower.postsSince(time.Time{}); len(posts) != 0 {
		t.Errorf("the follower posted: %v", posts)
	}
	// The pipeline moves on while the leader is killed again and again;
	// the killed process comes back as a follower.
	for step := 0; ; step++ {
		lead = s.leader(nil)
		st := s.sim.Advance(e2eProject, 1)
		time.Sleep(time.Duration(50*(step%4)) * time.Millisecond)
		lead.c.kill9()
		next := s.leader(lead)
		lead.c.start()
		t.Logf("step %d: %s killed with the pipeline %s, %s leads", step, lead.name, st, next.name)
		if st == simulator.StatusFailed {
			break
		}
		if step > 20 {
			t.Fatal("the pipeline never finished")
		}
	}
	s.waitFor("the final reply", func() bool { return len(s.replies()) >= 1 })
	s.settle(time.Second)
	s.checkOneCardOneReply("unit", "failed")
}

func TestReplicasRunTheSameClickAndCommandOnce(t *testing.T) {
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "1h"})
	a, b := s.rs[0], s.rs[1]
	id := s.sim.CreatePipeline(e2eProject, "main", "push", 1)
	s.sim.Finish(e2eProject, id)
	click, _ := json.Marshal(map[string]any{
		"type": "block_actions", "trigger_id": "trig-both-replicas", "response_url": s.fake.ResponseURLFor(e2eChannel, e2eAdmin, ""),
		"user": map[string]any{"id": e2eAdmin, "username": "admin"}, "team": map[string]any{"id": "T0E2E"},
		"channel":   map[string]any{"id": e2eChannel},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": e2eChannel},
		"actions": []map[string]any{{"action_id": "pipeline_retry", "block_id": "pipeline_actions", "type": "button",
			"value": fmt.Sprintf("pipeline retry team/web %d", id), "action_ts": "1700000001.000200"}},
	})
	clickBody := []byte(url.Values{"payload": {string(click)}}.Encode())
	command := []byte(url.Values{"command": {"/ci"}, "text": {"pipeline run team/web main"}, "user_id": {e2eAdmin},
		"user_name": {"admin"}, "channel_id": {e2eChannel}, "team_id": {"T0E2E"},
		"response_url": {s.fake.ResponseURL(e2eChannel, e2eAdmin)}, "trigger_id": {"trig-command-both"}}.Encode())
	// Slack redelivers to whichever replica the load balancer picks: the
	// same delivery reaches both at once.
	var wg sync.WaitGroup
	for _, p := range []*replicaProc{a, b} {
		wg.Go(func() {
			if code := s.post(p, "/slack/interactions", "application/x-www-form-urlencoded", clickBody); code != http.StatusOK {
				t.Errorf("click to %s: HTTP %d", p.name, code)
			}
		})
		wg.Go(func() {
			if code := s.post(p, "/slack/commands", "application/x-www-form-urlencoded", command); code != http.StatusOK {
				t.Errorf("command to %s: HTTP %d", p.name, code)
			}
		})
	}
	wg.Wait()
	s.waitFor("both answers", func() bool { return len(s.fake.CallsOf("response_url")) >= 2 })
	s.settle(500 * time.Millisecond)
	retries, created := 0, 0
	for _, r := range s.sim.Requests() {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/retry"):
			retries++
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/pipeline"):
			created++
		}
	}
	if retries != 1 {
		t.Errorf("the click delivered to both replicas retried %d times, want once", retries)
	}
	if created != 1 {
		t.Errorf("the command delivered to both replicas created %d pipelines, want one", created)
	}
	if n := len(s.fake.CallsOf("response_url")); n != 2 {
		t.Errorf("%d answers, want one to the click and one to the command", n)
	}
}

func TestReplicasAWebhookDeliveredToTheFollowerProducesTheCard(t *testing.T) {
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "1h", webhooks: true})
	lead := s.leader(nil)
	follower := s.other(lead)
	// Subscribed through the follower; polling is hourly, so what follows
	// comes through the webhook.
	mustContain(t, "subscribe", s.command(follower, e2eAdmin, "subscribe team/web on:running,failed"), "team/web")
	id := s.sim.CreatePipeline(e2eProject, "main", "push", 7)
	for s.sim.Advance(e2eProject, id) != simulator.StatusRunning {
	}
	send := func(p *replicaProc, d simulator.Delivery) string {
		t.Helper()
		code, err := simulator.Send(s.ctx, nil, "http://"+p.c.addr+"/gitlab/webhook", hookSecret, d)
		if err != nil || code != http.StatusOK {
			t.Fatalf("delivery to %s: %d, %v", p.name, code, err)
		}
		return ""
	}
	running, ok := s.sim.PipelineHook(e2eProject, id)
	if !ok {
		t.Fatal("no hook")
	}
	send(follower, running)
	s.waitFor("the card", func() bool { return len(s.cards()) == 1 })
	// Its redelivery to the leader is dropped.
	send(lead, running)
	s.sim.Finish(e2eProject, id)
	final, _ := s.sim.PipelineHook(e2eProject, id)
	send(follower, final)
	s.waitFor("the final reply", func() bool { return len(s.replies()) == 1 })
	s.settle(500 * time.Millisecond)
	s.checkOneCardOneReply("unit", "failed")
	if posts := follower.postsSince(time.Time{}); len(posts) != 0 {
		t.Errorf("the follower posted: %v", posts)
	}
}

func TestReplicasAPausedLeaderPostsNothingAfterTheNewLeaderTookOver(t *testing.T) {
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "100ms"})
	old := s.leader(nil)
	mustContain(t, "run", s.command(old, e2eAdmin, "run team/web main"), "Started pipeline")
	s.waitFor("the card", func() bool { return len(s.cards()) == 1 })
	s.sim.Advance(e2eProject, 1)
	time.Sleep(150 * time.Millisecond) // mid-poll, most likely

	if err := old.c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	next := s.leader(old)
	// The new leader carries the watch to its end while the old one sleeps.
	for s.sim.Advance(e2eProject, 1) != simulator.StatusFailed {
	}
	s.waitFor("the final reply", func() bool { return len(s.replies()) == 1 })
	resumed := time.Now()
	if err := old.c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// A second pipeline, after the resume, gives the old leader every
	// reason to post, were it to believe it still led.
	mustContain(t, "run after the resume", s.command(old, e2eAdmin, "run team/web main"), "Started pipeline")
	s.waitFor("the second card", func() bool { return len(s.cards()) == 2 })
	s.settle(time.Second)
	if posts := old.postsSince(resumed); len(posts) != 0 {
		t.Errorf("the paused leader posted after it resumed: %v", posts)
	}
	if old.leading() {
		t.Error("the resumed leader still reports that it leads")
	}
	if len(next.postsSince(resumed)) == 0 {
		t.Error("the new leader posted nothing for the second pipeline")
	}
	if n := len(s.replies()); n != 1 {
		t.Errorf("final replies: %d, want 1 (the first pipeline's)", n)
	}
}

func TestReplicasOverSocketModeRunAnEnvelopeRedeliveredToAnotherReplicaOnce(t *testing.T) {
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "1h", socket: true})
	if err := s.fake.WaitForSockets(s.ctx, 2); err != nil {
		t.Fatal(err)
	}
	cmd := mustJSON(map[string]any{
		"command": "/ci", "text": "pipeline run team/web main", "user_id": e2eAdmin, "user_name": "admin",
		"channel_id": e2eChannel, "team_id": "T0E2E", "response_url": s.fake.ResponseURL(e2eChannel, e2eAdmin),
		"trigger_id": newTriggerID(),
	})
	// The newest connection takes the envelope and runs it.
	env, err := s.fake.SendSocketEvent(s.ctx, "slash_commands", cmd)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor("the reply", func() bool { return len(s.fake.CallsOf("response_url")) == 1 })
	// Whichever replica that was dies; Slack redelivers the envelope over
	// the other replica's connection.
	var took *replicaProc
	for _, p := range s.rs {
		if p.ranCommand() {
			took = p
		}
	}
	if took == nil {
		t.Fatal("no replica asked GitLab for the pipeline")
	}
	took.c.kill9()
	if err := s.fake.WaitForSockets(s.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.fake.RedeliverSocketEvent(s.ctx, env, "timeout"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fake.WaitForAcks(s.ctx, env, 2); err != nil {
		t.Fatal(err)
	}
	s.settle(500 * time.Millisecond)
	if n := s.sim.PipelineCount(e2eProject); n != 1 {
		t.Errorf("the envelope redelivered to another replica made %d pipelines, want 1", n)
	}
	if n := len(s.fake.CallsOf("response_url")); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
}

// ranCommand reports whether the process asked GitLab to create a pipeline.
func (p *replicaProc) ranCommand() bool {
	_, ok := p.gitlabSince(time.Time{}, "POST", "/pipeline")
	return ok
}
