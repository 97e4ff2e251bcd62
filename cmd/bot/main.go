// Command pipebot is the Slack app that drives GitLab CI/CD. It is the only
// place that reads the environment, builds the root logger and wires the
// packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/commands"
	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/leader"
	"github.com/pipebot/pipebot/internal/metrics"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "none"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pipebot:", err)
		os.Exit(1)
	}
}

const usage = `pipebot drives GitLab CI/CD from Slack.

Usage: pipebot [serve|demo|console|migrate|version]

  serve    the bot: Slack transports, watcher, HTTP server (default)
  demo     a terminal chat against a built-in GitLab simulator; no credentials needed
  console  the same terminal chat against the GitLab in GITLAB_URL
  migrate  copy the bbolt file into an empty PostgreSQL database: migrate --to postgres://…
  version  print version information

Configuration is read from the environment; see README.md.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 {
		sub = args[0]
	}
	if sub != "migrate" && len(args) > 1 && (args[1] == "-h" || args[1] == "--help") {
		// `pipebot serve --help` asks for usage; it must not start serve.
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch sub {
	case "serve":
		return serve(ctx, stderr)
	case "demo":
		return chat(ctx, ModeDemo, stdin, stdout, stderr)
	case "console":
		return chat(ctx, ModeConsole, stdin, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "pipebot %s (commit %s, %s)\n", version, commit, runtime.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (serve, demo, console, migrate, version)", sub)
}

func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Logger()
}

// app is pipebot's wired parts, shared by serve and the terminal chats.
type app struct {
	store   *state.Store
	gitlab  *gitlab.Client
	slack   *notify.Slack
	watcher *notify.Watcher
	router  *commands.Router
	pool    *slackapp.Pool
	metrics *metrics.Metrics
	log     zerolog.Logger
	// Replicas on PostgreSQL (replica.go); nil on bbolt. The watcher then
	// writes through leaderStore, fenced by the elector's lease.
	elector     *leader.Elector
	leaderStore *state.Store
	relay       *notify.WatchRelay
	// identity says who acts in GitLab for each person (identity_wire.go).
	identity *identity.Service
	// digests posts the channels' CI digests (insights.Runner); only the
	// leader runs it (replica.go), claiming slots through leaderStore.
	digests *insights.Runner
}

type wiring struct {
	cfg         Config
	gitlabHosts []string
	log         zerolog.Logger
	slackAPI    *slack.Client
	gitlabURL   string
	gitlabToken string
	metrics     *metrics.Metrics
	// homeCoalesce overrides the App Home's re-publish spacing (tests).
	homeCoalesce time.Duration
	// chartDir, when set, keeps every stats chart there too (demo).
	chartDir string
}

func wire(w wiring) (*app, error) {
	store, err := openStore(w.cfg)
	if err != nil {
		return nil, err
	}
	gl, err := gitlab.New(gitlab.Config{
		BaseURL: w.gitlabURL, Token: w.gitlabToken, UserAgent: "pipebot/" + version,
		Observe: w.metrics.GitLabCall,
	})
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	// Uploads wait in a spool beside the db; a crash's leftovers go now.
	spool := notify.NewSpool(filepath.Join(filepath.Dir(w.cfg.DBPath), "pipebot-spool"))
	if n, err := spool.Clean(); err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("upload spool %s: %w", spool.Dir(), err)
	} else if n > 0 {
		w.log.Info().Int("removed", n).Msg("removed upload spool leftovers")
	}
	poster := notify.NewSlack(notify.SlackConfig{API: w.slackAPI, Observe: w.metrics.SlackCall})
	// Replicas on one database: the watcher is the leader's, its writes
	// fenced by the lease and its posts gated on it; commands reach it
	// through the relay (replica.go).
	a := &app{store: store, gitlab: gl, metrics: w.metrics, log: w.log, leaderStore: store}
	leaderSlack := poster
	if store.Replicated() {
		a.elector = leader.New(leader.Config{Store: store, Holder: holderID(), TTL: w.cfg.LeaseTTL, Logger: w.log, OnChange: w.metrics.SetLeader})
		a.leaderStore = store.Fenced(a.elector.Epoch)
		leaderSlack = notify.NewSlack(notify.SlackConfig{API: w.slackAPI, Observe: w.metrics.SlackCall, Gate: a.elector.Gate})
	}
	// The watcher tells the router's App Home of pipeline changes; the
	// router is built just below, before the watcher runs.
	var router *commands.Router
	watcher := notify.New(notify.Config{
		GitLab: gl, Slack: leaderSlack, Store: a.leaderStore, Interval: w.cfg.PollInterval, Logger: w.log,
		OnPoll: w.metrics.PollDone, OnWatches: w.metrics.SetWatches, JobPreview: commands.JobPreview,
		OnHomeChange: func(ctx context.Context, c notify.HomeChange) { router.HomePipelineChanged(ctx, c) },
	})
	// Commands subscribe and track unfurls through a watcher on the
	// unfenced store (any replica may), and start watches through the
	// relay, which hands them to the leader.
	var watchStarter watchStarter = watcher
	cmdWatcher := watcher
	if a.elector != nil {
		cmdWatcher = notify.New(notify.Config{GitLab: gl, Slack: poster, Store: store, Interval: w.cfg.PollInterval,
			Logger: w.log, JobPreview: commands.JobPreview})
		a.relay = notify.NewWatchRelay(notify.WatchRelayConfig{Leader: watcher, Leading: a.elector.Leading, Store: store, Logger: w.log})
		watchStarter = a.relay
	}
	role, err := commands.ParseRole(w.cfg.DefaultRole)
	if err != nil {
		role = commands.RoleViewer
	}
	ids, err := newIdentity(w, gl, store, poster)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	router = commands.New(commands.Deps{
		GitLab: gl, Watcher: watchStarter, Subs: cmdWatcher, Slack: poster, Store: store,
		Uploads: poster, Unfurls: poster, LiveUnfurls: cmdWatcher, Spool: spool, MaxUpload: w.cfg.MaxUpload,
		Admins: w.cfg.Admins, DefaultRole: role, GitLabHosts: w.gitlabHosts, Logger: w.log, OnCommand: w.metrics.CommandDone,
		HomeCoalesce: w.homeCoalesce, Identities: ids,
		Insights: insights.NewBuilder(insights.Config{GitLab: gl, Store: store, Logger: w.log}), ChartDir: w.chartDir,
		DigestSlack: leaderSlack,
	})
	digests := insights.NewRunner(insights.RunnerConfig{Store: a.leaderStore, Post: router.PostDigest, GiveUp: router.DigestGivenUp, Logger: w.log})
	pool := slackapp.NewPool(slackapp.PoolConfig{
		Logger:  w.log,
		Observe: func(k slackapp.Kind, result string) { w.metrics.SlackDelivery(k.String(), result) },
		Once:    slackOnce(store, w.log),
	}, router)
	a.slack, a.watcher, a.router, a.pool = poster, watcher, router, pool
	a.digests, a.identity = digests, ids
	return a, nil
}

// demoHistoryDays is how much CI history demo/webapp has for /ci stats.
const demoHistoryDays = 30

// slackDedupeTTL is how long a Slack delivery's keys are remembered: far
// longer than Slack keeps retrying (events for about an hour), and pruned
// hourly after.
const slackDedupeTTL = 24 * time.Hour

// slackOnce is the pool's dedupe: a marker per key in the store, so that a
// redelivery reaching a restarted process, or another replica, is still
// dropped. A store error lets the delivery run (a rare double run beats
// dropping a command).
func slackOnce(store *state.Store, log zerolog.Logger) func(keys ...string) bool {
	return func(keys ...string) bool {
		first, err := store.MarkOnceAll("slack", keys, slackDedupeTTL)
		if err != nil {
			log.Error().Err(err).Msg("dedupe marker")
			return true
		}
		return first
	}
}

func serve(ctx context.Context, stderr io.Writer) error {
	cfg, err := loadConfig(ModeServe, os.Getenv, os.ReadFile)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	log.Info().Str("version", version).Str("config", cfg.String()).Msg("starting")
	_, m := metrics.NewRegistry()
	api := slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	a, err := wire(wiring{cfg: cfg, log: log, slackAPI: api, gitlabURL: cfg.GitLabURL, gitlabToken: cfg.GitLabToken, metrics: m,
		gitlabHosts: []string{hostOf(cfg.GitLabURL)}})
	if err != nil {
		return err
	}
	defer a.store.Close()
	if err := startIdentity(ctx, a, log); err != nil {
		return err
	}
	// Bound before any work starts, so an address in use stops serve at
	// once with a line naming the variable.
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("PIPEBOT_LISTEN_ADDR: %w", err)
	}

	// Work in flight finishes on shutdown: the pool and the watcher run on
	// their own context, cancelled only after intake has stopped and the
	// pool has drained.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	a.pool.Start(work)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); a.runWatcher(work) }()
	go func() { defer bg.Done(); housekeeping(work, a, log) }()

	ready := &readiness{}
	go ready.loop(work, a, api, log)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", ready.serve)
	mux.Handle("GET /metrics", m.Handler())
	mountIdentity(mux, a)
	if cfg.GitLabWebhookSecret != "" {
		hcfg := notify.WebhookConfig{
			Secret: cfg.GitLabWebhookSecret, Watcher: a.watcher, Logger: log, Observe: m.WebhookReceived,
			Once: func(key string) (bool, error) { return a.store.MarkOnce("gitlab-hook", key, 24*time.Hour) },
			Seen: func(key string) (bool, error) { return a.store.OnceMarked("gitlab-hook", key) },
		}
		if a.elector != nil {
			// Every replica takes deliveries into the database's queue;
			// the leader's relay processes them.
			hcfg.Handoff = a.store
		}
		hook := notify.NewWebhook(hcfg)
		mux.Handle("POST /gitlab/webhook", hook)
		if a.elector == nil {
			// Accepted deliveries are worked off on shutdown, before the
			// store closes.
			bg.Add(1)
			go func() { defer bg.Done(); hook.Run(work) }()
		}
	}
	if cfg.SlackSigningSecret != "" {
		h := slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: cfg.SlackSigningSecret, Pool: a.pool, Logger: log, Answerer: a.router})
		mux.Handle("/slack/", h)
	}
	srv := &http.Server{Addr: cfg.ListenAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() {
		log.Info().Str("addr", cfg.ListenAddr).Msg("http listening")
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	intake, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	var socket sync.WaitGroup
	if cfg.SlackAppToken != "" {
		socket.Add(1)
		go func() {
			defer socket.Done()
			err := slackapp.RunSocketMode(intake, slackapp.SocketConfig{
				AppToken: cfg.SlackAppToken, BotToken: cfg.SlackBotToken, APIURL: cfg.SlackAPIURL, Pool: a.pool, Logger: log,
				Answerer: a.router,
			})
			if err != nil && intake.Err() == nil {
				errc <- fmt.Errorf("socket mode: %w", err)
			}
		}()
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info().Msg("shutting down")
	shut, cancelShut := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelShut()
	_ = srv.Shutdown(shut)
	stopIntake()
	socket.Wait()
	a.pool.Stop()
	stopWork()
	bg.Wait()
	a.router.StopHome()
	return err
}

// housekeeping prunes expired dedupe markers every hour.
func housekeeping(ctx context.Context, a *app, log zerolog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.store.PruneOnce(); err != nil {
				log.Warn().Err(err).Msg("prune dedupe markers")
			} else if n > 0 {
				log.Debug().Int("removed", n).Msg("pruned dedupe markers")
			}
			if _, err := a.store.PruneQueueResults(); err != nil {
				log.Warn().Err(err).Msg("prune handoff results")
			}
		}
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// readiness is /readyz: the db opens and Slack and GitLab answered at the
// last check. The database is checked every few seconds (an outage turns
// /readyz to 503 soon, and its end back), the others every 30 s.
type readiness struct {
	ok     atomic.Bool
	reason atomic.Value
	dbDown atomic.Bool
}

// dbCheckEvery is how often /readyz's view of the database is refreshed.
const dbCheckEvery = 2 * time.Second

func (r *readiness) loop(ctx context.Context, a *app, api *slack.Client, log zerolog.Logger) {
	check := func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var problems []string
		if _, err := a.gitlab.Version(cctx); err != nil {
			problems = append(problems, "gitlab")
		}
		if _, err := api.AuthTestContext(cctx); err != nil {
			problems = append(problems, "slack")
		}
		r.ok.Store(len(problems) == 0)
		r.reason.Store(strings.Join(problems, ", "))
		if len(problems) > 0 {
			log.Warn().Strs("unreachable", problems).Msg("not ready")
		}
	}
	checkDB := func() {
		err := a.store.Ping()
		if down := err != nil; down != r.dbDown.Swap(down) {
			if down {
				log.Warn().Err(err).Msg("database unreachable")
			} else {
				log.Info().Msg("database reachable again")
			}
		}
	}
	checkDB()
	check()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	db := time.NewTicker(dbCheckEvery)
	defer db.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		case <-db.C:
			checkDB()
		}
	}
}

func (r *readiness) serve(w http.ResponseWriter, _ *http.Request) {
	if r.dbDown.Load() {
		http.Error(w, "not ready: database", http.StatusServiceUnavailable)
		return
	}
	if r.ok.Load() {
		_, _ = io.WriteString(w, "ready\n")
		return
	}
	reason, _ := r.reason.Load().(string)
	if reason == "" {
		reason = "starting"
	}
	http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
}

// chat runs the terminal chat: demo against the in-process GitLab
// simulator, console against the real GitLab. Slack is an in-process fake
// whose messages the console prints.
func chat(ctx context.Context, mode Mode, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(mode, os.Getenv, os.ReadFile)
	if err != nil {
		return err
	}
	if os.Getenv("PIPEBOT_LOG_LEVEL") == "" {
		cfg.LogLevel = zerolog.WarnLevel
		if mode == ModeDemo {
			// The demo is a chat with a simulator: refusals already reach
			// the person as sentences; only pipebot's own errors are news.
			cfg.LogLevel = zerolog.ErrorLevel
		}
	}
	cfg.LogFormat = "console"
	log := newLogger(cfg, stderr)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	const user, channel = "U0DEMO", "C0DEMO"
	gitlabURL, gitlabToken := cfg.GitLabURL, cfg.GitLabToken
	if mode == ModeDemo {
		sim := simulator.NewDemoWithHistory(simulator.Options{}, demoHistoryDays)
		srv := httptest.NewServer(sim)
		defer srv.Close()
		go sim.AutoAdvance(ctx, 2*time.Second)
		gitlabURL, gitlabToken = srv.URL, "demo-token"
		cfg.PollInterval = time.Second
	}
	fake := slackfake.NewServer(slackfake.Options{BotToken: "xoxb-console"})
	defer fake.Close()
	if mode == ModeDemo {
		if err := demoIdentity(os.Getenv, &cfg, &gitlabToken, fake, user); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "pipebot-chat-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg.DBPath = dir + "/pipebot.db"
	cfg.Admins = append(cfg.Admins, user)

	api := slack.New("xoxb-console", slack.OptionAPIURL(fake.APIURL()))
	hosts := []string{hostOf(gitlabURL)}
	if mode == ModeDemo {
		hosts = append(hosts, hostOf(simulator.DefaultWebBaseURL))
	}
	w := wiring{cfg: cfg, log: log, slackAPI: api, gitlabURL: gitlabURL, gitlabToken: gitlabToken, gitlabHosts: hosts}
	if mode == ModeDemo {
		// Charts outlive the chat's temp dir, so a person can open them.
		w.chartDir = filepath.Join(os.TempDir(), "pipebot-demo-charts")
	}
	a, err := wire(w)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if mode == ModeDemo {
		if _, err := a.store.UpdateChannel(channel, func(ch *state.Channel) error {
			ch.ID, ch.DefaultProject = channel, "demo/webapp"
			return nil
		}); err != nil {
			return fmt.Errorf("set demo channel project: %w", err)
		}
	}
	stopLogin, err := serveDemoLogin(a, log)
	if err != nil {
		return err
	}
	defer stopLogin()
	a.pool.Start(ctx)
	defer a.pool.Stop()
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); a.watcher.Run(ctx) }()
	go func() { defer bg.Done(); a.digests.Run(ctx) }()
	// On the way out the watcher and the digest runner stop before the
	// store closes (deferred above): their last tick must not meet a
	// closed database.
	defer func() { cancel(); bg.Wait() }()

	prompt := false
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			prompt = true
		}
	}
	if prompt {
		what := "the GitLab simulator (project demo/webapp is this channel's default)"
		if mode == ModeConsole {
			what = gitlabURL
		}
		fmt.Fprintf(stdout, "pipebot %s — chatting with %s.\nType /ci help, /ci pipelines, /ci run main, /ci whoami …; !N clicks button N; quit to leave.\n", mode, what)
		if mode == ModeDemo {
			fmt.Fprint(stdout, demoIdentityHint(cfg.Identity))
		}
	}
	return slackapp.RunConsole(ctx, slackapp.ConsoleConfig{
		In: stdin, Out: stdout, Fake: fake, Pool: a.pool, UserID: user, ChannelID: channel, Prompt: prompt,
	})
}
