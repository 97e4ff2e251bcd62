package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// linkShared sends a signed Events API link_shared callback for links, as
// Slack redelivers it when retry > 0, and returns the HTTP status.
func (e *e2e) linkShared(eventID string, retry int, inner map[string]any) int {
	e.t.Helper()
	ev := map[string]any{"type": "link_shared", "channel": e2eChannel, "user": e2eViewer,
		"message_ts": "1700000000.000100", "event_ts": "1700000000.000200"}
	for k, v := range inner {
		ev[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": "T0E2E", "api_app_id": "A0E2E", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000, "event": ev,
	})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/events", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, body))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	e.app.pool.Wait()
	return resp.StatusCode
}

func links(urls ...string) map[string]any {
	var out []map[string]any
	for _, u := range urls {
		out = append(out, map[string]any{"url": u, "domain": "gitlab.example.com"})
	}
	return map[string]any{"links": out}
}

func TestLinkSharedUnfurlsPipelinesAndJobsOfPipebotsGitLab(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.sim.Finish(e2eProject, pid)
	jobs := e.sim.Jobs(e2eProject, pid)
	if len(jobs) == 0 {
		t.Fatal("simulator made no jobs")
	}
	job := jobs[0]
	pipeURL := fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", pid)
	jobURL := fmt.Sprintf("https://gitlab.example.com/team/web/-/jobs/%d", job.ID)

	cases := []struct {
		name    string
		inner   map[string]any
		want    map[string]string // URL -> text its preview must contain
		channel string            // "" when unfurled by id
	}{
		{
			name:    "pipeline link unfurls into the pipeline card",
			inner:   links(pipeURL),
			want:    map[string]string{pipeURL: fmt.Sprintf("#%d", pid)},
			channel: e2eChannel,
		},
		{
			name:    "job link unfurls into a job summary",
			inner:   links(jobURL),
			want:    map[string]string{jobURL: "Job <" + jobURL},
			channel: e2eChannel,
		},
		{
			name: "composer link unfurls by unfurl_id and source",
			inner: func() map[string]any {
				m := links(pipeURL)
				m["channel"], m["message_ts"] = "COMPOSER", "5b7a0c12-6e5b-4f2d-9d73-0c7c8a0e9c11"
				m["unfurl_id"], m["source"] = "U0E2E-5b7a0c12", "composer"
				return m
			}(),
			want: map[string]string{pipeURL: fmt.Sprintf("#%d", pid)},
		},
		{
			name: "only pipebot's links in a mixed message unfurl",
			inner: links(pipeURL, "https://gitlab.other.org/team/web/-/pipelines/1",
				"https://gitlab.example.com/team/web/-/pipelines/999", "https://gitlab.example.com/team/web"),
			want:    map[string]string{pipeURL: fmt.Sprintf("#%d", pid)},
			channel: e2eChannel,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.fake.Reset()
			if code := e.linkShared(fmt.Sprintf("Ev%d", i), 0, tc.inner); code != http.StatusOK {
				t.Fatalf("HTTP %d", code)
			}
			calls := e.fake.CallsOf("chat.unfurl")
			if len(calls) != 1 || calls[0].Error != "" {
				t.Fatalf("chat.unfurl calls = %+v, want one that succeeds", calls)
			}
			got := e.fake.Unfurls()
			if len(got) != len(tc.want) {
				t.Fatalf("unfurled %d links, want %d: %+v", len(got), len(tc.want), got)
			}
			for _, u := range got {
				want, ok := tc.want[u.URL]
				if !ok {
					t.Errorf("unexpected unfurl of %s", u.URL)
					continue
				}
				if blocks := unescapeJSON(u.Blocks); !strings.Contains(blocks, want) {
					t.Errorf("preview of %s lacks %q:\n%s", u.URL, want, blocks)
				}
				if u.Channel != tc.channel {
					t.Errorf("unfurled in channel %q, want %q (%+v)", u.Channel, tc.channel, u)
				}
			}
		})
	}
}

