package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// newIdentity builds who acts in GitLab for each person (DESIGN §7) from
// the configuration. It does no I/O; startIdentity checks at start.
func newIdentity(w wiring, gl *gitlab.Client, store *state.Store, poster *notify.Slack) (*identity.Service, error) {
	mode, err := identity.ParseMode(w.cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("PIPEBOT_IDENTITY: %w", err)
	}
	var sealer *identity.Sealer
	if w.cfg.SecretKey != nil {
		if sealer, err = identity.NewSealer(w.cfg.SecretKey, w.cfg.SecretKeyPrevious); err != nil {
			return nil, fmt.Errorf("PIPEBOT_SECRET_KEY: %w", err)
		}
	}
	svc, err := identity.New(identity.Config{
		Mode: mode, Bot: gl, Store: store, Sealer: sealer, Slack: w.slackAPI, Logger: w.log,
		OAuth: identity.OAuthConfig{
			GitLabURL: w.gitlabURL, PublicURL: w.cfg.PublicURL,
			ClientID: w.cfg.OAuthClientID, ClientSecret: w.cfg.OAuthClientSecret,
		},
		// The login's confirmation goes to the user's DM with pipebot.
		Notify: func(ctx context.Context, user, text string) error {
			_, err := poster.Post(ctx, user, notify.Message{Text: text, Blocks: nil})
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("PIPEBOT_IDENTITY=%s: %w", mode, err)
	}
	return svc, nil
}

// startIdentity is serve's start-up check of the identity mode: stored
// links must open with PIPEBOT_SECRET_KEY (or be rotated from
// PIPEBOT_SECRET_KEY_PREVIOUS), and in sudo mode GITLAB_TOKEN must be an
// administrator's with the sudo scope. The error names the variable.
func startIdentity(ctx context.Context, a *app, log zerolog.Logger) error {
	if n, err := a.identity.CheckKey(ctx); err != nil {
		return errKeyMismatch(err)
	} else if n > 0 {
		log.Info().Int("links", n).Msg("re-encrypted stored gitlab links with PIPEBOT_SECRET_KEY")
	}
	if a.identity.Mode() == identity.ModeSudo {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := identity.CheckSudo(cctx, a.gitlab); err != nil {
			return fmt.Errorf("GITLAB_TOKEN: PIPEBOT_IDENTITY=sudo needs an administrator's personal access token with scopes api and sudo: %w", err)
		}
	}
	return nil
}

// mountIdentity serves the login pages in linked mode.
func mountIdentity(mux *http.ServeMux, a *app) {
	if a.identity.Mode() != identity.ModeLinked {
		return
	}
	mux.Handle("GET "+identity.StartPath, a.identity)
	mux.Handle("GET "+identity.CallbackPath, a.identity)
}

// demoLoginAddr is where `pipebot demo` in linked mode answers the login
// callback: the demo OAuth application's redirect URI.
const demoLoginAddr = "127.0.0.1:8080"

// demoIdentity sets the demo up for PIPEBOT_IDENTITY (read from the
// environment): linked uses the simulator's demo OAuth application and a
// key made for this run; sudo uses the simulator's administrator token
// and gives the console user the email of GitLab user "dev".
func demoIdentity(getenv func(string) string, cfg *Config, gitlabToken *string, fake *slackfake.Server, user string) error {
	mode, err := identity.ParseMode(getenv("PIPEBOT_IDENTITY"))
	if err != nil {
		return fmt.Errorf("PIPEBOT_IDENTITY: %w", err)
	}
	cfg.Identity = string(mode)
	switch mode {
	case identity.ModeLinked:
		key := make([]byte, identity.KeySize)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("demo key: %w", err)
		}
		cfg.SecretKey = key
		cfg.PublicURL = "http://" + demoLoginAddr
		cfg.OAuthClientID, cfg.OAuthClientSecret = simulator.DemoOAuthClientID, simulator.DemoOAuthClientSecret
	case identity.ModeSudo:
		*gitlabToken = simulator.DemoAdminToken
		fake.AddUser(slackfake.User{ID: user, Name: "you", Email: "dev@example.com"})
	}
	return nil
}

// serveDemoLogin answers the demo's login pages on demoLoginAddr in
// linked mode; stop ends it.
func serveDemoLogin(a *app, log zerolog.Logger) (stop func(), err error) {
	if a.identity.Mode() != identity.ModeLinked {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", demoLoginAddr)
	if err != nil {
		return nil, fmt.Errorf("demo with PIPEBOT_IDENTITY=linked answers the login on %s (the demo OAuth application's redirect URI), which is taken: %w", demoLoginAddr, err)
	}
	mux := http.NewServeMux()
	mountIdentity(mux, a)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn().Err(err).Msg("demo login server")
		}
	}()
	return func() { _ = srv.Close() }, nil
}

// demoIdentityHint tells the demo's user how to try the identity mode.
func demoIdentityHint(mode string) string {
	switch identity.Mode(mode) {
	case identity.ModeLinked:
		return "Identity: linked. Type /ci login and open the Connect GitLab link in your browser; sign in on the\n" +
			"simulator's page as dev (a developer whose main is protected), demo (maintainer) or viewer.\n"
	case identity.ModeSudo:
		return "Identity: sudo. You act as GitLab user dev (your Slack email is dev@example.com): try /ci run main.\n"
	}
	return "Identity: bot (every command runs as pipebot's token). Try PIPEBOT_IDENTITY=linked or sudo.\n"
}
