package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

const (
	chanID   = "C0CHAN"
	admin    = "U0ADMIN"
	operator = "U0OPER"
	viewer   = "U0VIEW"
)

type harness struct {
	t      testing.TB
	sim    *simulator.Server
	fake   *slackfake.Server
	store  *state.Store
	router *Router
	w      *notify.Watcher
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot", Name: "pipebot"}, "glpat-test")
	sim.AddProject(simulator.Project{ID: 7, Path: "group/app", Branches: []string{"main", "release/1.2"},
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs:    []simulator.JobSpec{{Name: "compile", Stage: "build"}, {Name: "rspec", Stage: "test", Fail: true}}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gl, err := gitlab.New(gitlab.Config{BaseURL: srv.URL, Token: "glpat-test", MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	st, err := state.Open(filepath.Join(t.TempDir(), "pipebot.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.SetRole(operator, "operator"); err != nil {
		t.Fatal(err)
	}
	poster := notify.NewSlack(notify.SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())), PerChannel: time.Millisecond})
	w := notify.New(notify.Config{GitLab: gl, Slack: poster, Store: st, Logger: zerolog.Nop()})
	r := New(Deps{GitLab: gl, Watcher: w, Subs: w, Slack: poster, Store: st, Admins: []string{admin}, Logger: zerolog.Nop()})
	return &harness{t: t, sim: sim, fake: fake, store: st, router: r, w: w}
}

func (h *harness) req(user, text string) slackapp.Request {
	return slackapp.Request{Kind: slackapp.KindCommand, UserID: user, ChannelID: chanID, Command: "/ci", Text: text}
}

// do dispatches text as user and returns the reply's text (blocks JSON,
// unescaped) for assertions.
func (h *harness) do(user, text string) (Reply, string) {
	h.t.Helper()
	r := h.router.Dispatch(context.Background(), h.req(user, text))
	return r, replyText(r)
}

func replyText(r Reply) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r.Blocks)
	return r.Text + "\n" + b.String()
}

func (h *harness) mutations() []simulator.Request {
	var out []simulator.Request
	for _, r := range h.sim.Requests() {
		if r.Method != "GET" {
			out = append(out, r)
		}
	}
	return out
}

func TestEveryExampleParsesToItsCommand(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.UpdateChannel(chanID, func(c *state.Channel) error { c.DefaultProject = "group/app"; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.router.Commands() {
		if len(c.Examples) == 0 {
			t.Errorf("%s has no example", c.Name)
		}
		if c.Summary == "" || c.Role == 0 || c.Run == nil {
			t.Errorf("%s lacks summary, role or handler", c.Name)
		}
		for _, ex := range c.Examples {
			tokens, err := lexTokenize(ex)
			if err != nil {
				t.Errorf("example %q: %v", ex, err)
				continue
			}
			got, rest := h.router.lookup(tokens)
			if got != c {
				t.Errorf("example %q resolves to %v, want %s", ex, got, c.Name)
				continue
			}
			if _, err := h.router.parseCall(c, h.req(admin, ex), rest); err != nil {
				t.Errorf("example %q does not parse: %v", ex, err)
			}
		}
	}
}

func TestManifestUsageHintNamesRealCommands(t *testing.T) {
	h := newHarness(t)
	raw, err := os.ReadFile("../../manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	var hint string
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "usage_hint:"); ok && k == "" {
			hint = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if hint == "" || !strings.Contains(string(raw), "command: /ci") {
		t.Fatalf("manifest.yml lacks the /ci command or its usage hint")
	}
	for _, part := range strings.Split(hint, "|") {
		words := strings.Fields(part)
		if len(words) == 0 {
			continue
		}
		if cmd, _ := h.router.lookup(words); cmd == nil {
			t.Errorf("manifest usage hint names %q, which is not a command", strings.TrimSpace(part))
		}
	}
}

func TestHelpIsGeneratedFromTheTable(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"", "help"} {
		_, out := h.do(viewer, text)
		for _, c := range h.router.Commands() {
			if c.Name != "dismiss" && !strings.Contains(out, "/ci "+c.Name) {
				t.Errorf("help (%q) does not list %s", text, c.Name)
			}
		}
	}
	_, out := h.do(viewer, "help pipeline")
	if !strings.Contains(out, "pipeline retry group/app 42") || strings.Contains(out, "role grant") {
		t.Errorf("help pipeline should show pipeline examples only: %s", out)
	}
}

func TestMalformedCommandsAnswerUsageAndChangeNothing(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unterminated quote", `pipeline run group/app "main`, "could not read"},
		{"unknown command", "pipeline explode group/app", "needs a verb"},
		{"unknown noun", "frobnicate", "don't know the command"},
		{"missing id", "pipeline retry group/app", "Usage: `/ci pipeline retry"},
		{"id not a number", "pipeline retry group/app abc", "not a pipeline id"},
		{"too many args", "pipeline retry group/app 1 2", "too many arguments"},
		{"unknown option", "pipeline list group/app colour:red", "no option `colour:`"},
		{"vars where none allowed", "pipeline retry group/app 1 FOO=bar", "takes no variables"},
		{"no project and no default", "pipeline retry 1", "Which project?"},
		{"bad status filter", "pipeline list group/app status:purple", "not a pipeline status"},
		{"bad limit", "pipeline list group/app limit:-3", "positive number"},
		{"oversized", "pipeline run group/app " + strings.Repeat("x", 5000), "could not read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			reply, out := h.do(admin, c.text)
			if !strings.Contains(out, c.want) {
				t.Errorf("reply to %q lacks %q: %s", c.text, c.want, out)
			}
			if reply.InChannel {
				t.Error("an error reply went to the channel")
			}
			if m := h.mutations(); len(m) != 0 {
				t.Errorf("GitLab changed: %+v", m)
			}
		})
	}
}

