package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func pipelineLink(id int64) string {
	return fmt.Sprintf("https://gitlab.example.com/group/app/-/pipelines/%d", id)
}

// trackPipeline records a live unfurl of pipeline id on message ts, as the
// link_shared handler does after its first chat.unfurl.
func (h *harness) trackPipeline(ts string, id int64) string {
	h.t.Helper()
	u := pipelineLink(id)
	ok, err := h.w.TrackUnfurl(context.Background(), LiveUnfurl{Channel: testChannel, TS: ts, URL: u, ProjectID: projectID, Project: "group/app", Pipeline: h.pipeline(id)})
	if err != nil || !ok {
		h.t.Fatalf("TrackUnfurl = %v, %v; want recorded", ok, err)
	}
	return u
}

// unfurlsOn returns the successful chat.unfurl calls for message ts.
func (h *harness) unfurlsOn(ts string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range h.fake.CallsOf("chat.unfurl") {
		if c.TS == ts && c.Error == "" {
			out = append(out, c)
		}
	}
	return out
}

// preview is the current preview of url on message ts.
func (h *harness) preview(ts, url string) string {
	h.t.Helper()
	for _, u := range h.fake.Unfurls() {
		if u.TS == ts && u.URL == url && u.Channel == testChannel {
			return blocksText(u.Blocks)
		}
	}
	h.t.Fatalf("no preview of %s on %s", url, ts)
	return ""
}

// later moves the clock past the poll overlap, so an unchanged pipeline is
// no longer listed.
func (h *harness) later() { h.clock.Add(time.Minute) }

func TestLiveUnfurlFollowsThePipelineAndStopsAtTheEnd(t *testing.T) {
	h := newHarness(t, passingJobs)
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	const ts = "1700000000.000100"
	link := h.trackPipeline(ts, id)

	// Nothing moved: no chat.unfurl.
	h.later()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.unfurlsOn(ts)); n != 0 {
		t.Fatalf("%d chat.unfurl calls before the pipeline moved, want 0", n)
	}

	var statuses []string
	for i := 0; i < 30; i++ {
		h.later()
		st := h.sim.Advance(projectID, id)
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
		if st == simulator.StatusSuccess {
			break
		}
		if st == simulator.StatusRunning && !strings.Contains(h.preview(ts, link), "running") {
			t.Fatalf("running pipeline's preview does not say running: %s", h.preview(ts, link))
		}
		statuses = append(statuses, st)
	}
	if !contains(h.preview(ts, link), "#"+fmt.Sprint(id), "group/app", "passed") {
		t.Fatalf("final preview does not show the pipeline's success: %s", h.preview(ts, link))
	}
	if strings.Contains(h.preview(ts, link), "pipeline cancel") {
		t.Errorf("the final preview still offers Cancel: %s", h.preview(ts, link))
	}
	calls := h.unfurlsOn(ts)
	if len(calls) == 0 || len(calls) > len(statuses)+1 {
		t.Fatalf("%d chat.unfurl calls for %d state changes; want one per change", len(calls), len(statuses)+1)
	}
	for _, c := range calls {
		if c.Channel != testChannel || c.UnfurlID != "" {
			t.Errorf("update not sent by channel and ts: %+v", c)
		}
	}
	if us, _ := h.store.Unfurls(); len(us) != 0 {
		t.Errorf("the record outlived the pipeline: %+v", us)
	}
	// Later ticks, even with the pipeline listed again, unfurl nothing more.
	before := len(h.fake.CallsOf("chat.unfurl"))
	h.sim.ResetRequests()
	for i := 0; i < 3; i++ {
		h.later()
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.fake.CallsOf("chat.unfurl")); n != before {
		t.Errorf("chat.unfurl called %d more times after the final preview", n-before)
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("project still polled %d times with no live unfurl left", n)
	}
}

func TestLiveUnfurlKeepsUpdatingAfterARestart(t *testing.T) {
	h := newHarness(t, passingJobs)
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	const ts = "1700000000.000200"
	link := h.trackPipeline(ts, id)
	h.restart()
	h.later()
	h.sim.Finish(projectID, id)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.unfurlsOn(ts)); n != 1 {
		t.Fatalf("%d chat.unfurl calls after the restart, want the final one", n)
	}
	if p := h.preview(ts, link); !contains(p, ":white_check_mark:", "passed") {
		t.Errorf("final preview after the restart does not show the success: %s", p)
	}
	h.restart()
	h.later()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.unfurlsOn(ts)); n != 1 {
		t.Errorf("the ended unfurl was updated again after a second restart (%d calls)", n)
	}
}

