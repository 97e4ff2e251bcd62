package insights_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/state"
)

type posted struct {
	digest int64
	slot   time.Time
}

type digestRig struct {
	t     *testing.T
	path  string
	clock *clock
	store *state.Store
	posts []posted
	logs  strings.Builder
	// fail, when set, makes Post fail for the slots it returns an error
	// for; giveUps records GiveUp calls.
	fail    func(slot time.Time) error
	tries   int
	giveUps []posted
	run     *insights.Runner // one per process: dropped by restart
}

func newDigestRig(t *testing.T, start time.Time) *digestRig {
	r := &digestRig{t: t, path: filepath.Join(t.TempDir(), "pipebot.db"), clock: &clock{t: start}}
	r.open()
	return r
}

func (r *digestRig) open() {
	s, err := state.Open(r.path, state.Options{Now: r.clock.Now})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = s
	r.t.Cleanup(func() { _ = s.Close() })
}

// restart closes the store and opens it again, as a new process would.
func (r *digestRig) restart() {
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.run = nil
	r.open()
}

// tick runs one round of the process's Runner (a new one after a restart:
// nothing survives in memory) and fails the test on an error other than a
// post made to fail.
func (r *digestRig) tick(at time.Time) {
	r.t.Helper()
	if r.run == nil {
		r.run = insights.NewRunner(insights.RunnerConfig{
			Store: r.store, Logger: zerolog.New(&r.logs),
			Post: func(_ context.Context, d state.Digest, slot time.Time) error {
				r.tries++
				if r.fail != nil {
					if err := r.fail(slot); err != nil {
						return err
					}
				}
				r.posts = append(r.posts, posted{d.ID, slot})
				return nil
			},
			GiveUp: func(_ context.Context, d state.Digest, slot time.Time, err error) error {
				if err == nil {
					r.t.Error("GiveUp without the last error")
				}
				r.giveUps = append(r.giveUps, posted{d.ID, slot})
				return nil
			},
		})
	}
	if err := r.run.Tick(context.Background(), at); err != nil && !errors.Is(err, errPostFailed) {
		r.t.Fatal(err)
	}
}

var errPostFailed = errors.New("slack is down")

