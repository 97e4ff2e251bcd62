package postgres_test

import (
	"context"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
	"github.com/pipebot/pipebot/internal/state/storetest"
)

func TestPostgresPassesTheStoreSuite(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, storetest.Target{
		NewDatabase: func(t *testing.T) func(state.Options) (*state.Store, error) {
			url := pgtest.URL(t)
			return func(opts state.Options) (*state.Store, error) {
				return postgres.Open(context.Background(), url, postgres.Options{Store: opts})
			}
		},
		Shared: true,
		Leases: true,
	})
}
