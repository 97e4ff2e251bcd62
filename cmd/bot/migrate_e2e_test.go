package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
	"github.com/pipebot/pipebot/internal/state/storetest"
)

// runPipebot runs the test binary as pipebot with args and env, and
// returns its exit error and output.
func runPipebot(t *testing.T, env []string, args ...string) (error, string, string) {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), append(env, "PIPEBOT_TEST_CHILD=1")...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	return err, stdout.String(), stderr.String()
}

func TestMigrateCopiesABboltFileIntoPostgresOnceAndKeepsThePasswordOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dbURL := pgtest.URL(t)
	path := filepath.Join(t.TempDir(), "pipebot.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, s)
	want := storetest.Dump(t, s.Engine())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	password, _ := u.User.Password()
	env := []string{"PIPEBOT_DB_PATH=" + path}

	err, stdout, stderr := runPipebot(t, env, "migrate", "--to", dbURL)
	if err != nil {
		t.Fatalf("migrate: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("migrate said:\n%s", stdout)
	records := 0
	for _, d := range want {
		records += strings.Count(d, "=") - 1 // "seq=N [k=v k=v …]"
	}
	for _, w := range []string{"watches", "zz_from_the_future", fmt.Sprintf("copied %d records in ", records), "counts checked"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("migrate output lacks %q:\n%s", w, stdout)
		}
	}
	if password != "" && strings.Contains(stdout+stderr, password) {
		t.Errorf("migrate printed the password:\n%s%s", stdout, stderr)
	}
	pg, err := postgres.Connect(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	got := storetest.Dump(t, pg)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PostgreSQL holds\n%v\nwant\n%v", got, want)
	}

	// Again into the same database: refused, nothing changed, one line.
	err, stdout, stderr = runPipebot(t, env, "migrate", "--to="+dbURL)
	if err == nil {
		t.Fatalf("a second migrate into the same database succeeded:\n%s", stdout)
	}
	msg := strings.TrimSpace(stderr)
	if !strings.Contains(msg, "already holds data") || strings.Contains(msg, "\n") || (password != "" && strings.Contains(msg, password)) {
		t.Errorf("refusal: %q; want one line saying the target holds data, without the password", msg)
	}
	if !reflect.DeepEqual(storetest.Dump(t, pg), want) {
		t.Error("a refused migrate changed the target")
	}

	// The target from PIPEBOT_DATABASE_URL, a file in use, a missing file.
	lock, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err, _, stderr = runPipebot(t, append(env, "PIPEBOT_DATABASE_URL="+pgtest.URL(t)), "migrate")
	lock.Close()
	if err == nil || !strings.Contains(stderr, "is another pipebot running?") {
		t.Errorf("migrate of a file in use: %v %s", err, stderr)
	}
	err, _, stderr = runPipebot(t, []string{"PIPEBOT_DB_PATH=" + path + ".missing"}, "migrate", "--to", dbURL)
	if err == nil || !strings.Contains(stderr, "no bbolt file to migrate") {
		t.Errorf("migrate of a missing file: %v %s", err, stderr)
	}
	err, _, stderr = runPipebot(t, env, "migrate", "--to", "mysql://u:"+sentinel+"@db/x")
	if err == nil || !strings.Contains(stderr, "--to: must be a postgres:// URL") || strings.Contains(stderr, sentinel) {
		t.Errorf("migrate to another database: %v %s", err, stderr)
	}
}
