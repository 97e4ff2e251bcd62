package commands

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// fixedNow is 2025-03-08 12:00 UTC, the day before New York springs forward.
var fixedNow = time.Date(2025, 3, 8, 12, 0, 0, 0, time.UTC)

func newScheduleHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.router.deps.Now = func() time.Time { return fixedNow }
	h.sim.AddUser(simulator.User{ID: 2, Username: "alice", Name: "Alice"}, "")
	h.sim.SetMember(7, 2, simulator.Maintainer)
	return h
}

func TestScheduleCreateChecksCronAndZoneBeforeGitLab(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"no cron", "schedule create group/app main", "needs a cron"},
		{"six fields", `schedule create group/app main cron:"0 0 2 * * *"`, "has 6 fields"},
		{"L in cron", `schedule create group/app main cron:"0 2 L * *"`, "`L`, `W`, `#`"},
		{"out of range", `schedule create group/app main cron:"0 25 * * *"`, "not a valid cron"},
		{"never fires", `schedule create group/app main cron:"0 0 30 2 *"`, "never fires"},
		{"unknown zone", `schedule create group/app main cron:"0 2 * * *" tz:Mars/Olympus`, "not a time zone I know"},
		{"bad active", `schedule create group/app main cron:"0 2 * * *" active:maybe`, "needs yes or no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newScheduleHarness(t)
			_, out := h.do(admin, c.text)
			if !strings.Contains(out, c.want) {
				t.Errorf("reply lacks %q: %s", c.want, out)
			}
			if m := h.mutations(); len(m) != 0 {
				t.Errorf("GitLab was called: %+v", m)
			}
		})
	}
}

func TestScheduleCreateAnswersTheNextThreeRunsInItsZone(t *testing.T) {
	h := newScheduleHarness(t)
	_, out := h.do(admin, `schedule create group/app main cron:"30 2 * * *" tz:"eastern time (us &amp; canada)" description:"nightly build"`)
	// 02:30 does not exist in New York on 2025-03-09; the next runs follow.
	for _, want := range []string{"Created schedule #1", "Eastern Time (US &amp; Canada)", "Mon 10 Mar 2025 02:30 EDT · Tue 11 Mar 2025 02:30 EDT · Wed 12 Mar 2025 02:30 EDT"} {
		if !strings.Contains(out, want) {
			t.Errorf("reply lacks %q: %s", want, out)
		}
	}
	s, ok := h.sim.Schedule(7, 1)
	if !ok || s.Cron != "30 2 * * *" || s.CronTimezone != "Eastern Time (US & Canada)" || s.Description != "nightly build" || s.Ref != "refs/heads/main" || !s.Active {
		t.Errorf("schedule in GitLab: %+v", s)
	}
	_, out = h.do(admin, `schedule create group/app nope cron:"0 2 * * *"`)
	if !strings.Contains(out, "GitLab says: ref is ambiguous") {
		t.Errorf("GitLab's refusal of the ref: %s", out)
	}
}

