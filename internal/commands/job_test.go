package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

const (
	jobsProject  = 8
	artifactSize = 3 << 20
	logSize      = 2 << 20
)

type jobsHarness struct {
	*harness
	gl     *gitlab.Client
	poster *notify.Slack
	spool  *notify.Spool
	// jobs of the finished pipeline: build (artifacts), test (failed,
	// allowed to fail, big hostile log), deploy (manual)
	build, test, deploy int64
	pipeline            int64
}

func newJobsHarness(t *testing.T) *jobsHarness {
	t.Helper()
	h := newHarness(t)
	h.sim.AddProject(simulator.Project{ID: jobsProject, Path: "group/jobs",
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{
			{Name: "build", Stage: "build", Artifacts: true, ArtifactBytes: artifactSize},
			{Name: "test", Stage: "test", Fail: true, AllowFailure: true, LogBytes: logSize},
			{Name: "deploy", Stage: "deploy", When: "manual"},
		}})
	srv := httptest.NewServer(h.sim)
	t.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: "glpat-test", MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	poster := notify.NewSlack(notify.SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(h.fake.APIURL())), PerChannel: time.Millisecond})
	spool := notify.NewSpool(filepath.Join(t.TempDir(), "spool"))
	if _, err := spool.Clean(); err != nil {
		t.Fatal(err)
	}
	h.router.deps.Uploads, h.router.deps.Spool = poster, spool
	jh := &jobsHarness{harness: h, gl: gl, poster: poster, spool: spool}
	jh.pipeline = h.sim.CreatePipeline(jobsProject, "main", "push", 1)
	if st := h.sim.Finish(jobsProject, jh.pipeline); st != simulator.StatusManual {
		t.Fatalf("pipeline rests %s, want manual", st)
	}
	info, _ := h.sim.Pipeline(jobsProject, jh.pipeline)
	for _, j := range info.Jobs {
		switch j.Name {
		case "build":
			jh.build = j.ID
		case "test":
			jh.test = j.ID
		case "deploy":
			jh.deploy = j.ID
		}
	}
	h.sim.ResetRequests()
	return jh
}

func (h *jobsHarness) spoolLeft() []string {
	h.t.Helper()
	entries, err := os.ReadDir(h.spool.Dir())
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// gitlabSHA256 hashes what GitLab serves, read directly.
func gitlabSHA256(t *testing.T, fetch func(w io.Writer) (int64, error)) (string, int64) {
	t.Helper()
	h := sha256.New()
	n, err := fetch(h)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func TestArtifactsReachSlackWithGitLabsSHA256(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		text     func(h *jobsHarness) string
		fetch    func(h *jobsHarness) func(w io.Writer) (int64, error)
		filename string
	}{
		{"whole archive of a job", func(h *jobsHarness) string { return fmt.Sprintf("job artifacts group/jobs %d", h.build) },
			func(h *jobsHarness) func(w io.Writer) (int64, error) {
				return func(w io.Writer) (int64, error) { return h.gl.JobArtifacts(ctx, "group/jobs", h.build, w, 0) }
			}, "job-%d-build-artifacts.zip"},
		{"one file of the archive", func(h *jobsHarness) string {
			return fmt.Sprintf("job artifacts group/jobs %d path:%s", h.build, simulator.PayloadName)
		}, func(h *jobsHarness) func(w io.Writer) (int64, error) {
			return func(w io.Writer) (int64, error) {
				return h.gl.JobArtifactFile(ctx, "group/jobs", h.build, simulator.PayloadName, w, 0)
			}
		}, simulator.PayloadName},
		{"latest successful job on a ref", func(*jobsHarness) string { return "job artifacts group/jobs ref:main job:build" },
			func(h *jobsHarness) func(w io.Writer) (int64, error) {
				return func(w io.Writer) (int64, error) {
					return h.gl.RefArtifacts(ctx, "group/jobs", "main", "build", "", w, 0)
				}
			}, "build-main-artifacts.zip"},
		{"whole raw log as a file", func(h *jobsHarness) string { return fmt.Sprintf("job log group/jobs %d file raw:yes", h.test) },
			func(h *jobsHarness) func(w io.Writer) (int64, error) {
				return func(w io.Writer) (int64, error) { return h.gl.JobTrace(ctx, "group/jobs", h.test, w, 0) }
			}, "job-%d-test.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newJobsHarness(t)
			_, out := h.do(viewer, tt.text(h))
			if !strings.Contains(out, "Uploaded") {
				t.Fatalf("reply: %s", out)
			}
			want, size := gitlabSHA256(t, tt.fetch(h))
			files := h.fake.Files()
			if len(files) != 1 {
				t.Fatalf("files = %+v", files)
			}
			f := files[0]
			if f.SHA256 != want || f.Size != size || f.Channel != chanID {
				t.Errorf("Slack got %s (%d bytes) in %s; GitLab served %s (%d bytes)", f.SHA256, f.Size, f.Channel, want, size)
			}
			name := tt.filename
			if strings.Contains(name, "%d") {
				name = fmt.Sprintf(name, map[bool]int64{true: h.build, false: h.test}[strings.Contains(name, "build")])
			}
			if f.Name != name {
				t.Errorf("file name %q, want %q", f.Name, name)
			}
			if left := h.spoolLeft(); len(left) != 0 {
				t.Errorf("spool not emptied: %v", left)
			}
		})
	}
}

