package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

const redeliveryAppToken = "xapp-1-A0TEST-redelivery"

// waitLimit bounds each wait for the process to do something.
const waitLimit = 10 * time.Second

// redeliveryServe is a real `pipebot serve` taking Slack over both Socket
// Mode and signed HTTP, on a bbolt file that outlives a restart.
type redeliveryServe struct {
	t    *testing.T
	ctx  context.Context
	sim  *simulator.Server
	gl   *httptest.Server
	fake *slackfake.Server
	c    *child
	logs *lockedBuffer
}

func newRedeliveryServe(t *testing.T) *redeliveryServe {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-redeliver")
	sim.AddProject(simulator.Project{ID: e2eProject, Path: "team/web", Branches: []string{"main"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs:    []simulator.JobSpec{{Name: "build", Stage: "build", Fail: true, FailureReason: "script_failure"}}})
	gl := httptest.NewServer(sim)
	t.Cleanup(gl.Close)
	fake := slackfake.NewServer(slackfake.Options{AppToken: redeliveryAppToken})
	t.Cleanup(fake.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	s := &redeliveryServe{t: t, ctx: ctx, sim: sim, gl: gl, fake: fake, logs: &lockedBuffer{}}
	s.c = &child{t: t, addr: freeAddr(t), stderr: s.logs, env: []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_APP_TOKEN=" + redeliveryAppToken, "SLACK_SIGNING_SECRET=" + e2eSecret,
		"SLACK_API_URL=" + fake.APIURL(), "GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-redeliver",
		"PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"), "PIPEBOT_POLL_INTERVAL=1h",
		"PIPEBOT_ADMINS=" + e2eAdmin + "," + e2eOper, "PIPEBOT_LOG_LEVEL=info",
	}}
	t.Cleanup(func() {
		s.c.kill9()
		if t.Failed() {
			t.Logf("pipebot log:\n%s", s.logs.String())
		}
	})
	s.start()
	return s
}

// start starts the process and waits until its Socket Mode connection is up.
func (s *redeliveryServe) start() {
	s.t.Helper()
	s.c.start()
	if err := s.fake.WaitForSockets(s.ctx, 1); err != nil {
		s.t.Fatal(err)
	}
}

// restart kills the process (SIGKILL: no shutdown code runs) and starts
// it again on the same database.
func (s *redeliveryServe) restart() {
	s.t.Helper()
	s.c.kill9()
	if err := s.fake.WaitForSockets(s.ctx, 0); err != nil {
		s.t.Fatal(err)
	}
	s.start()
}