func TestScheduleListAndShowReportHealth(t *testing.T) {
	h := newScheduleHarness(t)
	h.sim.AddUser(simulator.User{ID: 3, Username: "blocky", State: "blocked"}, "")
	ok := h.sim.CreatePipeline(7, "main", "schedule", 1)
	h.sim.Finish(7, ok) // rspec fails in this project: a failed pipeline
	add := func(s simulator.Schedule) int64 {
		if s.Cron == "" {
			s.Cron = "0 2 * * *"
		}
		s.Ref = "main"
		id := h.sim.AddSchedule(7, s)
		if id == 0 {
			t.Fatalf("AddSchedule %+v", s)
		}
		return id
	}
	failed := add(simulator.Schedule{Description: "failing", Active: true, OwnerID: 1, LastPipelineID: ok, CronTimezone: "Asia/Tokyo"})
	never := add(simulator.Schedule{Description: "fresh", Active: true, OwnerID: 1})
	inactive := add(simulator.Schedule{Description: "paused", Active: false, OwnerID: 1})
	blocked := add(simulator.Schedule{Description: "orphan-blocked", Active: true, OwnerID: 3})
	gone := add(simulator.Schedule{Description: "orphan-gone", Active: true, OwnerID: 99})
	_, out := h.do(viewer, "schedule list group/app")
	lines := map[int64]string{}
	for _, id := range []int64{failed, never, inactive, blocked, gone} {
		start := strings.Index(out, fmt.Sprintf("*#%d ", id))
		if start < 0 {
			t.Fatalf("schedule %d missing from list: %s", id, out)
		}
		end := strings.Index(out[start+1:], "*#")
		if end < 0 {
			end = len(out) - start - 1
		}
		lines[id] = out[start : start+1+end]
	}
	checks := []struct {
		id   int64
		want []string
	}{
		{failed, []string{"last scheduled pipeline failed", "`0 2 * * *` Asia/Tokyo", "JST", "@pipebot"}},
		{never, []string{"never ran", "last pipeline: none"}},
		{inactive, []string{"inactive", "will not run"}},
		{blocked, []string{"owner blocked", "@blocky (blocked)"}},
		{gone, []string{"owner gone", "owner: gone"}},
	}
	for _, c := range checks {
		for _, w := range c.want {
			if !strings.Contains(lines[c.id], w) {
				t.Errorf("schedule %d lacks %q: %s", c.id, w, lines[c.id])
			}
		}
	}
	if strings.Contains(lines[failed], "healthy") || strings.Contains(lines[never], "failed") {
		t.Errorf("health lines mixed up: %v", lines)
	}
	_, out = h.do(viewer, fmt.Sprintf("schedule show group/app %d", failed))
	if !strings.Contains(out, "#1") || !strings.Contains(out, "Failed") && !strings.Contains(out, "failed") {
		t.Errorf("show: %s", out)
	}
	if _, out := h.do(viewer, "schedule show group/app 999"); !strings.Contains(out, "can't find schedule #999") {
		t.Errorf("missing schedule: %s", out)
	}
}

func TestScheduleNextRunIsShownInTheSchedulesZone(t *testing.T) {
	h := newScheduleHarness(t)
	h.sim.AddSchedule(7, simulator.Schedule{Description: "d", Ref: "main", Cron: "0 9 * * *", CronTimezone: "Tokyo", Active: true, OwnerID: 1})
	_, out := h.do(viewer, "schedule show group/app 1")
	if !strings.Contains(out, "09:00 JST") {
		t.Errorf("next_run_at should read 09:00 in Tokyo: %s", out)
	}
}

func TestScheduleRunEndsInAWatchedPipeline(t *testing.T) {
	h := newScheduleHarness(t)
	id := h.sim.AddSchedule(7, simulator.Schedule{Description: "nightly", Ref: "release/1.2", Cron: "0 2 * * *", Active: true, OwnerID: 1})
	older := h.sim.CreatePipeline(7, "release/1.2", "schedule", 1) // an earlier scheduled run
	h.sim.Finish(7, older)
	h.sim.CreatePipeline(7, "main", "push", 1) // noise on another ref
	_, out := h.do(operator, fmt.Sprintf("schedule run group/app %d", id))
	if !strings.Contains(out, "Schedule #1 started pipeline") {
		t.Fatalf("run: %s", out)
	}
	ids := h.sim.PipelineIDs(7)
	newest := ids[len(ids)-1]
	p, _ := h.sim.Pipeline(7, newest)
	if p.Source != "schedule" || p.Ref != "release/1.2" {
		t.Fatalf("played pipeline: %+v", p)
	}
	ws, _ := h.store.Watches()
	if len(ws) != 1 || ws[0].PipelineID != newest || ws[0].Requester != operator || ws[0].MessageTS == "" {
		t.Fatalf("watch: %+v (want pipeline %d)", ws, newest)
	}
	if n := len(h.fake.CallsOf("chat.postMessage")); n != 1 {
		t.Errorf("cards posted: %d", n)
	}
	if _, out := h.do(viewer, fmt.Sprintf("schedule run group/app %d", id)); !strings.Contains(out, "needs the operator role") {
		t.Errorf("viewer ran a schedule: %s", out)
	}
}

