package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/insights"
)

func TestDigestCreateListDelete(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 20)
	r, out := h.do(operator, `digest group/shop cron:"0 9 * * 7" tz:"pacific time (us & canada)" ref:main days:30`)
	if !r.InChannel || !strings.Contains(out, "set CI digest #1") || !strings.Contains(out, "next Sun") {
		t.Fatalf("create: %s", out)
	}
	ds, _ := h.store.ChannelDigests(chanID)
	if len(ds) != 1 {
		t.Fatalf("digests %+v", ds)
	}
	d := ds[0]
	if d.Project != "group/shop" || d.Spec != "0 9 * * 0" || d.Cron != "0 9 * * 7" || d.Location != "America/Los_Angeles" ||
		d.TZ != "Pacific Time (US & Canada)" || d.Ref != "main" || d.Days != 30 || d.Creator != operator {
		t.Errorf("stored %+v", d)
	}
	if _, out := h.do(viewer, "digests"); !strings.Contains(out, "#1") || !strings.Contains(out, "PDT") && !strings.Contains(out, "PST") {
		t.Errorf("digests: %s", out)
	}
	if _, out := h.do(viewer, "digest delete 1"); !strings.Contains(out, "needs the operator role") {
		t.Errorf("a viewer deleted a digest: %s", out)
	}
	if r, out := h.do(operator, "digest delete 1"); !r.InChannel || !strings.Contains(out, "deleted CI digest #1") {
		t.Errorf("delete: %s", out)
	}
	if _, out := h.do(operator, "digest delete 1"); !strings.Contains(out, "no CI digest #1") {
		t.Errorf("delete again: %s", out)
	}
	if _, out := h.do(viewer, "digests"); !strings.Contains(out, "no CI digests") {
		t.Errorf("digests after delete: %s", out)
	}
}

func TestDigestRefusesBadInputAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 0)
	for text, want := range map[string]string{
		`digest group/shop`:                                  "Give a cron",
		`digest group/shop cron:"0 9 * *"`:                   "has 4 fields",
		`digest group/shop cron:"TZ=Europe/Paris 0 2 * * *"`: "as `tz:`",
		`digest group/shop cron:"0 9 L * *"`:                 "cannot check `L`",
		`digest group/shop cron:"0 0 30 2 *"`:                "never fires",
		`digest group/shop cron:"0 9 * * 1" tz:Mars/Base`:    "not a time zone I know",
		`digest group/shop cron:"0 9 * * 1" days:120`:        "at most 90 days",
		`digest group/nope cron:"0 9 * * 1"`:                 "I cannot set a digest for `group/nope`",
		`digest delete abc`:                                  "not a digest id",
	} {
		if _, out := h.do(operator, text); !strings.Contains(out, want) {
			t.Errorf("%s: %s", text, out)
		}
	}
	if _, out := h.do(viewer, `digest group/shop cron:"0 9 * * 1"`); !strings.Contains(out, "needs the operator role") {
		t.Errorf("viewer: %s", out)
	}
	if ds, _ := h.store.ChannelDigests(chanID); len(ds) != 0 {
		t.Errorf("bad input stored %+v", ds)
	}
	h.fake.NotInChannel(chanID)
	if _, out := h.do(operator, `digest group/shop cron:"0 9 * * 1"`); !strings.Contains(out, "/invite @pipebot") {
		t.Errorf("not in channel: %s", out)
	}
}

func TestADigestIsPostedWithItsChartByTheRunner(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 40)
	if _, out := h.do(operator, `digest group/shop cron:"*/5 * * * *"`); !strings.Contains(out, "#1") {
		t.Fatal(out)
	}
	ds, _ := h.store.ChannelDigests(chanID)
	slot, err := insights.NextSlot(ds[0], ds[0].CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	run := insights.NewRunner(insights.RunnerConfig{Store: h.store, Post: h.router.PostDigest, Logger: zerolog.Nop()})
	if err := run.Tick(context.Background(), slot.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := run.Tick(context.Background(), slot.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs := channelMessages(h, "")
	var digests int
	for _, m := range msgs {
		if strings.Contains(string(m.Blocks), "CI digest #1") {
			digests++
			if !strings.Contains(string(m.Blocks), "last 7 days") {
				t.Errorf("digest over other than 7 days: %s", m.Blocks)
			}
		}
	}
	if digests != 1 {
		t.Errorf("%d digest messages, want 1", digests)
	}
	if files := h.fake.Files(); len(files) != 1 || files[0].Channel != chanID {
		t.Errorf("chart %+v", files)
	}

	// The same slot again (a post cut short by a crash, then retried): the
	// stamped message is found and nothing is posted twice.
	if err := h.router.PostDigest(context.Background(), ds[0], slot); err != nil {
		t.Fatal(err)
	}
	if n := countDigests(h); n != 1 {
		t.Errorf("%d digest messages after a repeated post of one slot, want 1", n)
	}

	// GitLab down at the next slot: nothing is posted, the slot is tried
	// again, and posted once GitLab is back within the hour.
	h.sim.FailNext(1000, 503, 0)
	next := slot.Add(5 * time.Minute)
	if err := run.Tick(context.Background(), next.Add(time.Second)); err == nil {
		t.Error("a digest built while GitLab is down reported no error")
	}
	if n := countDigests(h); n != 1 {
		t.Errorf("%d digest messages while GitLab is down, want still 1", n)
	}
	h.sim.FailNext(0, 0, 0)
	if err := run.Tick(context.Background(), next.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := countDigests(h); n != 2 {
		t.Errorf("%d digest messages once GitLab is back, want 2", n)
	}
}

func TestADigestGitLabRefusesForAnHourIsGivenUpWithOneLine(t *testing.T) {
	h := newHarness(t)
	withInsights(t, h, 10)
	if _, out := h.do(operator, `digest group/shop cron:"0 9 * * 1"`); !strings.Contains(out, "#1") {
		t.Fatal(out)
	}
	ds, _ := h.store.ChannelDigests(chanID)
	slot, _ := insights.NextSlot(ds[0], ds[0].CreatedAt)
	run := insights.NewRunner(insights.RunnerConfig{Store: h.store, Post: h.router.PostDigest, GiveUp: h.router.DigestGivenUp, Logger: zerolog.Nop()})
	h.sim.FailNext(100000, 503, 0)
	for at := slot; !at.After(slot.Add(70 * time.Minute)); at = at.Add(10 * time.Minute) {
		_ = run.Tick(context.Background(), at)
	}
	var warned int
	for _, m := range channelMessages(h, "") {
		if strings.Contains(m.Text, "CI digest #1 for `group/shop`") && strings.Contains(m.Text, "could not be posted") &&
			strings.Contains(m.Text, "GitLab is unreachable") {
			warned++
		}
	}
	if warned != 1 || countDigests(h) != 0 {
		t.Errorf("%d warnings and %d digests, want one warning and no digest:\n%+v", warned, countDigests(h), channelMessages(h, ""))
	}
}

// countDigests counts the digest reports posted in the harness's channel.
func countDigests(h *harness) int {
	n := 0
	for _, m := range channelMessages(h, "") {
		if strings.Contains(string(m.Blocks), "CI digest #1") && !strings.Contains(m.Text, "could not be posted") {
			n++
		}
	}
	return n
}