// metric returns the value of one series on the process's /metrics, 0 when
// it is absent.
func (s *redeliveryServe) metric(series string) float64 {
	s.t.Helper()
	resp, err := http.Get("http://" + s.c.addr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

func deliveries(kind, result string) string {
	return fmt.Sprintf(`pipebot_slack_deliveries_total{kind=%q,result=%q}`, kind, result)
}

// waitMetric polls /metrics until series reaches want: the process is
// another program, so there is no clock to inject.
func (s *redeliveryServe) waitMetric(series string, want float64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, waitLimit)
	defer cancel()
	for {
		got := s.metric(series)
		if got == want {
			return
		}
		if got > want || ctx.Err() != nil {
			s.t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCount waits until count() reaches want.
func (s *redeliveryServe) waitCount(what string, count func() int, want int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, waitLimit)
	defer cancel()
	err := s.fake.WaitFor(ctx, func([]slackfake.Call) bool { return count() >= want })
	if err != nil {
		s.t.Fatalf("%s: %d, want %d: %v", what, count(), want, err)
	}
}

func (s *redeliveryServe) calls(method string) func() int {
	return func() int { return len(s.fake.CallsOf(method)) }
}

// gitlabPosts counts GitLab POST and PUT requests whose path contains part.
func (s *redeliveryServe) gitlabPosts(part string) func() int {
	return func() int {
		n := 0
		for _, r := range s.sim.Requests() {
			if (r.Method == http.MethodPost || r.Method == http.MethodPut) && strings.Contains(r.Path, part) {
				n++
			}
		}
		return n
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *redeliveryServe) slashCommand(user, text string) json.RawMessage {
	return mustJSON(map[string]any{
		"command": "/ci", "text": text, "user_id": user, "user_name": "someone", "channel_id": e2eChannel,
		"team_id": "T0E2E", "response_url": s.fake.ResponseURL(e2eChannel, user), "trigger_id": newTriggerID(),
	})
}

// failedPipeline returns a new failed pipeline of team/web.
func (s *redeliveryServe) failedPipeline() int64 {
	id := s.sim.CreatePipeline(e2eProject, "main", "push", 1)
	s.sim.Finish(e2eProject, id)
	return id
}

func (s *redeliveryServe) retryClick(user string) json.RawMessage {
	id := s.failedPipeline()
	return mustJSON(map[string]any{
		"type": "block_actions", "trigger_id": newTriggerID(), "response_url": s.fake.ResponseURLFor(e2eChannel, user, ""),
		"user": map[string]any{"id": user}, "team": map[string]any{"id": "T0E2E"}, "channel": map[string]any{"id": e2eChannel},
		"container": map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": e2eChannel},
		"actions": []map[string]any{{"action_id": "pipeline_retry", "block_id": "pipeline_actions", "type": "button",
			"value": fmt.Sprintf("pipeline retry team/web %d", id), "action_ts": fmt.Sprintf("1700000001.%06d", id)}},
	})
}

// varModal is the submission of the modal `/ci var set team/web KEY` opens.
func (s *redeliveryServe) varModal(user, key string) json.RawMessage {
	meta := mustJSON(map[string]string{"channel": e2eChannel, "command": "var set team/web " + key})
	return mustJSON(map[string]any{
		"type": "view_submission", "trigger_id": newTriggerID(),
		"user": map[string]any{"id": user}, "team": map[string]any{"id": "T0E2E"},
		"view": map[string]any{"id": "V" + key, "type": "modal", "callback_id": "pipebot_var_set", "private_metadata": string(meta),
			"state": map[string]any{"values": map[string]any{"value": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "v-" + key}}}}},
	})
}

// linkShared is an Events API link_shared callback for a new pipeline's link.
func (s *redeliveryServe) linkShared(eventID string) json.RawMessage {
	link := fmt.Sprintf("%s/team/web/-/pipelines/%d", s.gl.URL, s.failedPipeline())
	u, _ := url.Parse(s.gl.URL)
	return mustJSON(map[string]any{
		"token": "unused", "team_id": "T0E2E", "api_app_id": "A0E2E", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{"type": "link_shared", "channel": e2eChannel, "user": e2eOper,
			"message_ts": "1700000000.000100", "event_ts": "1700000000.000200",
			"links": []map[string]any{{"url": link, "domain": u.Hostname()}}},
	})
}

// redeliver sends payload in one Socket Mode envelope and that envelope
// again: after the app acknowledged it, or back to back before the ack.
// It returns the envelope id once both deliveries are acknowledged.
func (s *redeliveryServe) redeliver(envelopeType string, payload json.RawMessage, backToBack bool) string {
	s.t.Helper()
	var env string
	var err error
	if backToBack {
		env, err = s.fake.SendSocketEventTwice(s.ctx, envelopeType, payload, "timeout")
	} else {
		env, err = s.fake.SendSocketEvent(s.ctx, envelopeType, payload)
		if err == nil {
			_, err = s.fake.WaitForAck(s.ctx, env)
		}
		if err == nil {
			err = s.fake.RedeliverSocketEvent(s.ctx, env, "timeout")
		}
	}
	if err == nil {
		_, err = s.fake.WaitForAcks(s.ctx, env, 2)
	}
	if err != nil {
		s.t.Fatalf("%s envelope: %v", envelopeType, err)
	}
	return env
}

// A Socket Mode envelope Slack delivers twice (same envelope_id,
// retry_attempt 1) runs once whatever it carries, whether the second copy
// comes after pipebot's ack or right behind the first; it is still dropped
// after a restart; and two distinct deliveries of the same text both run.
func TestServeRunsRedeliveredSocketModeEnvelopesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	s := newRedeliveryServe(t)
	kinds := []struct {
		name, envelope, kind string
		payload              func(i int) json.RawMessage
		effect, reply        func() int // what running it once does, and its answer
	}{
		{"slash command /ci pipeline run", "slash_commands", "command",
			func(int) json.RawMessage { return s.slashCommand(e2eOper, "pipeline run team/web main") },
			func() int { return s.sim.PipelineCount(e2eProject) }, s.calls("response_url")},
		{"retry button click", "interactive", "action",
			func(int) json.RawMessage { return s.retryClick(e2eOper) },
			s.gitlabPosts("/retry"), s.calls("response_url")},
		{"variable modal submission", "interactive", "view_submission",
			func(i int) json.RawMessage { return s.varModal(e2eAdmin, fmt.Sprintf("MODAL_%d", i)) },
			s.gitlabPosts("/variables"), s.calls("chat.postEphemeral")},
		{"link_shared event", "events_api", "event",
			func(i int) json.RawMessage { return s.linkShared(fmt.Sprintf("EvSock%d", i)) },
			s.calls("chat.unfurl"), s.calls("chat.unfurl")},
	}
	var firstCommand string
	for _, k := range kinds {
		for i, backToBack := range []bool{false, true} {
			name := k.name + map[bool]string{false: ", redelivered after its ack", true: ", delivered twice back to back"}[backToBack]
			t.Run(name, func(t *testing.T) {
				effect, reply := k.effect(), k.reply()
				dups := s.metric(deliveries(k.kind, slackapp.SubmitDuplicate))
				env := s.redeliver(k.envelope, k.payload(i), backToBack)
				if firstCommand == "" && k.kind == "command" {
					firstCommand = env
				}
				s.waitMetric(deliveries(k.kind, slackapp.SubmitDuplicate), dups+1)
				s.waitCount("reply", k.reply, reply+1)
				if got := k.effect(); got != effect+1 {
					t.Errorf("ran %d times, want once", got-effect)
				}
				if got := k.reply(); got != reply+1 {
					t.Errorf("%d replies, want one", got-reply)
				}
			})
		}
	}

	t.Run("the same text typed twice runs twice", func(t *testing.T) {
		pipelines, replies := s.sim.PipelineCount(e2eProject), s.calls("response_url")()
		dups := s.metric(deliveries("command", slackapp.SubmitDuplicate))
		for _, user := range []string{e2eOper, e2eOper, e2eAdmin} {
			env, err := s.fake.SendSocketEvent(s.ctx, "slash_commands", s.slashCommand(user, "pipeline run team/web main"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.fake.WaitForAck(s.ctx, env); err != nil {
				t.Fatal(err)
			}
		}
		s.waitCount("replies", s.calls("response_url"), replies+3)
		if got := s.sim.PipelineCount(e2eProject) - pipelines; got != 3 {
			t.Errorf("three commands created %d pipelines", got)
		}
		if got := s.metric(deliveries("command", slackapp.SubmitDuplicate)); got != dups {
			t.Errorf("%v distinct commands taken for duplicates", got-dups)
		}
	})

	t.Run("a redelivery after a restart is still dropped", func(t *testing.T) {
		if firstCommand == "" {
			t.Skip("no first command")
		}
		pipelines, replies := s.sim.PipelineCount(e2eProject), s.calls("response_url")()
		s.restart()
		if err := s.fake.RedeliverSocketEvent(s.ctx, firstCommand, "timeout"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.fake.WaitForAcks(s.ctx, firstCommand, 3); err != nil {
			t.Fatal(err)
		}
		s.waitMetric(deliveries("command", slackapp.SubmitDuplicate), 1)
		if s.sim.PipelineCount(e2eProject) != pipelines || s.calls("response_url")() != replies {
			t.Errorf("the restarted process ran the redelivered command")
		}
	})
}

// Over HTTP, an Events API callback Slack retries (X-Slack-Retry-Num) and a
// slash command posted twice with the same trigger_id run once, also after
// a restart; the same text with a new trigger_id runs again.
func TestServeRunsRedeliveredHTTPRequestsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	s := newRedeliveryServe(t)
	deliver := func(path, contentType string, body []byte, retry int) {
		t.Helper()
		status, answer, err := slackfake.Deliver(s.ctx, slackfake.Delivery{
			URL: "http://" + s.c.addr + path, SigningSecret: e2eSecret, ContentType: contentType, Body: body,
			RetryNum: retry, RetryReason: "http_timeout",
		})
		if err != nil || status != http.StatusOK {
			t.Fatalf("POST %s: %d %s %v", path, status, answer, err)
		}
	}
	command := func(trigger string) []byte {
		return []byte(url.Values{"command": {"/ci"}, "text": {"pipeline run team/web main"}, "user_id": {e2eOper},
			"user_name": {"oper"}, "channel_id": {e2eChannel}, "team_id": {"T0E2E"},
			"response_url": {s.fake.ResponseURL(e2eChannel, e2eOper)}, "trigger_id": {trigger}}.Encode())
	}
	const form = "application/x-www-form-urlencoded"

	event := s.linkShared("EvHTTP1")
	for retry := range 3 {
		deliver(slackapp.PathEvents, "application/json", event, retry)
	}
	s.waitMetric(deliveries("event", slackapp.SubmitDuplicate), 2)
	s.waitCount("unfurl", s.calls("chat.unfurl"), 1)

	sameTrigger := newTriggerID()
	deliver(slackapp.PathCommands, form, command(sameTrigger), 0)
	deliver(slackapp.PathCommands, form, command(sameTrigger), 0)
	s.waitMetric(deliveries("command", slackapp.SubmitDuplicate), 1)
	s.waitCount("reply", s.calls("response_url"), 1)
	deliver(slackapp.PathCommands, form, command(newTriggerID()), 0)
	s.waitCount("reply to the command typed again", s.calls("response_url"), 2)
	if n := s.sim.PipelineCount(e2eProject); n != 2+1 { // linkShared made one pipeline
		t.Errorf("pipelines: %d, want the one linked and one per distinct command", n)
	}

	s.restart()
	deliver(slackapp.PathEvents, "application/json", event, 3)
	deliver(slackapp.PathCommands, form, command(sameTrigger), 0)
	s.waitMetric(deliveries("event", slackapp.SubmitDuplicate), 1)
	s.waitMetric(deliveries("command", slackapp.SubmitDuplicate), 1)
	if n := len(s.fake.CallsOf("chat.unfurl")); n != 1 {
		t.Errorf("chat.unfurl called %d times, want 1", n)
	}
	if n := len(s.fake.CallsOf("response_url")); n != 2 {
		t.Errorf("%d replies after the restart, want still 2", n)
	}
	if n := s.sim.PipelineCount(e2eProject); n != 3 {
		t.Errorf("pipelines after the restart: %d, want still 3", n)
	}
}
