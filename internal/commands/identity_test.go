package commands

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slack-go/slack/slackevents"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// outcome classifies a reply for the permission tables.
func outcome(text string) string {
	switch {
	case strings.Contains(text, "Connect GitLab"):
		return "connect"
	case strings.Contains(text, "GitLab refused"):
		return "refused"
	case strings.Contains(text, "can't find") || strings.Contains(text, "not found"):
		return "notfound"
	case strings.Contains(text, ":warning:"):
		return "other: " + text
	}
	return "ok"
}

// TestGitLabPermissionsApplyPerIdentityMode is the table of who may run,
// retry, cancel, play, read logs and read variables on a public, a private
// and a protected-branch project, in each identity mode. Alice and Bob are
// both pipebot admins: only GitLab's permissions tell them apart.
func TestGitLabPermissionsApplyPerIdentityMode(t *testing.T) {
	actions := []string{"run", "retry", "cancel", "play", "log", "vars"}
	command := func(a string, p int64, w idWorld) string {
		path := idProjects[p]
		switch a {
		case "run":
			return "pipeline run " + path + " main"
		case "retry":
			return fmt.Sprintf("pipeline retry %s %d", path, w.failed)
		case "cancel":
			return fmt.Sprintf("pipeline cancel %s %d confirm:yes", path, w.running)
		case "play":
			return fmt.Sprintf("job play %s %d", path, w.manualJob)
		case "log":
			return fmt.Sprintf("job log %s %d", path, w.logJob)
		}
		return "var list " + path
	}
	all := func(o string) map[int64]string {
		return map[int64]string{pPublic: o, pPrivate: o, pProtected: o}
	}
	person := map[string]map[string]map[int64]string{
		slackAlice: {
			"run":    {pPublic: "refused", pPrivate: "notfound", pProtected: "refused"},
			"retry":  {pPublic: "refused", pPrivate: "notfound", pProtected: "refused"},
			"cancel": {pPublic: "refused", pPrivate: "notfound", pProtected: "refused"},
			"play":   {pPublic: "refused", pPrivate: "notfound", pProtected: "refused"},
			"log":    {pPublic: "ok", pPrivate: "notfound", pProtected: "ok"},
			"vars":   {pPublic: "refused", pPrivate: "notfound", pProtected: "refused"},
		},
		slackBob: {
			"run": all("ok"), "retry": all("ok"), "cancel": all("ok"), "play": all("ok"), "log": all("ok"),
			"vars": {pPublic: "ok", pPrivate: "refused", pProtected: "ok"},
		},
	}
	bot := map[string]map[string]map[int64]string{}
	for _, u := range []string{slackAlice, slackBob} {
		bot[u] = map[string]map[int64]string{}
		for _, a := range actions {
			bot[u][a] = all("ok")
		}
	}
	want := map[identity.Mode]map[string]map[string]map[int64]string{
		identity.ModeBot: bot, identity.ModeLinked: person, identity.ModeSudo: person,
	}
	gl := map[string]int64{slackAlice: glAlice, slackBob: glBob}
	for _, mode := range []identity.Mode{identity.ModeBot, identity.ModeLinked, identity.ModeSudo} {
		for _, user := range []string{slackAlice, slackBob} {
			t.Run(string(mode)+"/"+user, func(t *testing.T) {
				for _, a := range actions {
					for _, p := range []int64{pPublic, pPrivate, pProtected} {
						// A fresh world per cell: one cell's retry or
						// cancel must not change another's answer.
						h := newIDHarness(t, mode)
						if mode == identity.ModeLinked {
							h.link(user, gl[user])
						}
						h.sim.ResetRequests()
						text := h.do(user, command(a, p, h.world[p]))
						if got, w := outcome(text), want[mode][user][a][p]; got != w {
							t.Errorf("%s %s on %s: %s, want %s\n%s", user, a, idProjects[p], got, w, text)
						}
						if mode != identity.ModeBot {
							if n := botCallsForPeople(h.sim); n != 0 {
								t.Errorf("%s %s on %s: %d GitLab calls with pipebot's token", user, a, idProjects[p], n)
							}
							for _, r := range h.sim.Requests() {
								if r.TokenValue != idWatchToken && r.ActingUserID != gl[user] && !(r.Path == "/api/v4/users") {
									t.Errorf("%s %s: %s %s acted as user %d", user, a, r.Method, r.Path, r.ActingUserID)
								}
							}
						}
					}
				}
			})
		}
	}
}