func TestArtifactRedirectToObjectStorageCarriesNoToken(t *testing.T) {
	h := newJobsHarness(t)
	storage := httptest.NewServer(h.sim.ObjectStorage())
	t.Cleanup(storage.Close)
	h.sim.RedirectArtifacts(storage.URL)
	for _, text := range []string{
		fmt.Sprintf("job artifacts group/jobs %d", h.build),
		fmt.Sprintf("job artifacts group/jobs %d path:README.txt", h.build),
		"job artifacts group/jobs ref:main job:build",
	} {
		if _, out := h.do(viewer, text); !strings.Contains(out, "Uploaded") {
			t.Fatalf("%s: %s", text, out)
		}
	}
	reqs := h.sim.StorageRequests()
	if len(reqs) != 3 {
		t.Fatalf("object storage saw %d requests, want 3: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if len(r.Credentials) != 0 || r.Status != 200 {
			t.Errorf("object storage got %s with credentials %v", r.Path, r.Credentials)
		}
	}
	h.sim.RedirectArtifacts("")
	want, _ := gitlabSHA256(t, func(w io.Writer) (int64, error) {
		return h.gl.JobArtifacts(context.Background(), "group/jobs", h.build, w, 0)
	})
	if f := h.fake.Files(); len(f) != 3 || f[0].SHA256 != want {
		t.Errorf("redirected archive differs from GitLab's: %+v", f)
	}
}

func TestArtifactPathsAreCheckedBeforeAnyRequest(t *testing.T) {
	const refused = "not a file inside the archive"
	tests := []struct{ name, path, want string }{
		{"parent segment", `path:../../etc/passwd`, refused},
		{"parent in the middle", `path:build/../../secret`, refused},
		{"trailing parent", `path:build/..`, refused},
		{"absolute", `path:/etc/passwd`, refused},
		{"windows drive", `path:C:/Windows/win.ini`, refused},
		{"backslash", `"path:build\\..\\secret"`, refused},
		// The command parser already refuses control characters and empty
		// options; either way nothing reaches GitLab.
		{"nul byte", "\"path:a\x00b\"", "control character"},
		{"empty", `path:`, "needs a value"},
	}
	h := newJobsHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.ResetRequests()
			for _, text := range []string{
				fmt.Sprintf("job artifacts group/jobs %d %s", h.build, tt.path),
				"job artifacts group/jobs ref:main job:build " + tt.path,
			} {
				_, out := h.do(viewer, text)
				if !strings.Contains(out, tt.want) {
					t.Errorf("%q: %s", text, out)
				}
			}
			if reqs := h.sim.Requests(); len(reqs) != 0 {
				t.Errorf("GitLab was asked: %+v", reqs)
			}
		})
	}
	if len(h.fake.Files()) != 0 {
		t.Error("a file was uploaded")
	}
}