func TestRolesAreEnforced(t *testing.T) {
	h := newHarness(t)
	id := h.sim.CreatePipeline(7, "main", "push", 1)
	h.sim.Finish(7, id)
	_, out := h.do(viewer, fmt.Sprintf("pipeline retry group/app %d", id))
	if !strings.Contains(out, "needs the operator role; you are a viewer") {
		t.Errorf("viewer retry: %s", out)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("viewer's retry reached GitLab: %+v", m)
	}
	_, out = h.do(operator, fmt.Sprintf("pipeline delete group/app %d confirm:yes", id))
	if !strings.Contains(out, "needs the admin role") {
		t.Errorf("operator delete: %s", out)
	}
	_, out = h.do(operator, fmt.Sprintf("pipeline retry group/app %d", id))
	if !strings.Contains(out, "Retrying pipeline") {
		t.Errorf("operator retry: %s", out)
	}
	entries, _ := h.store.Audit(10)
	var results []string
	for _, e := range entries {
		results = append(results, e.User+" "+e.Command+" "+e.Result)
	}
	want := []string{
		operator + " pipeline retry 1 ok",
		operator + " pipeline delete 1 denied",
		viewer + " pipeline retry 1 denied",
	}
	if strings.Join(results, "|") != strings.Join(want, "|") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(results, "\n"), strings.Join(want, "\n"))
	}
}

func TestRoleGrantRevokeAndDefaultRole(t *testing.T) {
	h := newHarness(t)
	if _, out := h.do(viewer, "role grant <@U0BOB> admin"); !strings.Contains(out, "needs the admin role") {
		t.Fatalf("viewer granted a role: %s", out)
	}
	if _, out := h.do(admin, "role grant <@U0BOB|bob> operator"); !strings.Contains(out, "<@U0BOB> is now an operator") {
		t.Fatalf("grant: %s", out)
	}
	if r, _ := h.router.roleOf("U0BOB"); r != RoleOperator {
		t.Fatalf("role after grant: %v", r)
	}
	if _, out := h.do(admin, "role list"); !strings.Contains(out, "<@U0BOB> operator") || !strings.Contains(out, "<@"+admin+"> admin (PIPEBOT_ADMINS)") {
		t.Errorf("role list: %s", out)
	}
	if _, out := h.do(admin, "role revoke <@U0BOB>"); !strings.Contains(out, "back to the default role, viewer") {
		t.Errorf("revoke: %s", out)
	}
	if _, out := h.do(admin, "role revoke <@"+admin+">"); !strings.Contains(out, "PIPEBOT_ADMINS") {
		t.Errorf("revoking an env admin should be refused: %s", out)
	}
	if _, out := h.do(admin, "role grant <@U0BOB> overlord"); !strings.Contains(out, "not a role") {
		t.Errorf("bad role: %s", out)
	}
}