func (r *digestRig) add(spec, loc string) state.Digest {
	d, err := r.store.AddDigest(state.Digest{Channel: "C1", Project: "acme/shop", Cron: spec, Spec: spec, TZ: loc, Location: loc, Days: 7, Creator: "U1"})
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func TestADigestFiresOncePerSlotAcrossARestart(t *testing.T) {
	// Created Sunday; slots are Mondays 09:00 in Berlin (07:00 UTC in summer).
	r := newDigestRig(t, time.Date(2024, 6, 2, 12, 0, 0, 0, time.UTC))
	d := r.add("0 9 * * 1", "Europe/Berlin")
	slot := time.Date(2024, 6, 3, 7, 0, 0, 0, time.UTC)
	r.tick(slot.Add(-time.Second))
	if len(r.posts) != 0 {
		t.Fatalf("posted before the slot: %+v", r.posts)
	}
	r.tick(slot.Add(10 * time.Second))
	r.tick(slot.Add(40 * time.Second))
	if len(r.posts) != 1 || r.posts[0].digest != d.ID || !r.posts[0].slot.Equal(slot) {
		t.Fatalf("posts %+v, want one for %v", r.posts, slot)
	}
	r.restart()
	r.tick(slot.Add(2 * time.Minute))
	if len(r.posts) != 1 {
		t.Fatalf("the slot was posted again after a restart: %+v", r.posts)
	}
	next := slot.Add(7 * 24 * time.Hour)
	r.tick(next.Add(time.Second))
	if len(r.posts) != 2 || !r.posts[1].slot.Equal(next) {
		t.Errorf("next week's slot: %+v", r.posts)
	}
}

func TestAMissedSlotIsPostedAtStartWhenUnderAnHourLateElseSkipped(t *testing.T) {
	r := newDigestRig(t, time.Date(2024, 6, 2, 12, 0, 0, 0, time.UTC))
	d := r.add("0 9 * * 1", "UTC")
	slot := time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	// Down over the slot, back 59 minutes later: posted once.
	r.restart()
	r.tick(slot.Add(59 * time.Minute))
	r.tick(slot.Add(60 * time.Minute))
	if len(r.posts) != 1 {
		t.Fatalf("a slot 59 minutes late: posts %+v", r.posts)
	}
	// Down over the next slot, back after two hours: skipped, logged once.
	next := slot.Add(7 * 24 * time.Hour)
	r.restart()
	r.tick(next.Add(2 * time.Hour))
	r.tick(next.Add(2*time.Hour + time.Minute))
	if len(r.posts) != 1 {
		t.Errorf("a stale slot was posted: %+v", r.posts)
	}
	if n := strings.Count(r.logs.String(), "digest slot skipped"); n != 1 {
		t.Errorf("%d skip log lines, want 1:\n%s", n, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), `"digest":1`) || d.ID != 1 {
		t.Errorf("the skip line does not name the digest: %s", r.logs.String())
	}
	// The week after is posted as usual.
	r.tick(next.Add(7*24*time.Hour + time.Second))
	if len(r.posts) != 2 {
		t.Errorf("the slot after a skipped one: %+v", r.posts)
	}
}

func TestOnlyTheLatestMissedSlotIsPosted(t *testing.T) {
	r := newDigestRig(t, time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC))
	r.add("0 * * * *", "UTC") // hourly
	r.tick(time.Date(2024, 6, 3, 1, 0, 5, 0, time.UTC))
	r.restart()
	// Down from 01:00 to 05:20: slots 02:00…05:00 were missed.
	r.tick(time.Date(2024, 6, 3, 5, 20, 0, 0, time.UTC))
	if len(r.posts) != 2 || !r.posts[1].slot.Equal(time.Date(2024, 6, 3, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("posts %+v, want 01:00 and then only 05:00", r.posts)
	}
}

func TestARepeatedWallClockTimeIsOneSlot(t *testing.T) {
	// London falls back on 27 Oct 2024: 01:30 happens twice.
	r := newDigestRig(t, time.Date(2024, 10, 26, 12, 0, 0, 0, time.UTC))
	r.add("30 1 * * *", "Europe/London")
	for at := time.Date(2024, 10, 27, 0, 0, 0, 0, time.UTC); at.Before(time.Date(2024, 10, 27, 4, 0, 0, 0, time.UTC)); at = at.Add(10 * time.Minute) {
		r.tick(at)
	}
	if len(r.posts) != 1 {
		t.Errorf("posts on the fall-back day: %+v, want one", r.posts)
	}
}

func TestNextSlotIsInTheDigestsZone(t *testing.T) {
	d := state.Digest{ID: 1, Spec: "0 9 * * 1", Location: "America/New_York"}
	n, err := insights.NextSlot(d, time.Date(2024, 6, 3, 12, 0, 0, 0, time.UTC))
	if err != nil || !n.Equal(time.Date(2024, 6, 3, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("next slot %v %v, want Monday 09:00 New York (13:00 UTC)", n, err)
	}
	if _, err := insights.NextSlot(state.Digest{Spec: "0 9 * * 1", Location: "Mars/Base"}, time.Now()); err == nil {
		t.Error("an unknown zone was read")
	}
}

func TestAFailedPostIsTriedAgainAndPostedOnce(t *testing.T) {
	r := newDigestRig(t, time.Date(2024, 6, 2, 12, 0, 0, 0, time.UTC))
	r.add("0 9 * * 1", "UTC")
	slot := time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	r.fail = func(time.Time) error { return errPostFailed }
	r.tick(slot.Add(time.Second))
	r.tick(slot.Add(31 * time.Second))
	if len(r.posts) != 0 || r.tries != 2 {
		t.Fatalf("posts %+v after %d tries, want none after 2", r.posts, r.tries)
	}
	r.fail = nil // Slack (or GitLab) is back
	r.tick(slot.Add(time.Minute))
	r.tick(slot.Add(2 * time.Minute))
	r.restart()
	r.tick(slot.Add(3 * time.Minute))
	if len(r.posts) != 1 || !r.posts[0].slot.Equal(slot) || r.tries != 3 {
		t.Fatalf("posts %+v after %d tries, want the slot once after 3", r.posts, r.tries)
	}
	if len(r.giveUps) != 0 {
		t.Errorf("gave up on a posted slot: %+v", r.giveUps)
	}
}

func TestASlotWhosePostsFailForAnHourIsGivenUpOnceWithAWord(t *testing.T) {
	r := newDigestRig(t, time.Date(2024, 6, 2, 12, 0, 0, 0, time.UTC))
	d := r.add("0 9 * * 1", "UTC")
	slot := time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	r.fail = func(time.Time) error { return errPostFailed }
	for at := slot; at.Before(slot.Add(65 * time.Minute)); at = at.Add(5 * time.Minute) {
		r.tick(at)
	}
	if len(r.posts) != 0 || len(r.giveUps) != 1 || r.giveUps[0] != (posted{d.ID, slot}) {
		t.Fatalf("posts %+v, give-ups %+v, want one give-up of %v", r.posts, r.giveUps, slot)
	}
	tries := r.tries
	r.fail = nil
	r.tick(slot.Add(70 * time.Minute))
	r.restart()
	r.tick(slot.Add(75 * time.Minute))
	if r.tries != tries || len(r.giveUps) != 1 {
		t.Errorf("a given-up slot was tried again (%d tries, was %d) or given up twice: %+v", r.tries, tries, r.giveUps)
	}
	r.tick(slot.Add(7*24*time.Hour + time.Second))
	if len(r.posts) != 1 {
		t.Errorf("the next slot after a given-up one: %+v", r.posts)
	}
}

func TestASlotClaimedBeforeACrashIsPostedAfterARestartUnderAnHour(t *testing.T) {
	r := newDigestRig(t, time.Date(2024, 6, 2, 12, 0, 0, 0, time.UTC))
	d := r.add("0 9 * * 1", "UTC")
	slot := time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)
	// The process claimed the slot and died before its post finished.
	if _, claimed, err := r.store.ClaimDigestSlot(d.ID, slot); err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	r.restart()
	r.tick(slot.Add(10 * time.Minute))
	if len(r.posts) != 1 || !r.posts[0].slot.Equal(slot) {
		t.Fatalf("posts %+v, want the interrupted slot", r.posts)
	}
	// The same crash with the process back after two hours: skipped quietly.
	next := slot.Add(7 * 24 * time.Hour)
	if _, claimed, err := r.store.ClaimDigestSlot(d.ID, next); err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	r.restart()
	r.tick(next.Add(2 * time.Hour))
	r.tick(next.Add(2*time.Hour + time.Minute))
	if len(r.posts) != 1 || len(r.giveUps) != 0 {
		t.Errorf("posts %+v, give-ups %+v: a slot missed in downtime is skipped without a word", r.posts, r.giveUps)
	}
	if n := strings.Count(r.logs.String(), "digest slot skipped"); n != 1 {
		t.Errorf("%d skip log lines, want 1", n)
	}
}