func TestScheduleRunWithoutAPipelineExplainsWhy(t *testing.T) {
	h := newScheduleHarness(t)
	var waits []time.Duration
	h.router.deps.Sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }
	id := h.sim.AddSchedule(7, simulator.Schedule{Description: "n", Ref: "main", Cron: "0 2 * * *", Active: true, OwnerID: 1,
		Variables: []simulator.Variable{{Key: "ZONE", Value: "x", VariableType: "env_var"}}})
	h.sim.SetPipelineVariablesMinimumOverrideRole(7, simulator.OverrideNoOneAllowed)
	_, out := h.do(operator, fmt.Sprintf("schedule run group/app %d", id))
	if !strings.Contains(out, "no pipeline appeared") || !strings.Contains(out, "Minimum role to use pipeline variables") {
		t.Errorf("reply: %s", out)
	}
	if len(waits) != len(playPollWaits) {
		t.Errorf("polled %d times, want a bounded %d", len(waits), len(playPollWaits))
	}
	if n := h.sim.CountRequests("POST", "/api/v4/projects/group%2Fapp/pipeline_schedules/1/play"); n != 1 {
		t.Errorf("played %d times", n)
	}
	if ws, _ := h.store.Watches(); len(ws) != 0 {
		t.Errorf("watch without a pipeline: %+v", ws)
	}
}

func TestScheduleOwnershipGatesUpdatesAndVariables(t *testing.T) {
	h := newScheduleHarness(t)
	id := h.sim.AddSchedule(7, simulator.Schedule{Description: "alice's", Ref: "main", Cron: "0 2 * * *", Active: true, OwnerID: 2})
	_, out := h.do(admin, fmt.Sprintf(`schedule update group/app %d cron:"0 3 * * *"`, id))
	if !strings.Contains(out, "only a schedule's owner may change it") || !strings.Contains(out, "/ci schedule own group/app 1") {
		t.Fatalf("update of someone else's schedule: %s", out)
	}
	if _, out := h.do(operator, fmt.Sprintf("schedule own group/app %d", id)); !strings.Contains(out, "needs the admin role") {
		t.Errorf("operator took ownership: %s", out)
	}
	if _, out := h.do(admin, fmt.Sprintf("schedule own group/app %d", id)); !strings.Contains(out, "@pipebot now owns schedule #1") {
		t.Fatalf("own: %s", out)
	}
	_, out = h.do(admin, fmt.Sprintf(`schedule update group/app %d cron:"0 3 * * *" tz:London active:no`, id))
	if !strings.Contains(out, "Updated schedule #1") || !strings.Contains(out, "Next runs: Sun 9 Mar 2025 03:00 GMT") {
		t.Errorf("update: %s", out)
	}
	if s, _ := h.sim.Schedule(7, id); s.Cron != "0 3 * * *" || s.CronTimezone != "London" || s.Active {
		t.Errorf("schedule after update: %+v", s)
	}
	// A bad time zone on update is caught before the PUT.
	before := len(h.mutations())
	if _, out := h.do(admin, fmt.Sprintf("schedule update group/app %d tz:Nowhere/Land", id)); !strings.Contains(out, "not a time zone I know") {
		t.Errorf("bad tz: %s", out)
	}
	if len(h.mutations()) != before {
		t.Error("a bad time zone reached GitLab")
	}
	if _, out := h.do(admin, fmt.Sprintf("schedule update group/app %d", id)); !strings.Contains(out, "Say what to change") {
		t.Errorf("empty update: %s", out)
	}
}

func TestScheduleDeleteAsksFirst(t *testing.T) {
	h := newScheduleHarness(t)
	id := h.sim.AddSchedule(7, simulator.Schedule{Description: "d", Ref: "main", Cron: "0 2 * * *", Active: true, OwnerID: 1})
	_, out := h.do(admin, fmt.Sprintf("schedule delete group/app %d", id))
	if !strings.Contains(out, "Delete schedule #1 of group/app?") || len(h.mutations()) != 0 {
		t.Fatalf("no confirmation: %s", out)
	}
	if _, out := h.do(admin, fmt.Sprintf("schedule delete group/app %d confirm:yes", id)); !strings.Contains(out, "Deleted schedule #1") {
		t.Fatalf("delete: %s", out)
	}
	if _, ok := h.sim.Schedule(7, id); ok {
		t.Error("schedule still exists")
	}
}