func TestCancelAsksForConfirmationFirst(t *testing.T) {
	h := newHarness(t)
	id := h.sim.CreatePipeline(7, "main", "push", 1)
	h.sim.Advance(7, id)
	reply, out := h.do(operator, fmt.Sprintf("pipeline cancel group/app %d", id))
	if !strings.Contains(out, "Cancel pipeline #1 of group/app?") {
		t.Fatalf("no confirmation question: %s", out)
	}
	if m := h.mutations(); len(m) != 0 {
		t.Fatalf("cancel ran before confirmation: %+v", m)
	}
	var yes string
	for _, b := range reply.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == "confirm_yes" {
					yes = btn.Value
				}
			}
		}
	}
	if yes != "pipeline cancel group/app 1 confirm:yes" {
		t.Fatalf("confirm button carries %q", yes)
	}
	click := h.req(operator, yes)
	click.Kind = slackapp.KindAction
	r := h.router.Dispatch(context.Background(), click)
	if !strings.Contains(replyText(r), "Canceled pipeline") || !r.ReplaceOriginal {
		t.Errorf("confirmed cancel: %s (replace=%v)", replyText(r), r.ReplaceOriginal)
	}
	if p, _ := h.sim.Pipeline(7, id); p.Status != simulator.StatusCanceled {
		t.Errorf("pipeline status after confirmed cancel: %s", p.Status)
	}
}

func TestProjectFromPastedURLAndChannelDefault(t *testing.T) {
	h := newHarness(t)
	id := h.sim.CreatePipeline(7, "main", "push", 1)
	_, out := h.do(viewer, fmt.Sprintf("pipeline show https://gitlab.example.com/group/app/-/pipelines/%d", id))
	if !strings.Contains(out, "#1") || !strings.Contains(out, "group/app") {
		t.Errorf("show by URL: %s", out)
	}
	if _, out := h.do(viewer, "channel project group/app"); !strings.Contains(out, "needs the admin role") {
		t.Errorf("viewer set channel project: %s", out)
	}
	if _, out := h.do(admin, "channel project https://gitlab.example.com/group/app"); !strings.Contains(out, "default project is now") {
		t.Fatalf("channel project: %s", out)
	}
	if _, out := h.do(viewer, "channel show"); !strings.Contains(out, "group/app") {
		t.Errorf("channel show: %s", out)
	}
	if _, out := h.do(viewer, "pipelines"); !strings.Contains(out, "Pipelines of group/app") {
		t.Errorf("alias with channel default: %s", out)
	}
	if _, out := h.do(admin, "channel project group/nope"); !strings.Contains(out, "can't find the project group/nope") {
		t.Errorf("unknown project: %s", out)
	}
}