func TestLinkSharedUnfurlsNothingForForeignOrUnknownLinks(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	// A project with a pipeline that pipebot's token is no member of.
	e.sim.AddProject(simulator.Project{ID: 77, Path: "secret/vault", Branches: []string{"main"},
		Jobs: []simulator.JobSpec{{Name: "build", Stage: "build"}}})
	hidden := e.sim.CreatePipeline(77, "main", "push", 1)
	cases := []struct{ name, link string }{
		{"another GitLab host", fmt.Sprintf("https://gitlab.other.org/team/web/-/pipelines/%d", pid)},
		{"unknown project", "https://gitlab.example.com/nobody/nothing/-/pipelines/1"},
		{"project pipebot cannot see", fmt.Sprintf("https://gitlab.example.com/secret/vault/-/pipelines/%d", hidden)},
		{"unknown pipeline", "https://gitlab.example.com/team/web/-/pipelines/99999"},
		{"unknown job", "https://gitlab.example.com/team/web/-/jobs/99999"},
		{"project page, no pipeline or job", "https://gitlab.example.com/team/web"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.fake.Reset()
			if code := e.linkShared(fmt.Sprintf("EvNo%d", i), 0, links(tc.link)); code != http.StatusOK {
				t.Fatalf("HTTP %d", code)
			}
			for _, c := range e.fake.Calls() {
				t.Errorf("Slack was called: %s %s %s", c.Method, c.Text, c.Body)
			}
		})
	}
}

