package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func sampleUnfurl(ts string, pipelineID int64) state.Unfurl {
	return state.Unfurl{Channel: "C1", TS: ts, URL: fmt.Sprintf("https://gitlab.example.com/g/app/-/pipelines/%d", pipelineID),
		ProjectID: 7, Project: "g/app", PipelineID: pipelineID, LastStatus: "running"}
}

func testUnfurlsSurviveReopenAndDelete(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	u := sampleUnfurl("1700000000.000100", 42)
	if err := s.PutUnfurl(u); err != nil {
		t.Fatalf("PutUnfurl: %v", err)
	}
	created := clock.Now()
	clock.Advance(time.Minute)
	u.LastStatus = "success"
	if err := s.PutUnfurl(u); err != nil {
		t.Fatalf("PutUnfurl replace: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = db.Reopen(t)
	got, err := s.Unfurls()
	if err != nil || len(got) != 1 {
		t.Fatalf("Unfurls after reopen = %+v, %v; want one", got, err)
	}
	if got[0].LastStatus != "success" || !got[0].CreatedAt.Equal(created) || !got[0].UpdatedAt.Equal(clock.Now()) || got[0].URL != u.URL {
		t.Errorf("after replace and reopen: %+v", got[0])
	}
	if err := s.DeleteUnfurl(u.Key()); err != nil {
		t.Fatalf("DeleteUnfurl: %v", err)
	}
	if got, _ := s.Unfurls(); len(got) != 0 {
		t.Errorf("Unfurls after delete = %+v", got)
	}
	if err := s.DeleteUnfurl(u.Key()); err != nil {
		t.Errorf("DeleteUnfurl of a missing unfurl: %v", err)
	}
}

func testPutUnfurlRefusesIncompleteRecords(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	cases := map[string]state.Unfurl{
		"no ts":        {Channel: "C1", URL: "https://x/-/pipelines/1", ProjectID: 7, PipelineID: 1},
		"no url":       {Channel: "C1", TS: "1.2", ProjectID: 7, PipelineID: 1},
		"no pipeline":  {Channel: "C1", TS: "1.2", URL: "https://x/-/pipelines/1", ProjectID: 7},
		"separator in": {Channel: "C1", TS: "1.2", URL: "https://x/\x00", ProjectID: 7, PipelineID: 1},
	}
	for name, u := range cases {
		if err := s.PutUnfurl(u); !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("%s: PutUnfurl = %v, want state.ErrInvalidKey", name, err)
		}
	}
	if got, _ := s.Unfurls(); len(got) != 0 {
		t.Errorf("refused records were stored: %+v", got)
	}
}

func testPutUnfurlEvictsTheOldestBeyondTheBound(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	for i := 0; i < state.MaxUnfurls; i++ {
		if err := s.PutUnfurl(sampleUnfurl(fmt.Sprintf("1700000000.%06d", i), int64(i+1))); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	// Replacing a record does not evict anything.
	if err := s.PutUnfurl(sampleUnfurl("1700000000.000000", 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Unfurls(); len(got) != state.MaxUnfurls {
		t.Fatalf("after a replace: %d unfurls, want %d", len(got), state.MaxUnfurls)
	}
	if err := s.PutUnfurl(sampleUnfurl("1800000000.000000", 5000)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Unfurls()
	if len(got) != state.MaxUnfurls {
		t.Fatalf("%d unfurls, want the bound %d", len(got), state.MaxUnfurls)
	}
	for _, u := range got {
		if u.PipelineID == 1 {
			t.Errorf("the oldest unfurl was kept: %+v", u)
		}
	}
	if got[len(got)-1].PipelineID != 5000 {
		t.Errorf("the newest unfurl is missing; last is %+v", got[len(got)-1])
	}
}
