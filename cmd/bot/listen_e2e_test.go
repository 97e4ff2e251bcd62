package main

import (
	"bytes"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// DESIGN §1: a setting serve cannot use stops it at start with one line
// naming the variable. A listen address another program holds is
// PIPEBOT_LISTEN_ADDR's, said before any other work starts.
func TestAListenAddressInUseStopsServeNamingPIPEBOT_LISTEN_ADDR(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process")
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-listen")
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{})
	defer fake.Close()

	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "PIPEBOT_TEST_CHILD=1",
		"SLACK_BOT_TOKEN="+fake.BotToken(), "SLACK_SIGNING_SECRET="+e2eSecret, "SLACK_API_URL="+fake.APIURL(),
		"GITLAB_URL="+gl.URL, "GITLAB_TOKEN=glpat-listen", "PIPEBOT_DB_PATH="+filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_LOG_LEVEL=warn", "PIPEBOT_LISTEN_ADDR="+held.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("serve ran on an address in use")
	}
	out := strings.TrimSpace(stderr.String())
	if !strings.HasPrefix(out, "pipebot: PIPEBOT_LISTEN_ADDR: ") || !strings.Contains(out, "address already in use") || strings.Contains(out, "\n") {
		t.Errorf("serve said %q; want one line naming PIPEBOT_LISTEN_ADDR and saying the address is in use", out)
	}
}