func TestLinkSharedRedeliveryUnfurlsOnce(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	inner := links(fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", pid))
	for retry := 0; retry < 3; retry++ {
		if code := e.linkShared("EvDup", retry, inner); code != http.StatusOK {
			t.Fatalf("delivery %d: HTTP %d", retry, code)
		}
	}
	if n := len(e.fake.CallsOf("chat.unfurl")); n != 1 {
		t.Errorf("chat.unfurl called %d times for one event delivered three times, want 1", n)
	}
	// A new event for the same link (another message) unfurls again.
	if e.linkShared("EvOther", 0, inner); len(e.fake.CallsOf("chat.unfurl")) != 2 {
		t.Errorf("a different event_id did not unfurl")
	}
}

func TestLinkSharedUnfurlRefusedBySlackPostsNothingElse(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.fake.FailMethod("chat.unfurl", "cannot_unfurl_url", 1)
	e.linkShared("EvRefused", 0, links(fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", pid)))
	calls := e.fake.Calls()
	if len(calls) != 1 || calls[0].Method != "chat.unfurl" || calls[0].Error != "cannot_unfurl_url" {
		t.Errorf("Slack calls = %+v, want only the refused chat.unfurl", calls)
	}
}

// unfurlCalls returns the successful chat.unfurl calls so far.
func (e *e2e) unfurlCalls() []slackfake.Call {
	var out []slackfake.Call
	for _, c := range e.fake.CallsOf("chat.unfurl") {
		if c.Error == "" {
			out = append(out, c)
		}
	}
	return out
}

// previewOf is the current preview of url on the link_shared message.
func (e *e2e) previewOf(url string) string {
	e.t.Helper()
	for _, u := range e.fake.Unfurls() {
		if u.URL == url && u.Channel == e2eChannel && u.TS == "1700000000.000100" {
			return unescapeJSON(u.Blocks)
		}
	}
	e.t.Fatalf("no preview of %s", url)
	return ""
}

func TestLinkSharedPreviewsStayLiveUntilThePipelineEnds(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	build := e.sim.Jobs(e2eProject, pid)[0]
	pipeURL := fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", pid)
	jobURL := fmt.Sprintf("https://gitlab.example.com/team/web/-/jobs/%d", build.ID)
	if code := e.linkShared("EvLive", 0, links(pipeURL, jobURL)); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	if n := len(e.unfurlCalls()); n != 1 {
		t.Fatalf("%d chat.unfurl calls for the shared links, want 1", n)
	}
	if us, _ := e.app.store.Unfurls(); len(us) != 2 {
		t.Fatalf("live unfurls recorded = %+v, want the pipeline and the job", us)
	}
	sawRunning := false
	for i := 0; i < 20; i++ {
		st := e.sim.Advance(e2eProject, pid)
		if err := e.app.watcher.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st == simulator.StatusRunning && strings.Contains(e.previewOf(pipeURL), "running") {
			sawRunning = true
		}
		if st == simulator.StatusFailed {
			break
		}
	}
	if !sawRunning {
		t.Error("the pipeline's preview never showed it running")
	}
	if p := e.previewOf(pipeURL); !strings.Contains(p, "failed") || !strings.Contains(p, "script failure") || strings.Contains(p, "pipeline cancel") {
		t.Errorf("final pipeline preview should show the failure and no Cancel:\n%s", p)
	}
	if p := e.previewOf(jobURL); !strings.Contains(p, "Job <"+jobURL) || !strings.Contains(p, "passed") {
		t.Errorf("the job's preview should show it passed:\n%s", p)
	}
	calls := e.unfurlCalls()
	for _, c := range calls {
		if c.Channel != e2eChannel || c.TS != "1700000000.000100" {
			t.Errorf("update not sent to the shared message by channel and ts: %+v", c)
		}
	}
	if len(calls) < 3 {
		t.Errorf("only %d chat.unfurl calls: the previews were not updated as the pipeline moved", len(calls))
	}
	if us, _ := e.app.store.Unfurls(); len(us) != 0 {
		t.Errorf("live unfurls left after the end: %+v", us)
	}
	// No chat.unfurl after the final one.
	for i := 0; i < 3; i++ {
		if err := e.app.watcher.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.unfurlCalls()); n != len(calls) {
		t.Errorf("chat.unfurl called %d more times after the end", n-len(calls))
	}
}

func TestLinkSharedPreviewKeepsUpdatingAfterARestart(t *testing.T) {
	var w wiring
	e := newE2E(t, func(wr *wiring) { wr.gitlabHosts = []string{"gitlab.example.com"}; w = *wr })
	pid := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	pipeURL := fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", pid)
	e.linkShared("EvRestart", 0, links(pipeURL))

	// A new process on the same database.
	if err := e.app.store.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := wire(w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	e.sim.Finish(e2eProject, pid)
	if err := a.watcher.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.unfurlCalls()); n != 2 {
		t.Fatalf("chat.unfurl calls = %d, want the first preview and the final one after the restart", n)
	}
	if p := e.previewOf(pipeURL); !strings.Contains(p, "failed") {
		t.Errorf("preview after the restart does not show the end:\n%s", p)
	}
}

func TestLinkSharedFollowsOnlyPostedLinksOfRunningPipelines(t *testing.T) {
	e := newE2E(t, func(w *wiring) { w.gitlabHosts = []string{"gitlab.example.com"} })
	running := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	done := e.sim.CreatePipeline(e2eProject, "main", "push", 1)
	e.sim.Finish(e2eProject, done)
	composer := links(fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", running))
	composer["channel"], composer["message_ts"] = "COMPOSER", "5b7a0c12-6e5b-4f2d-9d73-0c7c8a0e9c11"
	composer["unfurl_id"], composer["source"] = "U0E2E-5b7a0c12", "composer"
	e.linkShared("EvComposer", 0, composer)
	e.linkShared("EvDone", 0, links(fmt.Sprintf("https://gitlab.example.com/team/web/-/pipelines/%d", done)))
	if n := len(e.unfurlCalls()); n != 2 {
		t.Fatalf("chat.unfurl calls = %d, want both links previewed", n)
	}
	if us, _ := e.app.store.Unfurls(); len(us) != 0 {
		t.Errorf("recorded live: %+v; want neither the composer link nor the finished pipeline", us)
	}
}