func TestRunStartsAWatchedPipelineWithVariables(t *testing.T) {
	h := newHarness(t)
	_, out := h.do(operator, `run group/app release/1.2 DEPLOY_ZONE=us-west1 NOTE="two words"`)
	if !strings.Contains(out, "Started pipeline") {
		t.Fatalf("run: %s", out)
	}
	p, ok := h.sim.Pipeline(7, 1)
	if !ok || p.Ref != "release/1.2" {
		t.Fatalf("pipeline not created on release/1.2: %+v", p)
	}
	ws, _ := h.store.Watches()
	if len(ws) != 1 || ws[0].Requester != operator || ws[0].MessageTS == "" {
		t.Fatalf("watch: %+v", ws)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 1 {
		t.Errorf("cards posted: %d", n)
	}
	_, out = h.do(operator, "pipeline vars group/app 1")
	if !strings.Contains(out, "DEPLOY_ZONE") || strings.Contains(out, "us-west1") || strings.Contains(out, "two words") {
		t.Errorf("pipeline vars must list keys without values: %s", out)
	}
	entries, _ := h.store.Audit(1)
	if len(entries) != 1 || strings.Contains(entries[0].Command, "us-west1") || !strings.Contains(entries[0].Command, "DEPLOY_ZONE=…") {
		t.Errorf("audit entry leaks or lacks variables: %+v", entries)
	}
}

func TestGitLabErrorsBecomeOneSentence(t *testing.T) {
	h := newHarness(t)
	_, out := h.do(operator, "run group/app no-such-branch")
	if !strings.Contains(out, "Reference not found") || strings.Contains(out, "gitlab.example") && strings.Contains(out, "api/v4") {
		t.Errorf("bad ref: %s", out)
	}
	_, out = h.do(viewer, "pipeline show group/app 999")
	if !strings.Contains(out, "can't find pipeline #999 in group/app") {
		t.Errorf("missing pipeline: %s", out)
	}
	h.sim.FailNext(10, 500, 0)
	_, out = h.do(viewer, "pipeline list group/app")
	if !strings.Contains(out, "ref `") || strings.Contains(out, "500 Internal") {
		t.Errorf("outage answer should be a sentence with a ref: %s", out)
	}
}

func TestPluralNounsAndLinkClicks(t *testing.T) {
	h := newHarness(t)
	id := h.sim.CreatePipeline(7, "main", "push", 1)
	if _, out := h.do(viewer, fmt.Sprintf("pipelines show group/app %d", id)); !strings.Contains(out, "#1") || strings.Contains(out, ":warning:") {
		t.Errorf("plural noun with a verb: %s", out)
	}
	if _, out := h.do(viewer, "help pipelines"); !strings.Contains(out, "pipeline retry") {
		t.Errorf("help with a plural topic: %s", out)
	}
	click := h.req(viewer, "")
	click.Kind = slackapp.KindAction
	if r := h.router.Dispatch(context.Background(), click); !r.None {
		t.Errorf("a link-button click (no value) answered: %s", replyText(r))
	}
}

func TestLinksToAnotherGitLabAreRefused(t *testing.T) {
	h := newHarness(t)
	h.router.deps.GitLabHosts = []string{"gitlab.example.com"}
	h.sim.CreatePipeline(7, "main", "push", 1)
	if _, out := h.do(viewer, "pipeline show https://gitlab.com/group/app/-/pipelines/1"); !strings.Contains(out, "points to gitlab.com, but pipebot works with gitlab.example.com") {
		t.Errorf("foreign host: %s", out)
	}
	if _, out := h.do(viewer, "pipeline show https://GitLab.Example.com/group/app/-/pipelines/1"); strings.Contains(out, ":warning:") {
		t.Errorf("own host refused: %s", out)
	}
	if len(h.mutations()) != 0 {
		t.Error("GitLab changed")
	}
}

func TestUsageTextIsEscapedForSlack(t *testing.T) {
	h := newHarness(t)
	r, _ := h.do(viewer, "pipeline retry group/app")
	b, _ := json.Marshal(r.Blocks)
	var raw strings.Builder
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(r.Blocks)
	if strings.Contains(raw.String(), "<id>") || !strings.Contains(raw.String(), "&lt;id&gt;") {
		t.Errorf("usage placeholders would be read as Slack links: %s", b)
	}
}

func TestRetryClickedOnACardKeepsThatCard(t *testing.T) {
	h := newHarness(t)
	_, out := h.do(operator, "run group/app main")
	if !strings.Contains(out, "Started") {
		t.Fatal(out)
	}
	h.sim.Finish(7, 1)
	if err := h.w.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	cards := h.fake.CallsOf("chat.postMessage")
	cardTS := cards[0].TS
	click := h.req(operator, "pipeline retry group/app 1")
	click.Kind = slackapp.KindAction
	click.MessageTS = cardTS
	if r := h.router.Dispatch(context.Background(), click); !strings.Contains(replyText(r), "Retrying") {
		t.Fatalf("retry click: %s", replyText(r))
	}
	top := 0
	for _, m := range h.fake.Messages(chanID) {
		if !m.Ephemeral && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
			top++
		}
	}
	if top != 1 {
		t.Errorf("cards after a Retry click on the card: %d, want 1", top)
	}
	ws, _ := h.store.Watches()
	if len(ws) != 1 || ws[0].MessageTS != cardTS {
		t.Errorf("watch not attached to the clicked card: %+v", ws)
	}
}

func TestREADMEDocumentsEveryCommand(t *testing.T) {
	h := newHarness(t)
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range h.router.Commands() {
		if c.Name == "dismiss" {
			continue
		}
		if !strings.Contains(string(raw), "/ci "+c.Name) {
			t.Errorf("README.md does not document /ci %s", c.Name)
		}
	}
}

