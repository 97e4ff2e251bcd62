package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

func TestThePasswordNeverReachesAnError(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, _ := url.Parse(dbURL)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	const secret = "s3cr3t-Pa55:w/rd@x"
	withPassword := func(host string) string {
		v := *u
		v.Host = host
		v.User = url.UserPassword(u.User.Username(), secret)
		return v.String()
	}
	tests := []struct {
		name, url   string
		wantMessage string
		unavailable bool
	}{
		{"wrong password", withPassword(u.Host), "password authentication failed", false},
		{"nothing listening", withPassword(closed), "cannot reach the database at", true},
		{"unparsable setting", withPassword(u.Host) + "&connect_timeout=soon", "parse database URL", false},
		{"key=value form", "host=" + strings.Split(closed, ":")[0] + " port=" + strings.Split(closed, ":")[1] + " user=x password='" + secret + "' dbname=x", "cannot reach the database at", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := postgres.Open(context.Background(), tt.url, postgres.Options{ConnectWait: 500 * time.Millisecond})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), "s3cr3t"} {
				if strings.Contains(msg, form) {
					t.Fatalf("the error holds the password (%q): %s", form, msg)
				}
			}
			if !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("error %q does not say %q", msg, tt.wantMessage)
			}
			if errors.Is(err, state.ErrUnavailable) != tt.unavailable {
				t.Errorf("ErrUnavailable = %v, want %v: %v", !tt.unavailable, tt.unavailable, err)
			}
			if !tt.unavailable && time.Since(start) > 5*time.Second {
				t.Errorf("a refusal that waiting cannot fix took %s", time.Since(start))
			}
		})
	}
}

func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	dbURL := pgtest.URL(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions, distinct int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version) FROM pipebot_schema`).Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	if versions != distinct || versions < 2 {
		t.Errorf("pipebot_schema holds %d rows for %d versions", versions, distinct)
	}
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(); v != state.KnownSchemaVersion() || err != nil {
		t.Errorf("record schema v%d, %v; want v%d", v, err, state.KnownSchemaVersion())
	}
}

func TestAnOutageIsUnavailableAndRecoversByItself(t *testing.T) {
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{Store: state.Options{OpTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := s.Listen(ctx, state.QueueChannel)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole("U1", "admin"); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	if _, _, err := s.Role("U1"); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("a read during the outage = %v, want ErrUnavailable", err)
	}
	if err := s.SetRole("U2", "admin"); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("a write during the outage = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(); err == nil {
		t.Error("Ping succeeded during the outage")
	}

	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r, _, err := s.Role("U1"); r != "admin" || err != nil {
		t.Fatalf("a read after the outage = %q, %v", r, err)
	}
	if err := s.SetRole("U2", "admin"); err != nil {
		t.Fatalf("a write after the outage: %v", err)
	}
	// The listener reconnected: a notification reaches it again.
	for len(wake) > 0 {
		<-wake
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, _, err := s.Enqueue("hook", nil, "", nil, 0); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			return
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener never heard a notification after the outage")
		}
	}
}