func TestUploadsTooLargeOrRefusedAnswerWithALink(t *testing.T) {
	tests := []struct {
		name, text string
		setup      func(h *jobsHarness)
		want       string
	}{
		{"archive size known to be over the limit", "job artifacts group/jobs %d", func(h *jobsHarness) { h.router.deps.MaxUpload = 1 << 20 },
			"more than the 1.0 MiB I may upload"},
		{"file found over the limit while streaming", "job artifacts group/jobs %d path:" + simulator.PayloadName,
			func(h *jobsHarness) { h.router.deps.MaxUpload = 1 << 20 }, "larger than the 1.0 MiB I may upload"},
		{"workspace refuses uploads", "job artifacts group/jobs %d", func(h *jobsHarness) { h.fake.DisableFiles() },
			"doesn't let me upload files"},
		{"Slack keeps answering 429 to the upload", "job artifacts group/jobs %d", func(h *jobsHarness) {
			h.router.deps.Uploads = notify.NewSlack(notify.SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(h.fake.APIURL())),
				PerChannel: time.Millisecond, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
			h.fake.RateLimit("files.upload", -1, time.Second)
		}, "Slack is rate limiting file uploads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newJobsHarness(t)
			tt.setup(h)
			_, out := h.do(viewer, fmt.Sprintf(tt.text, h.build))
			if !strings.Contains(out, tt.want) || !strings.Contains(out, "<https://gitlab.example.com/group/jobs/-/jobs/") {
				t.Errorf("reply lacks %q and a GitLab link: %s", tt.want, out)
			}
			if len(h.fake.Files()) != 0 {
				t.Error("a file reached Slack")
			}
			if left := h.spoolLeft(); len(left) != 0 {
				t.Errorf("spool not emptied: %v", left)
			}
		})
	}
}

func TestJobLogShowsACleanTailOfAHugeHostileLog(t *testing.T) {
	h := newJobsHarness(t)
	reply, out := h.do(viewer, fmt.Sprintf("log group/jobs %d lines:7", h.test))
	if !strings.Contains(out, "ERROR: Job failed: exit code 1") || !strings.Contains(out, "last 7 lines of 2.0 MiB") {
		t.Fatalf("log reply: %s", out)
	}
	for _, bad := range []string{"\x1b", "\r", "<!channel>", "<@U0BOSS>", "section_end", "\xff"} {
		if strings.Contains(out, bad) {
			t.Errorf("log reply contains %q", bad)
		}
	}
	for _, b := range reply.Blocks {
		sec, ok := b.(*slack.SectionBlock)
		if !ok || !strings.HasPrefix(sec.Text.Text, "```") {
			continue
		}
		if inner := sec.Text.Text[3 : len(sec.Text.Text)-3]; strings.Contains(inner, "``") {
			t.Errorf("code block can be closed from inside: %q", inner)
		}
	}
	if _, out := h.do(viewer, fmt.Sprintf("job log https://gitlab.example.com/group/jobs/-/jobs/%d", h.deploy)); !strings.Contains(out, "log is empty") {
		t.Errorf("log of a job that never ran: %s", out)
	}
	if _, out := h.do(viewer, fmt.Sprintf("job log group/jobs %d everything", h.test)); !strings.Contains(out, "only `file` may follow") {
		t.Errorf("unknown word after the id: %s", out)
	}
}