func TestLiveUnfurlsCostNoGitLabRequestOfTheirOwn(t *testing.T) {
	const n = 20
	h := newHarness(t, passingJobs)
	// Baseline: one watched pipeline makes the project polled.
	h.start()
	h.later()
	h.sim.ResetRequests()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	baseline := len(h.sim.Requests())
	if baseline != 1 {
		t.Fatalf("baseline requests per tick = %d, want the project's one poll", baseline)
	}

	// n live unfurls: half of one pipeline (several messages), half of
	// others; plus job links of the first pipeline.
	shared := h.sim.CreatePipeline(projectID, "main", "push", 1)
	for i := 0; i < n; i++ {
		ts := fmt.Sprintf("1700000001.%06d", i)
		id := shared
		if i%2 == 1 {
			id = h.sim.CreatePipeline(projectID, "main", "push", 1)
		}
		h.trackPipeline(ts, id)
	}
	job := h.sim.Jobs(projectID, shared)[0]
	for i := 0; i < 3; i++ {
		u := fmt.Sprintf("https://gitlab.example.com/group/app/-/jobs/%d", job.ID)
		j := gitlab.Job{ID: job.ID, Name: job.Name, Status: gitlab.Status(job.Status), PipelineID: shared}
		if _, err := h.w.TrackUnfurl(context.Background(), LiveUnfurl{Channel: testChannel, TS: fmt.Sprintf("1700000002.%06d", i), URL: u, ProjectID: projectID, Project: "group/app", Job: &j}); err != nil {
			t.Fatal(err)
		}
	}
	// The first tick reads the job links' pipeline once; then steady state.
	h.later()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.later()
	h.sim.ResetRequests()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.sim.Requests()); got != baseline {
		t.Errorf("requests per quiet tick with %d live unfurls = %d, want %d as with none", n+3, got, baseline)
	}

	// The shared pipeline moves: one jobs read for its ten pipeline
	// previews and three job previews together, one chat.unfurl per message.
	h.later()
	before := len(h.fake.CallsOf("chat.unfurl"))
	h.sim.Advance(projectID, shared)
	h.sim.ResetRequests()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	jobsPath := fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/jobs", projectID, shared)
	if got := h.sim.CountRequests("GET", jobsPath); got != 1 {
		t.Errorf("jobs reads of the moved pipeline = %d, want 1 shared by all its previews", got)
	}
	if got := len(h.sim.Requests()); got != baseline+1 {
		t.Errorf("requests in the tick after a change = %d, want the poll and one jobs read: %+v", got, h.sim.Requests())
	}
	if got := len(h.fake.CallsOf("chat.unfurl")) - before; got != n/2+3 {
		t.Errorf("chat.unfurl calls after the change = %d, want %d (one per message showing the pipeline)", got, n/2+3)
	}
}

func TestLiveUnfurlOfAJobFollowsTheJobAndEndsWithIt(t *testing.T) {
	h := newHarness(t, []simulator.JobSpec{{Name: "compile", Stage: "build"}, {Name: "deploy", Stage: "deploy"}})
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	first := h.sim.Jobs(projectID, id)[0]
	link := fmt.Sprintf("https://gitlab.example.com/group/app/-/jobs/%d", first.ID)
	const ts = "1700000000.000300"
	j := gitlab.Job{ID: first.ID, Name: first.Name, Status: gitlab.Status(first.Status), PipelineID: id}
	if ok, err := h.w.TrackUnfurl(context.Background(), LiveUnfurl{Channel: testChannel, TS: ts, URL: link, ProjectID: projectID, Project: "group/app", Job: &j}); !ok || err != nil {
		t.Fatalf("TrackUnfurl = %v, %v", ok, err)
	}
	h.later()
	h.sim.SetJobStatus(projectID, first.ID, simulator.StatusRunning, "")
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if p := h.preview(ts, link); !strings.Contains(p, "job compile running") {
		t.Fatalf("job preview not updated to running: %s", p)
	}
	h.later()
	h.sim.SetJobStatus(projectID, first.ID, simulator.StatusFailed, "script_failure")
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if p := h.preview(ts, link); !strings.Contains(p, "job compile failed") {
		t.Fatalf("job preview not updated to failed: %s", p)
	}
	if us, _ := h.store.Unfurls(); len(us) != 0 {
		t.Errorf("the job ended but its unfurl is still live: %+v", us)
	}
	calls := len(h.unfurlsOn(ts))
	h.later()
	h.sim.Finish(projectID, id)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.unfurlsOn(ts)); got != calls || calls != 2 {
		t.Errorf("chat.unfurl calls = %d then %d, want 2 (running, failed) and none after", calls, got)
	}
}

