// Package pgtest gives each test a PostgreSQL database of its own, created
// from the server in PIPEBOT_TEST_DATABASE_URL and dropped when the test
// ends, so tests are independent and packages may run in parallel. Without
// the variable the test is skipped with a line saying how to run it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding a PostgreSQL server URL whose role may
// create databases.
const Env = "PIPEBOT_TEST_DATABASE_URL"

// SkipMessage says how to run the tests that need PostgreSQL.
const SkipMessage = "needs PostgreSQL: set " + Env + " to a server URL whose role may create databases " +
	"(eval \"$(bash .ci/postgres start)\" starts a throwaway one)"

// Require skips t, saying how to run it, unless Env is set.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(Env) == "" {
		t.Skip(SkipMessage)
	}
}

// URL creates a fresh database for t and returns its URL; the database is
// dropped, with every connection to it, when t ends. It skips t when Env
// is not set.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		t.Skip(SkipMessage)
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s is not a postgres:// URL", Env)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("pipebot_t_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", Env, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
