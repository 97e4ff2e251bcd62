package main

import (
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

// The sudo start-up refusal is one plain sentence naming the variable and
// what the token lacks, without package prefixes or a dangling "and".
func TestTheSudoStartRefusalReadsAsOneSentence(t *testing.T) {
	e := newIdentityE2E(t, "sudo", io.Discard)
	e.sim.SetTokenScopes(idGitLabToken, "api")
	err := startIdentity(context.Background(), e.app, zerolog.Nop())
	want := "GITLAB_TOKEN: PIPEBOT_IDENTITY=sudo needs an administrator's personal access token with scopes api and sudo: it lacks the sudo scope (it has api)"
	if err == nil || err.Error() != want {
		t.Fatalf("start without the sudo scope said\n%v\nwant\n%s", err, want)
	}
}
