package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// bbolt stays one process's: a second serve on the same file stops at once,
// saying so in one line.
func TestASecondServeOnTheSameBboltFileStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-lock")
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{})
	defer fake.Close()
	env := []string{
		"SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_SIGNING_SECRET=" + e2eSecret, "SLACK_API_URL=" + fake.APIURL(),
		"GITLAB_URL=" + gl.URL, "GITLAB_TOKEN=glpat-lock", "PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_LOG_LEVEL=error",
	}
	first := &child{t: t, addr: freeAddr(t), env: env}
	defer first.kill9()
	first.start()

	second := exec.Command(os.Args[0], "serve")
	second.Env = append(os.Environ(), append(env, "PIPEBOT_TEST_CHILD=1", "PIPEBOT_LISTEN_ADDR="+freeAddr(t))...)
	var stderr bytes.Buffer
	second.Stderr = &stderr
	start := time.Now()
	err := second.Run()
	took := time.Since(start)
	if err == nil {
		t.Fatal("a second serve on the same bbolt file ran")
	}
	out := strings.TrimSpace(stderr.String())
	if !strings.Contains(out, "is another pipebot running?") || strings.Contains(out, "\n") {
		t.Errorf("second serve said %q; want one line asking whether another pipebot runs", out)
	}
	if took > 5*time.Second {
		t.Errorf("the second serve took %s to give up", took)
	}
}
