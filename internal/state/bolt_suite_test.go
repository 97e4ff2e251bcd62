package state_test

import (
	"path/filepath"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/storetest"
)

func TestBoltPassesTheStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Target{
		NewDatabase: func(t *testing.T) func(state.Options) (*state.Store, error) {
			path := filepath.Join(t.TempDir(), "pipebot.db")
			return func(opts state.Options) (*state.Store, error) { return state.Open(path, opts) }
		},
	})
}
