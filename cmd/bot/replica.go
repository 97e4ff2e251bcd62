package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

// databaseConnectWait is how long serve retries a PostgreSQL database it
// cannot reach at start before it gives up.
const databaseConnectWait = 30 * time.Second

// openStore opens PostgreSQL when PIPEBOT_DATABASE_URL is set, else the
// bbolt file at PIPEBOT_DB_PATH.
func openStore(cfg Config) (*state.Store, error) {
	if cfg.DatabaseURL == "" {
		s, err := state.Open(cfg.DBPath, state.Options{Timeout: time.Second})
		if err != nil {
			// The error names the file; the variable tells the operator what to fix.
			return nil, fmt.Errorf("PIPEBOT_DB_PATH: %w", err)
		}
		return s, nil
	}
	s, err := postgres.Open(context.Background(), cfg.DatabaseURL, postgres.Options{ConnectWait: databaseConnectWait})
	if err != nil {
		// The engine's errors never hold the password.
		return nil, fmt.Errorf("PIPEBOT_DATABASE_URL: %w", err)
	}
	return s, nil
}

// watchStarter is what commands start watches with: the watcher on
// bbolt, the relay on PostgreSQL.
type watchStarter interface {
	Watch(ctx context.Context, req notify.WatchRequest) (state.Watch, error)
}

// holderID names this process in the leader lease: host, pid and a random
// part, so that a restarted process is a new holder.
func holderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pipebot"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// runWatcher runs what only the leader runs: the watcher and the digest
// runner. On bbolt this process is the only one, so it always leads. On
// PostgreSQL the elector campaigns, and each term of leadership runs them
// and the relay that works off the handoff queue; the replica's watch
// relay listens for results all along.
func (a *app) runWatcher(ctx context.Context) {
	if a.elector == nil {
		a.metrics.SetLeader(true)
		var wg sync.WaitGroup
		wg.Go(func() { a.digests.Run(ctx) })
		a.watcher.Run(ctx)
		wg.Wait()
		return
	}
	a.metrics.SetLeader(false)
	var wg sync.WaitGroup
	wg.Go(func() { a.relay.Run(ctx) })
	a.elector.Run(ctx, func(ctx context.Context) {
		var term sync.WaitGroup
		term.Go(func() { a.watcher.Run(ctx) })
		term.Go(func() { a.digests.Run(ctx) })
		term.Go(func() {
			notify.NewRelay(notify.RelayConfig{Store: a.leaderStore, Watcher: a.watcher, Logger: a.log}).Run(ctx)
		})
		term.Wait()
	})
	wg.Wait()
}
