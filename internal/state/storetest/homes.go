package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testHomeRecordsOpenedUsersAndTheirPipelinesAcrossReopen(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	if _, found, err := s.Home("U1"); found || err != nil {
		t.Fatalf("Home of a stranger = found %v, %v", found, err)
	}
	if _, err := s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 7, Project: "g/app", PipelineID: 1, Ref: "main", Status: "created"}); err != nil {
		t.Fatal(err)
	}
	h, _, _ := s.Home("U1")
	if h.Opened() {
		t.Error("starting a pipeline counts as opening the Home tab")
	}
	clock.Advance(time.Minute)
	if _, err := s.MarkHomeOpened("U1", "D1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkHomeOpened("U1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = db.Reopen(t)
	h, found, err := s.Home("U1")
	if err != nil || !found || !h.Opened() || h.DMChannel != "D1" || !h.OpenedAt.Equal(clock.Now()) {
		t.Fatalf("Home after reopen = %+v, %v, %v", h, found, err)
	}
	if len(h.Pipelines) != 1 || h.Pipelines[0].Status != "created" || h.Pipelines[0].Ref != "main" {
		t.Errorf("pipelines after reopen: %+v", h.Pipelines)
	}
}

func testHomePipelinesNewestFirstBoundedAndRetriesMoveToTheFront(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	for id := int64(1); id <= state.MaxHomePipelines+3; id++ {
		if _, err := s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 7, PipelineID: id, Status: "running"}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 7, PipelineID: 10, Status: "pending"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Pipelines) != state.MaxHomePipelines {
		t.Fatalf("kept %d pipelines, want %d", len(h.Pipelines), state.MaxHomePipelines)
	}
	if h.Pipelines[0].PipelineID != 10 || h.Pipelines[0].Status != "pending" || h.Pipelines[1].PipelineID != state.MaxHomePipelines+3 {
		t.Errorf("order: first %+v, second %+v", h.Pipelines[0], h.Pipelines[1])
	}
	for _, p := range h.Pipelines {
		if p.PipelineID <= 3 {
			t.Errorf("oldest pipeline %d kept", p.PipelineID)
		}
	}
	seen := 0
	for _, p := range h.Pipelines {
		if p.PipelineID == 10 {
			seen++
		}
	}
	if seen != 1 {
		t.Errorf("retried pipeline listed %d times", seen)
	}
}

func testSetHomePipelineStatusChangesOnlyKnownPipelines(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	if _, err := s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 7, PipelineID: 5, Status: "running"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	tests := []struct {
		name        string
		user        string
		project, id int64
		status      string
		wantChanged bool
	}{
		{"new status of a known pipeline", "U1", 7, 5, "failed", true},
		{"same status again", "U1", 7, 5, "failed", false},
		{"pipeline of another project", "U1", 8, 5, "success", false},
		{"user with no record", "U2", 7, 5, "success", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, changed, err := s.SetHomePipelineStatus(tt.user, tt.project, tt.id, tt.status)
			if err != nil || changed != tt.wantChanged {
				t.Fatalf("changed = %v, %v; want %v", changed, err, tt.wantChanged)
			}
		})
	}
	h, _, _ := s.Home("U1")
	if h.Pipelines[0].Status != "failed" || !h.Pipelines[0].UpdatedAt.Equal(clock.Now()) {
		t.Errorf("pipeline after update: %+v", h.Pipelines[0])
	}
	if _, found, _ := s.Home("U2"); found {
		t.Error("a status for a user with no record created one")
	}
}

func testHomeRefusesBadKeys(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	if _, err := s.MarkHomeOpened("", "D1"); !errors.Is(err, state.ErrInvalidKey) {
		t.Errorf("empty user: %v", err)
	}
	if _, err := s.MarkHomeOpened("U\x00x", "D1"); !errors.Is(err, state.ErrInvalidKey) {
		t.Errorf("separator in user: %v", err)
	}
	if _, err := s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 0, PipelineID: 1}); !errors.Is(err, state.ErrInvalidKey) {
		t.Errorf("zero project id: %v", err)
	}
}