func TestALinkedUsersCommandCarriesTheirBearerTokenNeverPipebots(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackAlice, glAlice)
	h.sim.ResetRequests()
	for _, cmd := range []string{"pipelines group/protected", "pipeline show group/protected " + fmt.Sprint(h.world[pProtected].failed), "jobs group/protected"} {
		if o := outcome(h.do(slackAlice, cmd)); o != "ok" {
			t.Fatalf("%s: %s", cmd, o)
		}
	}
	reqs := h.sim.Requests()
	if len(reqs) == 0 {
		t.Fatal("no GitLab request")
	}
	for _, r := range reqs {
		if r.Credential != simulator.CredentialOAuth || r.ActingUserID != glAlice || r.TokenValue == idBotToken {
			t.Errorf("%s %s went as %s/%d", r.Method, r.Path, r.Credential, r.ActingUserID)
		}
	}
	if n := h.sim.CountCalls(idBotToken); n != 0 {
		t.Errorf("pipebot's token was sent %d times", n)
	}
}

func TestAnUnlinkedUserGetsTheConnectButtonAndNoGitLabCall(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	for _, req := range []slackapp.Request{
		h.req(slackAlice, "pipeline run group/protected main"),
		{Kind: slackapp.KindAction, TeamID: idTeam, UserID: slackAlice, ChannelID: chanID, Text: "pipeline retry group/protected 1", ActionID: "pipeline_retry"},
	} {
		reply := h.router.Dispatch(context.Background(), req)
		text := replyText(reply)
		if !strings.Contains(text, "Connect GitLab") || !strings.Contains(text, h.srv.URL+identity.StartPath+"?state=") || reply.InChannel {
			t.Errorf("%s: reply %s", req.Text, text)
		}
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("%d GitLab requests for an unlinked user", n)
	}
	// Commands about pipebot itself need no link.
	for _, cmd := range []string{"help", "whoami", "role list", "channel show", "audit", "subscriptions"} {
		if text := h.do(slackAlice, cmd); strings.Contains(text, ":warning:") || strings.Contains(text, "pipebot runs your commands as you") {
			t.Errorf("%s: %s", cmd, text)
		}
	}
	if n := len(h.sim.Requests()); n != 0 {
		t.Errorf("%d GitLab requests for pipebot-only commands", n)
	}
	// An admin without a link may still set the channel's project: it is
	// kept unchecked rather than checked with pipebot's token.
	if text := h.do(slackAlice, "channel project group/private"); outcome(text) != "ok" || len(h.sim.Requests()) != 0 {
		t.Errorf("channel project unlinked: %s (%d requests)", text, len(h.sim.Requests()))
	}
}

func TestARefusalNamesWhatThePersonLacks(t *testing.T) {
	for _, mode := range []identity.Mode{identity.ModeLinked, identity.ModeSudo} {
		t.Run(string(mode), func(t *testing.T) {
			h := newIDHarness(t, mode)
			if mode == identity.ModeLinked {
				h.link(slackAlice, glAlice)
			}
			cases := map[string]string{
				"pipeline run group/protected main":                                          "you (@alice) can't run pipelines on protected branch `main` in group/protected.",
				fmt.Sprintf("pipeline retry group/protected %d", h.world[pProtected].failed): "you (@alice) can't retry pipelines on protected branch `main` in group/protected.",
				fmt.Sprintf("job play group/protected %d", h.world[pProtected].manualJob):    "you (@alice) can't run manual jobs on protected branch `main` in group/protected.",
				"var list group/protected":                                                   "you (@alice) can't read CI/CD variables in group/protected",
				"pipelines group/private":                                                    "GitLab: not found, or you (@alice) can't see it.",
				"pipeline run group/private main":                                            "I can't find the project group/private (or you, @alice, can't see it in GitLab).",
			}
			for cmd, want := range cases {
				if text := h.do(slackAlice, cmd); !strings.Contains(text, want) {
					t.Errorf("%s:\n%s\nwant %q", cmd, text, want)
				}
			}
			if n := botCallsForPeople(h.sim); n != 0 {
				t.Errorf("%d calls with pipebot's token", n)
			}
		})
	}
}

func TestARevokedLinkAsksToLogInAgain(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackAlice, glAlice)
	h.sim.RevokeOAuthTokens(glAlice)
	text := h.do(slackAlice, "pipelines group/protected")
	if !strings.Contains(text, "no longer accepts your linked account") || !strings.Contains(text, "Connect GitLab") {
		t.Errorf("reply: %s", text)
	}
	if _, found, _ := h.store.Link(idTeam, slackAlice); found {
		t.Error("the revoked link was kept")
	}
	h.sim.ResetRequests()
	if o := outcome(h.do(slackAlice, "pipelines group/protected")); o != "connect" || len(h.sim.Requests()) != 0 {
		t.Errorf("next command: %s, %d requests", o, len(h.sim.Requests()))
	}
}

