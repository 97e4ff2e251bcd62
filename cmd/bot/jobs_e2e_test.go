package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func TestJobArtifactsAndLogEndToEnd(t *testing.T) {
	e := newE2E(t)
	const proj = int64(43)
	e.sim.AddProject(simulator.Project{ID: proj, Path: "team/pkg",
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer},
		Jobs: []simulator.JobSpec{
			{Name: "pack", Stage: "build", Artifacts: true, ArtifactBytes: 1 << 20},
			{Name: "check", Stage: "test", Fail: true, LogBytes: 256 << 10},
		}})
	id := e.sim.CreatePipeline(proj, "main", "push", 1)
	e.sim.Finish(proj, id)
	info, _ := e.sim.Pipeline(proj, id)
	pack, check := info.Jobs[0].ID, info.Jobs[1].ID

	mustContain(t, "jobs", e.command(e2eViewer, fmt.Sprintf("jobs team/pkg pipeline:%d", id)), "`pack`", "`check`", "script failure")
	mustContain(t, "log", e.command(e2eViewer, fmt.Sprintf("log team/pkg %d lines:3", check)), "ERROR: Job failed: exit code 1", "last 3 lines")
	mustContain(t, "artifacts", e.command(e2eViewer, fmt.Sprintf("job artifacts team/pkg %d", pack)), "Uploaded the artifacts")
	files := e.fake.Files()
	if len(files) != 1 || files[0].Channel != e2eChannel || files[0].Size < 1<<20 {
		t.Fatalf("files = %+v", files)
	}
}

func TestStartRemovesSpoolLeftoversOfACrash(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "pipebot-spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(spool, "upload-1234")
	if err := os.WriteFile(leftover, []byte(strings.Repeat("x", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	cfg := Config{DBPath: filepath.Join(dir, "pipebot.db"), PollInterval: time.Second, DefaultRole: "viewer"}
	a, err := wire(wiring{cfg: cfg, log: zerolog.Nop(), slackAPI: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())),
		gitlabURL: "http://127.0.0.1:1", gitlabToken: "x"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.store.Close() })
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover still there after start: %v", err)
	}
}