func TestErrorReferenceIsTheLoggedRequestID(t *testing.T) {
	h := newHarness(t)
	var logs strings.Builder
	h.router.log = zerolog.New(&logs)
	h.sim.FailNext(10, 500, 0)
	_, out := h.do(viewer, "pipeline list group/app")
	i := strings.Index(out, "ref `")
	if i < 0 {
		t.Fatalf("no reference in the reply: %s", out)
	}
	ref := out[i+5 : i+5+8]
	if !strings.Contains(logs.String(), `"req_id":"`+ref+`"`) {
		t.Errorf("log lines do not carry req_id %s:\n%s", ref, logs.String())
	}
	if strings.Contains(logs.String(), "glpat-test") {
		t.Error("the GitLab token reached the log")
	}
}

func TestJobListTakesThePipelineFromAPastedLink(t *testing.T) {
	h := newHarness(t)
	h.sim.CreatePipeline(7, "main", "push", 1)
	h.sim.CreatePipeline(7, "main", "push", 1)
	_, out := h.do(viewer, "jobs https://gitlab.example.com/group/app/-/pipelines/2")
	if !strings.Contains(out, "Jobs of pipeline #2") {
		t.Errorf("job list with a pipeline link: %s", out)
	}
}

func TestChannelRestrictLimitsTheProjectsACommandMayName(t *testing.T) {
	h := newHarness(t)
	h.sim.AddProject(simulator.Project{ID: 9, Path: "group/other", Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{{Name: "build", Stage: "build"}}})
	if _, out := h.do(operator, "channel restrict group/app"); !strings.Contains(out, "needs the admin role") {
		t.Fatalf("operator restricted the channel: %s", out)
	}
	if _, out := h.do(admin, "channel restrict group/app"); !strings.Contains(out, "only on group/app") {
		t.Fatalf("restrict: %s", out)
	}
	h.sim.ResetRequests()
	if _, out := h.do(operator, "run group/other main"); !strings.Contains(out, "may act only on group/app") {
		t.Errorf("a run on another project: %s", out)
	}
	if _, out := h.do(admin, "var list group/other"); !strings.Contains(out, "may act only on group/app") {
		t.Errorf("var list on another project: %s", out)
	}
	if n := len(h.mutations()); n != 0 {
		t.Errorf("GitLab changed %d times", n)
	}
	if _, out := h.do(operator, "run group/app main"); !strings.Contains(out, "Started") {
		t.Errorf("the allowed project: %s", out)
	}
	if _, out := h.do(viewer, "channel show"); !strings.Contains(out, "only on group/app") {
		t.Errorf("channel show: %s", out)
	}
	if _, out := h.do(admin, "channel restrict none"); !strings.Contains(out, "any project") {
		t.Errorf("lift: %s", out)
	}
	if _, out := h.do(operator, "run group/other main"); !strings.Contains(out, "Started") {
		t.Errorf("after lifting: %s", out)
	}
}

func TestMalformedInputAlwaysShowsUsageAndAnExample(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"bogus", `pipeline show "unterminated`, "pipeline show group/app abc", "pipeline list group/app limit:0", "help nosuchtopic"} {
		_, out := h.do(viewer, text)
		if !strings.Contains(out, "Usage") || !(strings.Contains(out, "Example") || strings.Contains(out, "Examples")) {
			t.Errorf("%q: no usage and example: %s", text, out)
		}
	}
	_, out := h.do(viewer, "help")
	if !strings.Contains(out, "e.g. `/ci pipeline list group/app`") {
		t.Errorf("global help without examples: %s", out)
	}
	for word, want := range map[string]string{"subscriptions": "/ci subscribe", "run": "/ci pipeline run", "jobs": "/ci job log"} {
		if _, out := h.do(viewer, "help "+word); !strings.Contains(out, want) {
			t.Errorf("help %s: %s", word, out)
		}
	}
}

func TestDeniedCommandsAuditTheChannelDefaultProject(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.UpdateChannel(chanID, func(c *state.Channel) error { c.DefaultProject = "group/app"; return nil }); err != nil {
		t.Fatal(err)
	}
	h.do(viewer, "var set X=1")
	entries, _ := h.store.Audit(1)
	if len(entries) != 1 || entries[0].Project != "group/app" || entries[0].Result != "denied" {
		t.Errorf("audit: %+v", entries)
	}
}