func TestSudoActsAsTheSlackUsersGitLabUserAndRefusesAStranger(t *testing.T) {
	h := newIDHarness(t, identity.ModeSudo)
	if o := outcome(h.do(slackAlice, "pipelines group/protected")); o != "ok" {
		t.Fatalf("alice: %s", o)
	}
	sudo := 0
	for _, r := range h.sim.Requests() {
		if r.Sudo {
			sudo++
			if r.ActingUserID != glAlice {
				t.Errorf("sudo as %d", r.ActingUserID)
			}
		}
	}
	if sudo == 0 {
		t.Error("no request used Sudo")
	}
	h.sim.ResetRequests()
	text := h.do(slackCarol, "pipelines group/public")
	if !strings.Contains(text, "No GitLab user has the email address of your Slack account") {
		t.Errorf("stranger: %s", text)
	}
	for _, r := range h.sim.Requests() {
		if r.Path != "/api/v4/users" {
			t.Errorf("a stranger's command reached GitLab: %s %s", r.Method, r.Path)
		}
	}
}

func TestSubscribeNeedsTheSubscriberToSeeTheProject(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackAlice, glAlice)
	h.link(slackBob, glBob)
	h.fake.JoinChannel(chanID)
	if text := h.do(slackAlice, "subscribe group/private"); !strings.Contains(text, "You (@alice) can't see project `group/private` in GitLab") {
		t.Errorf("alice: %s", text)
	}
	if subs, _ := h.store.Subscriptions(); len(subs) != 0 {
		t.Fatalf("a subscription was recorded: %+v", subs)
	}
	if text := h.do(slackBob, "subscribe group/private"); outcome(text) != "ok" {
		t.Errorf("bob: %s", text)
	}
}

func TestAuditRecordsWhoActedInGitLab(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackBob, glBob)
	h.do(slackBob, "pipeline run group/protected main")
	entries, err := h.store.Audit(1)
	if err != nil || len(entries) != 1 || entries[0].GitLab != "linked @bob" {
		t.Fatalf("audit = %+v, %v", entries, err)
	}
	if text := h.do(slackBob, "audit"); !strings.Contains(text, "as linked @bob") {
		t.Errorf("audit list: %s", text)
	}
}

func TestWhoamiAndLoginPerMode(t *testing.T) {
	cases := []struct {
		mode              identity.Mode
		link              bool
		whoami, loginSays string
	}{
		{identity.ModeBot, false, "you act as pipebot's token (@pipebot)", "No link is needed here"},
		{identity.ModeSudo, false, "sudo @alice", "No link is needed here: pipebot acts for you in GitLab as @alice"},
		{identity.ModeLinked, false, "not linked", "Connect GitLab"},
		{identity.ModeLinked, true, "linked @alice", "You are linked to GitLab as @alice"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.mode, c.link), func(t *testing.T) {
			h := newIDHarness(t, c.mode)
			if c.link {
				h.link(slackAlice, glAlice)
			}
			text := h.do(slackAlice, "whoami")
			if !strings.Contains(text, "<@"+slackAlice+">") || !strings.Contains(text, "admin") || !strings.Contains(text, c.whoami) {
				t.Errorf("whoami: %s", text)
			}
			if text := h.do(slackAlice, "link"); !strings.Contains(text, c.loginSays) {
				t.Errorf("login: %s", text)
			}
		})
	}
}

func TestLogoutUnlinksAndRevokes(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackAlice, glAlice)
	if text := h.do(slackAlice, "logout"); !strings.Contains(text, "Unlinked GitLab @alice") {
		t.Errorf("logout: %s", text)
	}
	if n := h.sim.LiveOAuthTokens(glAlice); n != 0 {
		t.Errorf("%d live tokens after logout", n)
	}
	if text := h.do(slackAlice, "logout"); !strings.Contains(text, "no linked GitLab account") {
		t.Errorf("second logout: %s", text)
	}
}

// linkShared is a link_shared event from user with links.
func (h *idHarness) linkShared(user string, links ...string) {
	ev := &slackevents.LinkSharedEvent{Type: "link_shared", User: user, Channel: chanID, MessageTimeStamp: "1700000000.000100"}
	for _, l := range links {
		ev.Links = append(ev.Links, slackevents.SharedLinks{Domain: "gitlab.example.com", URL: l})
	}
	h.router.Handle(context.Background(), slackapp.Request{Kind: slackapp.KindEvent, TeamID: idTeam,
		Event: &slackevents.EventsAPIEvent{Type: slackevents.CallbackEvent, InnerEvent: slackevents.EventsAPIInnerEvent{Type: "link_shared", Data: ev}}})
}