func TestUploadFromACardButtonGoesIntoItsThread(t *testing.T) {
	h := newJobsHarness(t)
	cardTS, err := h.poster.Post(context.Background(), chanID, notify.Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	click := h.req(viewer, fmt.Sprintf("job artifacts group/jobs %d path:README.txt", h.build))
	click.Kind, click.MessageTS = slackapp.KindAction, cardTS
	if out := replyText(h.router.Dispatch(context.Background(), click)); !strings.Contains(out, "Uploaded") {
		t.Fatalf("click: %s", out)
	}
	if f := h.fake.Files(); len(f) != 1 || f[0].ThreadTS != cardTS {
		t.Errorf("files = %+v, want one in thread %s", f, cardTS)
	}
}

func TestJobEraseNeedsAdminAndConfirmation(t *testing.T) {
	h := newJobsHarness(t)
	erase := fmt.Sprintf("job erase group/jobs %d", h.build)
	if _, out := h.do(operator, erase+" confirm:yes"); !strings.Contains(out, "needs the admin role") {
		t.Errorf("operator erase: %s", out)
	}
	if _, out := h.do(admin, erase); !strings.Contains(out, "Erase the log and artifacts of job") {
		t.Errorf("admin erase without confirmation: %s", out)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("erased before confirmation: %+v", m)
	}
	if _, out := h.do(admin, erase+" confirm:yes"); !strings.Contains(out, "Erased the log and artifacts") {
		t.Fatalf("confirmed erase: %s", out)
	}
	if _, out := h.do(viewer, fmt.Sprintf("job show group/jobs %d", h.build)); !strings.Contains(out, "erased") || strings.Contains(out, "job_artifacts") {
		t.Errorf("job after erase: %s", out)
	}
	entries, _ := h.store.Audit(5)
	if len(entries) != 2 || entries[0].Result != "ok" || entries[1].Result != "denied" {
		t.Errorf("audit: %+v", entries)
	}
}

func TestJobPlayPassesItsVariablesAndWatchesThePipeline(t *testing.T) {
	h := newJobsHarness(t)
	if _, out := h.do(viewer, fmt.Sprintf("job play group/jobs %d", h.deploy)); !strings.Contains(out, "needs the operator role") {
		t.Errorf("viewer play: %s", out)
	}
	_, out := h.do(operator, fmt.Sprintf(`job play group/jobs %d DEPLOY_ZONE=us-west1 NOTE="two words"`, h.deploy))
	if !strings.Contains(out, "Playing `deploy` in pipeline") {
		t.Fatalf("play: %s", out)
	}
	vars := h.sim.JobVariables(jobsProject, h.deploy)
	if fmt.Sprint(vars) != "[{DEPLOY_ZONE us-west1 env_var} {NOTE two words env_var}]" {
		t.Errorf("job variables = %v", vars)
	}
	ws, _ := h.store.Watches()
	if len(ws) != 1 || ws[0].PipelineID != h.pipeline || ws[0].Requester != operator {
		t.Errorf("watches = %+v", ws)
	}
	entries, _ := h.store.Audit(1)
	if len(entries) != 1 || strings.Contains(entries[0].Command, "us-west1") || !strings.Contains(entries[0].Command, "DEPLOY_ZONE=…") {
		t.Errorf("audit entry: %+v", entries)
	}
}

func TestJobCommandsActOnGitLab(t *testing.T) {
	h := newJobsHarness(t)
	tests := []struct {
		name, user, text, want string
		check                  func(t *testing.T)
	}{
		{"list a pipeline's failed jobs", viewer, fmt.Sprintf("jobs group/jobs pipeline:%d scope:failed", h.pipeline), "`test` (test) failed — script failure", nil},
		{"list rejects unknown statuses", viewer, "job list group/jobs scope:purple", "not a job status", nil},
		{"show offers the fitting buttons", viewer, fmt.Sprintf("job show group/jobs %d", h.build), `"job artifacts group/jobs ` + fmt.Sprint(h.build), nil},
		{"show by pasted URL", viewer, fmt.Sprintf("job show https://gitlab.example.com/group/jobs/-/jobs/%d", h.test), "allowed", nil},
		{"keep", operator, fmt.Sprintf("job keep group/jobs %d", h.build), "will be kept", nil},
		{"retry", operator, fmt.Sprintf("job retry group/jobs %d", h.test), "Retrying job `test`", func(t *testing.T) {
			if n := len(h.sim.Jobs(jobsProject, h.pipeline)); n != 4 {
				t.Errorf("jobs after retry = %d, want 4", n)
			}
		}},
		{"viewer cannot retry", viewer, fmt.Sprintf("job retry group/jobs %d", h.test), "needs the operator role", nil},
		{"missing job", viewer, "job show group/jobs 999", "can't find job #999 in group/jobs", nil},
		{"artifacts need an id or ref and job", viewer, "job artifacts group/jobs ref:main", "both `ref:` and `job:`", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out := h.do(tt.user, tt.text)
			if !strings.Contains(out, tt.want) {
				t.Errorf("%q: reply lacks %q: %s", tt.text, tt.want, out)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
	// Cancel a job of a fresh, running pipeline.
	id := h.sim.CreatePipeline(jobsProject, "main", "push", 1)
	h.sim.Advance(jobsProject, id)
	info, _ := h.sim.Pipeline(jobsProject, id)
	if _, out := h.do(operator, fmt.Sprintf("job cancel group/jobs %d confirm:yes", info.Jobs[0].ID)); !strings.Contains(out, "Canceled job") {
		t.Errorf("cancel: %s", out)
	}
}

func TestJobCancelAsksFirst(t *testing.T) {
	h := newJobsHarness(t)
	id := h.sim.CreatePipeline(jobsProject, "main", "push", 1)
	h.sim.Advance(jobsProject, id)
	info, _ := h.sim.Pipeline(jobsProject, id)
	cancel := fmt.Sprintf("job cancel group/jobs %d", info.Jobs[0].ID)
	if _, out := h.do(operator, cancel); !strings.Contains(out, fmt.Sprintf("Cancel job #%d in group/jobs?", info.Jobs[0].ID)) {
		t.Errorf("cancel without confirmation: %s", out)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("canceled before confirmation: %+v", m)
	}
	if _, out := h.do(operator, cancel+" confirm:yes"); !strings.Contains(out, "Canceled job") {
		t.Fatalf("confirmed cancel: %s", out)
	}
	if m := h.mutations(); len(m) != 1 || !strings.HasSuffix(m[0].Path, "/cancel") {
		t.Errorf("mutations after confirmation: %+v", m)
	}
}

func TestUploadsBeyondTheConcurrencyLimitAreTurnedAway(t *testing.T) {
	h := newJobsHarness(t)
	// Both upload slots are taken by uploads in flight.
	for i := 0; i < cap(h.router.uploadSlots); i++ {
		h.router.uploadSlots <- struct{}{}
	}
	_, out := h.do(viewer, fmt.Sprintf("job artifacts group/jobs %d", h.build))
	if !strings.Contains(out, "uploads are already running") || !strings.Contains(out, "<https://gitlab.example.com/group/jobs/-/jobs/") {
		t.Errorf("reply: %s", out)
	}
	if len(h.fake.Files()) != 0 || h.sim.CountRequests("GET", "/api/v4/projects/group%2Fjobs/jobs/"+fmt.Sprint(h.build)+"/artifacts") != 0 {
		t.Error("an upload ran beyond the limit")
	}
	// A slot frees up: the next upload goes through.
	<-h.router.uploadSlots
	if _, out := h.do(viewer, fmt.Sprintf("job artifacts group/jobs %d", h.build)); !strings.Contains(out, "Uploaded") {
		t.Errorf("upload after a slot freed: %s", out)
	}
}
