package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func insightPipeline(project, id int64, created time.Time) state.InsightPipeline {
	start, end := created.Add(time.Minute), created.Add(3*time.Minute)
	return state.InsightPipeline{ProjectID: project, ID: id, Status: "success", Ref: "main", SHA: "abc",
		CreatedAt: created, UpdatedAt: end,
		Jobs: []state.InsightJob{{ID: id * 10, Name: "test", Status: "success", DurationMS: 120000, StartedAt: &start, FinishedAt: &end}}}
}

func testInsightPipelinesAreReadPerProjectAndSince(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	now := clock.Now()
	// Big-endian ids: project 256's key must not fall under project 1's
	// prefix.
	err := s.PutInsightPipelines([]state.InsightPipeline{
		insightPipeline(1, 10, now.Add(-48*time.Hour)),
		insightPipeline(1, 11, now.Add(-time.Hour)),
		insightPipeline(256, 12, now.Add(-time.Hour)),
		insightPipeline(2, 13, now.Add(-time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.InsightPipelines(1, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != 11 || len(got[0].Jobs) != 1 || got[0].Jobs[0].DurationMS != 120000 {
		t.Fatalf("project 1 since a day ago: %+v", got)
	}
	want := insightPipeline(1, 11, now.Add(-time.Hour))
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
	all, _ := s.InsightPipelines(1, time.Time{})
	if len(all) != 2 {
		t.Errorf("project 1 has %d pipelines, want 2", len(all))
	}
	if err := s.DeleteInsightPipelines(1, []int64{11}); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.InsightPipelines(1, time.Time{}); len(all) != 1 || all[0].ID != 10 {
		t.Errorf("after delete: %+v", all)
	}
	if other, _ := s.InsightPipelines(256, time.Time{}); len(other) != 1 || other[0].ID != 12 {
		t.Errorf("project 256: %+v", other)
	}
}

func testInsightSyncIsPerFilter(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	now := clock.Now()
	all := state.InsightSync{ProjectID: 1, From: now.Add(-28 * 24 * time.Hour), Cursor: now, UsedAt: now}
	main := state.InsightSync{ProjectID: 1, Ref: "main", From: now.Add(-7 * 24 * time.Hour), Cursor: now.Add(-time.Hour), UsedAt: now}
	for _, v := range []state.InsightSync{all, main} {
		if err := s.PutInsightSync(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []state.InsightSync{all, main} {
		got, found, err := s.InsightSync(1, want.Ref, want.Source)
		if err != nil || !found || !reflect.DeepEqual(got, want) {
			t.Errorf("sync %q: %+v %v %v, want %+v", want.Ref, got, found, err, want)
		}
	}
	if _, found, _ := s.InsightSync(1, "", "push"); found {
		t.Error("a sync for source push that was never stored")
	}
}

func testPruneInsightsBoundsDaysAndProjects(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	now := clock.Now()
	var ps []state.InsightPipeline
	for project := int64(1); project <= 3; project++ {
		ps = append(ps, insightPipeline(project, project*100+1, now.Add(-200*24*time.Hour)),
			insightPipeline(project, project*100+2, now.Add(-time.Hour)))
		if err := s.PutInsightSync(state.InsightSync{ProjectID: project, From: now.Add(-300 * 24 * time.Hour), Cursor: now,
			UsedAt: now.Add(time.Duration(project) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutInsightPipelines(ps); err != nil {
		t.Fatal(err)
	}
	cut := now.Add(-180 * 24 * time.Hour)
	removed, err := s.PruneInsights(cut, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Project 1 was used least recently: all of it goes; the others lose
	// their old pipeline.
	if removed != 4 {
		t.Errorf("removed %d, want 4", removed)
	}
	if p, _ := s.InsightPipelines(1, time.Time{}); len(p) != 0 {
		t.Errorf("evicted project keeps %d pipelines", len(p))
	}
	if _, found, _ := s.InsightSync(1, "", ""); found {
		t.Error("evicted project keeps its sync")
	}
	for _, project := range []int64{2, 3} {
		p, _ := s.InsightPipelines(project, time.Time{})
		if len(p) != 1 || p[0].ID != project*100+2 {
			t.Errorf("project %d after prune: %+v", project, p)
		}
		v, _, _ := s.InsightSync(project, "", "")
		if !v.From.Equal(cut) {
			t.Errorf("project %d sync from %v, want moved up to %v", project, v.From, cut)
		}
	}
}

func testDigestsAddListDeleteAndClaimOncePerSlotAcrossReopen(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	d, err := s.AddDigest(state.Digest{Channel: "C1", Project: "g/app", Cron: "0 9 * * 1", Spec: "0 9 * * 1", TZ: "UTC", Location: "UTC", Days: 7, Creator: "U1"})
	if err != nil || d.ID != 1 || !d.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("add: %+v %v", d, err)
	}
	other, _ := s.AddDigest(state.Digest{Channel: "C2", Project: "g/app", Spec: "0 9 * * *", Days: 7})
	if other.ID != 2 {
		t.Fatalf("second digest id %d", other.ID)
	}
	if _, err := s.AddDigest(state.Digest{Channel: "C1"}); err == nil {
		t.Error("a digest without project and cron was stored")
	}
	list, _ := s.ChannelDigests("C1")
	if len(list) != 1 || list[0].ID != 1 {
		t.Fatalf("C1 digests: %+v", list)
	}
	if _, found, _ := s.DeleteDigest("C1", 2); found {
		t.Error("C1 deleted C2's digest")
	}
	slot := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	if _, claimed, err := s.ClaimDigestSlot(1, slot); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	if _, claimed, _ := s.ClaimDigestSlot(1, slot); claimed {
		t.Error("the same slot was claimed twice")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = db.Reopen(t)
	if _, claimed, _ := s.ClaimDigestSlot(1, slot); claimed {
		t.Error("the slot was claimed again after a reopen")
	}
	if _, claimed, _ := s.ClaimDigestSlot(1, slot.Add(-time.Hour)); claimed {
		t.Error("an earlier slot was claimed after a later one")
	}
	if d, claimed, _ := s.ClaimDigestSlot(1, slot.Add(7*24*time.Hour)); !claimed || !d.LastSlot.Equal(slot.Add(7*24*time.Hour)) {
		t.Errorf("next week's slot: %v %+v", claimed, d)
	}
	// A claimed slot stays pending until it is finished, across a reopen.
	next := slot.Add(7 * 24 * time.Hour)
	if list, _ := s.ChannelDigests("C1"); len(list) != 1 || !list[0].Pending() {
		t.Fatalf("claimed, unfinished slot not pending: %+v", list)
	}
	if err := s.FinishDigestSlot(1, next); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDigestSlot(1, slot); err != nil { // an older finish keeps the newer one
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = db.Reopen(t)
	if list, _ := s.ChannelDigests("C1"); len(list) != 1 || list[0].Pending() || !list[0].DoneSlot.Equal(next) {
		t.Fatalf("finished slot: %+v", list)
	}
	if _, found, _ := s.DeleteDigest("C1", 1); !found {
		t.Error("delete")
	}
	if _, claimed, _ := s.ClaimDigestSlot(1, slot.Add(14*24*time.Hour)); claimed {
		t.Error("a deleted digest claimed a slot")
	}
	if err := s.FinishDigestSlot(1, slot.Add(14*24*time.Hour)); err != nil {
		t.Errorf("finishing a deleted digest's slot: %v", err)
	}
}
