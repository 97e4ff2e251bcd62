package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
	"github.com/pipebot/pipebot/internal/state/pgtest"
)

// BenchmarkSlashCommandAckOnPostgres measures the acknowledgement of signed
// slash commands by pipebot wired as serve wires it on PostgreSQL, while
// the workers run them (dedupe marker, role, audit: all in the database).
// The ack itself never waits for the database; it reports the p99.
func BenchmarkSlashCommandAckOnPostgres(b *testing.B) {
	dbURL := pgtest.URL(b)
	sim := simulator.New(simulator.Options{})
	sim.AddUser(simulator.User{ID: 1, Username: "pipebot-bot"}, "glpat-bench")
	gl := httptest.NewServer(sim)
	defer gl.Close()
	fake := slackfake.NewServer(slackfake.Options{})
	defer fake.Close()
	cfg := Config{DBPath: filepath.Join(b.TempDir(), "pipebot.db"), DatabaseURL: dbURL, PollInterval: time.Hour,
		Admins: []string{e2eAdmin}, DefaultRole: "viewer", LeaseTTL: 15 * time.Second}
	a, err := wire(wiring{cfg: cfg, log: zerolog.Nop(), slackAPI: slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL())),
		gitlabURL: gl.URL, gitlabToken: "glpat-bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.pool.Start(ctx)
	defer a.pool.Stop()
	srv := httptest.NewServer(slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: e2eSecret, Pool: a.pool, Logger: zerolog.Nop(), Answerer: a.router}))
	defer srv.Close()
	client := srv.Client()
	latencies := make([]time.Duration, 0, b.N)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		body := url.Values{"command": {"/ci"}, "text": {"role list"}, "user_id": {e2eAdmin}, "user_name": {"admin"},
			"channel_id": {e2eChannel}, "team_id": {"T0E2E"}, "response_url": {fake.ResponseURL(e2eChannel, e2eAdmin)},
			"trigger_id": {"bench." + strconv.Itoa(i)}}.Encode()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+slackapp.PathCommands, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sign(e2eSecret, ts, []byte(body)))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		if i%100 == 0 {
			// Let the workers catch up, untimed, so the queue never
			// fills and every command is run.
			b.StopTimer()
			a.pool.Wait()
			b.StartTimer()
		}
	}
	b.StopTimer()
	a.pool.Wait()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	if n := len(fake.CallsOf("response_url")); n != b.N {
		b.Errorf("%d commands answered of %d", n, b.N)
	}
}