func TestUnfurlsInLinkedModeReadAsThePastingPerson(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	protected := fmt.Sprintf("https://gitlab.example.com/group/protected/-/pipelines/%d", h.world[pProtected].failed)
	private := fmt.Sprintf("https://gitlab.example.com/group/private/-/pipelines/%d", h.world[pPrivate].failed)

	h.linkShared(slackAlice, protected) // not linked yet: no preview, no GitLab call
	if n := len(h.fake.CallsOf("chat.unfurl")); n != 0 || len(h.sim.Requests()) != 0 {
		t.Fatalf("unlinked: %d unfurls, %d GitLab requests", n, len(h.sim.Requests()))
	}
	h.link(slackAlice, glAlice)
	h.sim.ResetRequests()
	h.linkShared(slackAlice, private, protected)
	calls := h.fake.CallsOf("chat.unfurl")
	if len(calls) != 1 {
		t.Fatalf("%d chat.unfurl calls", len(calls))
	}
	if body, _ := url.QueryUnescape(calls[0].Body); !strings.Contains(body, "group/protected") || strings.Contains(body, "group/private") {
		t.Errorf("alice's unfurl shows what she can't see, or not what she can: %s", body)
	}
	for _, r := range h.sim.Requests() {
		if r.ActingUserID != glAlice || r.Credential != simulator.CredentialOAuth {
			t.Errorf("unfurl read %s %s as %d (%s)", r.Method, r.Path, r.ActingUserID, r.Credential)
		}
	}
}

func TestSentencesNameThePersonNotPipebotsUser(t *testing.T) {
	h := newIDHarness(t, identity.ModeSudo)
	h.sim.AddSchedule(pProtected, simulator.Schedule{Description: "nightly", Ref: "main", Cron: "0 2 * * *", CronTimezone: "UTC", Active: true, OwnerID: glBob})
	text := h.do(slackAlice, "schedule update group/protected 1 cron:\"0 3 * * *\"")
	if strings.Contains(text, "pipebot's") || !strings.Contains(text, "@alice") {
		t.Errorf("schedule refusal: %s", text)
	}
	if text := h.do(slackAlice, "schedule show group/private 1"); strings.Contains(text, "pipebot's") || !strings.Contains(text, "can't see it in GitLab") {
		t.Errorf("private schedule: %s", text)
	}
}

func TestTheAppHomeSaysWhoTheUserActsAs(t *testing.T) {
	cases := []struct {
		mode identity.Mode
		link bool
		want string
	}{
		{identity.ModeLinked, false, "you are not linked yet"},
		{identity.ModeLinked, true, "linked as @alice"},
		{identity.ModeSudo, false, "pipebot acts as you (@alice)"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.mode, c.link), func(t *testing.T) {
			h := newIDHarness(t, c.mode)
			if c.link {
				h.link(slackAlice, glAlice)
			}
			// A publish caused by the watcher carries no team.
			h.router.publishHome(context.Background(), "", slackAlice, "")
			view, ok := h.fake.HomeView(slackAlice)
			if !ok || !strings.Contains(string(view), c.want) {
				t.Errorf("home view lacks %q: %s", c.want, view)
			}
		})
	}
}

// TestHandlersNeverPickAToken keeps pipebot's own client out of the
// handlers: only the router's identity step (identity.go) may hand it out,
// so a handler added later cannot run a person's command with pipebot's
// token by calling r.deps.GitLab.
func TestHandlersNeverPickAToken(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "identity.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range strings.Split(string(src), "\n") {
			if strings.Contains(line, "deps.GitLab.") || strings.Contains(line, "deps.GitLab,") || strings.Contains(line, "deps.GitLab)") {
				t.Errorf("%s:%d uses pipebot's client directly; use the call's c.GitLab (or r.actorOf): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

func TestStatsAndDigestsReadAsThePerson(t *testing.T) {
	h := newIDHarness(t, identity.ModeLinked)
	h.link(slackAlice, glAlice)
	h.link(slackBob, glBob)
	h.fake.JoinChannel(chanID)
	if text := h.do(slackAlice, "stats group/private chart:no"); !strings.Contains(text, "can't see it in GitLab") {
		t.Errorf("alice's stats of a private project: %s", text)
	}
	if text := h.do(slackAlice, `digest group/private cron:"0 9 * * 1"`); !strings.Contains(text, "can't see it in GitLab") {
		t.Errorf("alice's digest of a private project: %s", text)
	}
	if text := h.do(slackBob, `digest group/private cron:"0 9 * * 1"`); outcome(text) != "ok" {
		t.Errorf("bob's digest: %s", text)
	}
	h.do(slackBob, "stats group/private chart:no")
	if n := h.sim.CountCalls(idBotToken); n != 0 {
		t.Errorf("%d GitLab calls with pipebot's token for people's stats and digests", n)
	}
	if text := h.do(slackAlice, "digests"); strings.Contains(text, ":warning:") {
		t.Errorf("digests needs no link: %s", text)
	}
}
