package commands

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// BenchmarkRunFormOptions2000Branches measures the ref picker's answer as
// Slack sees it: a signed POST /slack/options, the router's search through
// the real client to a simulator holding 2,000 branches and 200 tags, and
// the options body back. It reports the p99 latency (Slack allows 3 s).
func BenchmarkRunFormOptions2000Branches(b *testing.B) {
	h := newHarness(&testing.T{})
	branches := make([]string, 2000)
	for i := range branches {
		branches[i] = fmt.Sprintf("feature/team-%02d/change-%04d", i%40, i)
	}
	tags := make([]string, 200)
	for i := range tags {
		tags[i] = fmt.Sprintf("v1.%d.%d", i/10, i%10)
	}
	h.sim.AddProject(simulator.Project{ID: 9, Path: "group/big", Branches: branches, Tags: tags,
		Members: map[int64]simulator.AccessLevel{1: simulator.Maintainer}})
	pool := slackapp.NewPool(slackapp.PoolConfig{Logger: zerolog.Nop()}, h.router)
	srv := httptest.NewServer(slackapp.NewHTTP(slackapp.HTTPConfig{SigningSecret: "bench-secret", Pool: pool, Answerer: h.router, Logger: zerolog.Nop()}))
	defer srv.Close()
	queries := []string{"", "change-1", "team-07", "feature/team-3", "v1.1"}
	payload := func(q string) []byte {
		raw, _ := json.Marshal(map[string]any{
			"type": "block_suggestion", "action_id": actionRun, "block_id": blockRunRef, "value": q,
			"user": map[string]any{"id": operator}, "team": map[string]any{"id": "T1"},
			"view": map[string]any{"callback_id": callbackRun, "private_metadata": `{"channel":"` + chanID + `"}`,
				"state": map[string]any{"values": map[string]any{blockRunProject: map[string]any{actionRun: map[string]any{"type": "plain_text_input", "value": "group/big"}}}}},
		})
		return []byte(url.Values{"payload": {string(raw)}}.Encode())
	}
	var took []time.Duration
	i := 0
	for b.Loop() {
		body := payload(queries[i%len(queries)])
		i++
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte("bench-secret"))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+slackapp.PathOptions, strings.NewReader(string(body)))
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(start))
		var got struct {
			Options []json.RawMessage `json:"options"`
		}
		if json.Unmarshal(out, &got) != nil || len(got.Options) == 0 || len(got.Options) > maxOptions {
			b.Fatalf("options answer: %d %s", resp.StatusCode, out)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
}