func TestScheduleVariablesNeverLeak(t *testing.T) {
	const sentinel = "SENTINEL-sched-7f3a9c"
	const sentinel2 = "SENTINEL-sched-b41e02"
	h := newScheduleHarness(t)
	var logs bytes.Buffer
	h.router.log = zerolog.New(&logs).Level(zerolog.DebugLevel)
	id := h.sim.AddSchedule(7, simulator.Schedule{Description: "n", Ref: "main", Cron: "0 2 * * *", Active: true, OwnerID: 1})
	steps := []struct{ text, want string }{
		{fmt.Sprintf("schedule var set group/app %d DEPLOY_KEY=%s", id, sentinel), "`DEPLOY_KEY` (created)"},
		{fmt.Sprintf("schedule var set group/app %d DEPLOY_KEY=%s", id, sentinel2), "`DEPLOY_KEY` (updated)"},
		{fmt.Sprintf("schedule show group/app %d", id), "Variables (values are not shown): `DEPLOY_KEY`"},
		{"schedule list group/app", "#1"},
		{fmt.Sprintf("schedule run group/app %d", id), "started pipeline"},
		{fmt.Sprintf("schedule var set group/app 999 OTHER=%s", sentinel), "can't find schedule #999"},
	}
	for _, s := range steps {
		if _, out := h.do(admin, s.text); !strings.Contains(out, s.want) {
			t.Fatalf("%q: reply lacks %q: %s", s.text, s.want, out)
		}
	}
	if v, _ := h.sim.Schedule(7, id); len(v.Variables) != 1 || v.Variables[0].Value != sentinel2 {
		t.Fatalf("GitLab did not get the value: %+v", v.Variables)
	}
	// The refusal by the project's minimum role is one sentence, without the value.
	h.sim.SetPipelineVariablesMinimumOverrideRole(7, simulator.OverrideOwner)
	_, out := h.do(admin, fmt.Sprintf("schedule var set group/app %d DEPLOY_KEY=%s", id, sentinel))
	if !strings.Contains(out, "do not allow pipeline variables for the role of pipebot's GitLab user") {
		t.Errorf("override-role refusal: %s", out)
	}
	if _, out := h.do(admin, fmt.Sprintf("schedule var delete group/app %d DEPLOY_KEY", id)); !strings.Contains(out, "Deleted variable `DEPLOY_KEY`") {
		t.Errorf("var delete: %s", out)
	}
	if _, out := h.do(admin, fmt.Sprintf("schedule var delete group/app %d DEPLOY_KEY", id)); !strings.Contains(out, "has no variable `DEPLOY_KEY`") {
		t.Errorf("second var delete: %s", out)
	}
	// Collect everything that left pipebot or stayed behind.
	var seen bytes.Buffer
	for _, c := range h.fake.Calls() {
		fmt.Fprintf(&seen, "%s %s %s\n", c.Method, c.Text, c.Blocks)
	}
	entries, _ := h.store.Audit(100)
	for _, e := range entries {
		fmt.Fprintf(&seen, "%+v\n", e)
	}
	seen.Write(logs.Bytes())
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	// The harness's bbolt file lives in one of this test's temp dirs.
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(t.TempDir()), "*", "*"))
	if len(matches) == 0 {
		t.Fatal("found no database file to scan")
	}
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		seen.Write(b)
	}
	for _, s := range []string{sentinel, sentinel2} {
		if bytes.Contains(seen.Bytes(), []byte(s)) {
			t.Errorf("secret %s leaked into Slack, the audit log, the logs or the database", s)
		}
	}
	if !strings.Contains(seen.String(), "DEPLOY_KEY=…") {
		t.Error("the audit log should name the key")
	}
}
