package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state/pgtest"
)

// readyz returns /readyz's status.
func readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitStatus(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReplicasRideOutADatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	s := newReplicaSetOn(t, replicaOpts{n: 2, pollInterval: "100ms"}, dbURL)
	lead := s.leader(nil)
	for _, p := range s.rs {
		waitStatus(t, "ready", 10*time.Second, func() bool { return readyz(p.c.addr) == http.StatusOK })
	}

	proxy.Cut()
	for _, p := range s.rs {
		waitStatus(t, p.name+"'s /readyz to turn 503", 10*time.Second, func() bool { return readyz(p.c.addr) == http.StatusServiceUnavailable })
	}
	// The leader cannot renew: it stops leading, and no one else can lead.
	waitStatus(t, "the leader to step down", 5*time.Second, func() bool { return !lead.leading() })
	// A command that needs the database says so in one sentence, and the
	// acknowledgement does not wait for the database.
	start := time.Now()
	reply := s.command(s.rs[1], e2eAdmin, "role list")
	mustContain(t, "a command during the outage", reply, "database is unreachable right now")
	if strings.Contains(reply, "Something went wrong") || strings.Count(reply, ".") > 3 {
		t.Errorf("not one clear sentence: %s", reply)
	}
	t.Logf("answered during the outage in %s", time.Since(start).Round(time.Millisecond))

	proxy.Restore()
	for _, p := range s.rs {
		waitStatus(t, p.name+"'s /readyz to recover", 15*time.Second, func() bool { return readyz(p.c.addr) == http.StatusOK })
	}
	s.leader(nil)
	mustContain(t, "a command after the outage", s.command(s.rs[0], e2eAdmin, "role grant <@U0NEW> operator"), "operator")
	mustContain(t, "read on the other replica", s.command(s.rs[1], e2eAdmin, "role list"), "U0NEW")
}

func TestServeWaitsForADatabaseThatComesUpAndGivesUpOnOneThatDoesNot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Parallel()
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	proxy.Cut()
	late := startUnready(t, dbURL)
	time.Sleep(2 * time.Second)
	proxy.Restore()
	waitStatus(t, "serve to start once the database is up", 20*time.Second, func() bool { return readyz(late.addr) != 0 })
	late.kill9()

	// Nothing listens: serve gives up after 30 s with one line naming the
	// variable, and never the password.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	const password = "pw-SENTINEL-db"
	gone := "postgres://pipebot:" + password + "@" + closed + "/pipebot?sslmode=disable"
	c := exec.Command(testBinary(), "serve")
	c.Env = append(childEnv(t, gone), "PIPEBOT_LISTEN_ADDR="+freeAddr(t))
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	err = c.Run()
	took := time.Since(start)
	if err == nil {
		t.Fatal("serve started without its database")
	}
	out := strings.TrimSpace(stderr.String())
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "pipebot: PIPEBOT_DATABASE_URL:") || !strings.Contains(last, "cannot reach the database") {
		t.Errorf("last line %q does not name PIPEBOT_DATABASE_URL and say it cannot be reached", last)
	}
	if strings.Contains(out, password) || strings.Contains(out, url.QueryEscape(password)) {
		t.Errorf("the output holds the password: %s", out)
	}
	if took < 25*time.Second || took > 60*time.Second {
		t.Errorf("serve gave up after %s, want about 30 s", took)
	}
}

func testBinary() string { return os.Args[0] }

// childEnv is a serve environment on the database at dbURL, Slack and
// GitLab never reached (the process is not expected to get that far).
func childEnv(t *testing.T, dbURL string) []string {
	return []string{
		"PIPEBOT_TEST_CHILD=1", "SLACK_BOT_TOKEN=xoxb-outage", "SLACK_SIGNING_SECRET=" + e2eSecret,
		"SLACK_API_URL=http://127.0.0.1:1/api/", "GITLAB_URL=http://127.0.0.1:1", "GITLAB_TOKEN=glpat-outage",
		"PIPEBOT_DATABASE_URL=" + dbURL, "PIPEBOT_DB_PATH=" + filepath.Join(t.TempDir(), "pipebot.db"),
		"PIPEBOT_LOG_LEVEL=error", "PATH=/usr/bin:/bin",
	}
}

// startUnready starts serve without waiting for it to answer.
func startUnready(t *testing.T, dbURL string) *child {
	c := &child{t: t, addr: freeAddr(t)}
	c.cmd = exec.Command(testBinary(), "serve")
	c.cmd.Env = append(childEnv(t, dbURL), "PIPEBOT_LISTEN_ADDR="+c.addr)
	c.cmd.Stderr = io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill9)
	return c
}