func TestLiveUnfurlSlackFailures(t *testing.T) {
	cases := []struct {
		name      string
		slackErr  string
		wantKept  bool
		wantRetry bool // the next quiet tick sends the update again
	}{
		{name: "message deleted drops the record", slackErr: "message_not_found"},
		{name: "cannot unfurl drops the record", slackErr: "cannot_unfurl_message"},
		{name: "channel gone drops the record", slackErr: "channel_not_found"},
		{name: "an outage keeps it and retries without a new change", slackErr: "internal_error", wantKept: true, wantRetry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, passingJobs)
			id := h.sim.CreatePipeline(projectID, "main", "push", 1)
			const ts = "1700000000.000400"
			link := h.trackPipeline(ts, id)
			h.later()
			h.sim.Advance(projectID, id)
			h.fake.FailMethod("chat.unfurl", tc.slackErr, 1)
			_ = h.tick()
			us, _ := h.store.Unfurls()
			if kept := len(us) == 1; kept != tc.wantKept {
				t.Fatalf("record kept = %v after %s, want %v", kept, tc.slackErr, tc.wantKept)
			}
			h.later()
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			if got := len(h.unfurlsOn(ts)) == 1; got != tc.wantRetry {
				t.Fatalf("retried = %v, want %v", got, tc.wantRetry)
			}
			if tc.wantRetry && !strings.Contains(h.preview(ts, link), "#"+fmt.Sprint(id)) {
				t.Errorf("retried preview wrong: %s", h.preview(ts, link))
			}
		})
	}
}

func TestTrackUnfurlRecordsOnlyWhatCanStillChange(t *testing.T) {
	h := newHarness(t, passingJobs)
	done := h.sim.CreatePipeline(projectID, "main", "push", 1)
	h.sim.Finish(projectID, done)
	running := h.sim.CreatePipeline(projectID, "main", "push", 1)
	cases := []struct {
		name string
		u    LiveUnfurl
	}{
		{"finished pipeline", LiveUnfurl{Channel: testChannel, TS: "1.1", URL: pipelineLink(done), ProjectID: projectID, Pipeline: h.pipeline(done)}},
		{"link in the composer", LiveUnfurl{Channel: "COMPOSER", TS: "5b7a0c12-6e5b", URL: pipelineLink(running), ProjectID: projectID, Pipeline: h.pipeline(running)}},
		{"no message ts", LiveUnfurl{Channel: testChannel, URL: pipelineLink(running), ProjectID: projectID, Pipeline: h.pipeline(running)}},
		{"finished job", LiveUnfurl{Channel: testChannel, TS: "1.2", URL: "https://gitlab.example.com/group/app/-/jobs/1", ProjectID: projectID,
			Job: &gitlab.Job{ID: 1, PipelineID: running, Status: gitlab.StatusSuccess}}},
	}
	for _, tc := range cases {
		if ok, err := h.w.TrackUnfurl(context.Background(), tc.u); ok || err != nil {
			t.Errorf("%s: TrackUnfurl = %v, %v; want not recorded", tc.name, ok, err)
		}
	}
	if us, _ := h.store.Unfurls(); len(us) != 0 {
		t.Errorf("recorded: %+v", us)
	}
}

func TestLiveUnfurlAndWatchedCardShareOneJobsRead(t *testing.T) {
	h := newHarness(t, passingJobs)
	id := h.start()
	h.trackPipeline("1700000000.000500", id)
	h.later()
	h.sim.Advance(projectID, id)
	h.sim.ResetRequests()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if got := h.sim.CountRequests("GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/jobs", projectID, id)); got != 1 {
		t.Errorf("jobs reads for a card and an unfurl of one pipeline = %d, want 1", got)
	}
	if h.card().Edits == 0 || len(h.unfurlsOn("1700000000.000500")) != 1 {
		t.Errorf("card edits %d, unfurls %d: want both updated", h.card().Edits, len(h.unfurlsOn("1700000000.000500")))
	}
}

func TestLiveUnfurlUpdatedByAWebhookWithoutAPoll(t *testing.T) {
	h := newHarness(t, passingJobs)
	wh, url := h.webhook()
	id := h.sim.CreatePipeline(projectID, "main", "push", 1)
	const ts = "1700000000.000600"
	link := h.trackPipeline(ts, id)
	h.sim.Finish(projectID, id)
	d, _ := h.sim.PipelineHook(projectID, id)
	h.sim.ResetRequests()
	if code := send(t, url, hookSecret, d); code != http.StatusOK {
		t.Fatalf("delivery answered %d", code)
	}
	if err := wh.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.unfurlsOn(ts)); n != 1 {
		t.Fatalf("chat.unfurl calls after the hook = %d, want 1", n)
	}
	if p := h.preview(ts, link); !strings.Contains(p, "passed") {
		t.Errorf("preview after the hook does not show the end: %s", p)
	}
	for _, r := range h.sim.Requests() {
		if strings.HasSuffix(r.Path, "/pipelines") {
			t.Errorf("the hook's update polled GitLab: %s", r.Path)
		}
	}
	if us, _ := h.store.Unfurls(); len(us) != 0 {
		t.Errorf("the ended unfurl is still live: %+v", us)
	}
	// The poll afterwards finds nothing to do.
	h.later()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.unfurlsOn(ts)); n != 1 {
		t.Errorf("the poll after the hook unfurled again (%d calls)", n)
	}
}
