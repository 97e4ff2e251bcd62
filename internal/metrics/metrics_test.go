package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecordersMoveTheirMetrics(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics)
		got    func(m *Metrics) float64
		want   float64
	}{
		{
			name: "command done counts by command and result",
			record: func(m *Metrics) {
				m.CommandDone("pipeline run", "ok")
				m.CommandDone("pipeline run", "ok")
				m.CommandDone("pipeline run", "denied")
			},
			got:  func(m *Metrics) float64 { return testutil.ToFloat64(m.commands.WithLabelValues("pipeline run", "ok")) },
			want: 2,
		},
		{
			name:   "gitlab call counts by method and status code",
			record: func(m *Metrics) { m.GitLabCall("GET", 200, time.Second); m.GitLabCall("GET", 404, time.Second) },
			got:    func(m *Metrics) float64 { return testutil.ToFloat64(m.gitlabRequests.WithLabelValues("GET", "404")) },
			want:   1,
		},
		{
			name:   "gitlab call without a response counts as code error",
			record: func(m *Metrics) { m.GitLabCall("POST", 0, time.Second) },
			got:    func(m *Metrics) float64 { return testutil.ToFloat64(m.gitlabRequests.WithLabelValues("POST", "error")) },
			want:   1,
		},
		{
			name:   "slack call counts by method and result",
			record: func(m *Metrics) { m.SlackCall("chat.update", "ok"); m.SlackCall("chat.postMessage", "not_in_channel") },
			got: func(m *Metrics) float64 {
				return testutil.ToFloat64(m.slackCalls.WithLabelValues("chat.postMessage", "not_in_channel"))
			},
			want: 1,
		},
		{
			name:   "set watches replaces the gauge value",
			record: func(m *Metrics) { m.SetWatches(7); m.SetWatches(3) },
			got:    func(m *Metrics) float64 { return testutil.ToFloat64(m.watches) },
			want:   3,
		},
		{
			name:   "poll with an error counts a poll error",
			record: func(m *Metrics) { m.PollDone(time.Second, nil); m.PollDone(time.Second, errors.New("boom")) },
			got:    func(m *Metrics) float64 { return testutil.ToFloat64(m.pollErrors) },
			want:   1,
		},
		{
			name:   "webhook counts by event and result",
			record: func(m *Metrics) { m.WebhookReceived("pipeline", "ok"); m.WebhookReceived("pipeline", "duplicate") },
			got: func(m *Metrics) float64 {
				return testutil.ToFloat64(m.webhooksHandled.WithLabelValues("pipeline", "duplicate"))
			},
			want: 1,
		},
		{
			name:   "slack delivery counts by kind and result",
			record: func(m *Metrics) { m.SlackDelivery("command", "queued"); m.SlackDelivery("command", "duplicate") },
			got: func(m *Metrics) float64 {
				return testutil.ToFloat64(m.slackDeliveries.WithLabelValues("command", "duplicate"))
			},
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m := NewRegistry()
			tt.record(m)
			if got := tt.got(m); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDurationsAreObservedInSeconds(t *testing.T) {
	reg, m := NewRegistry()
	m.GitLabCall("GET", 200, 300*time.Millisecond)
	m.PollDone(2*time.Second, nil)

	want := `
# HELP pipebot_poll_duration_seconds Duration of one watcher poll tick.
# TYPE pipebot_poll_duration_seconds histogram
pipebot_poll_duration_seconds_bucket{le="0.01"} 0
pipebot_poll_duration_seconds_bucket{le="0.05"} 0
pipebot_poll_duration_seconds_bucket{le="0.1"} 0
pipebot_poll_duration_seconds_bucket{le="0.25"} 0
pipebot_poll_duration_seconds_bucket{le="0.5"} 0
pipebot_poll_duration_seconds_bucket{le="1"} 0
pipebot_poll_duration_seconds_bucket{le="2.5"} 1
pipebot_poll_duration_seconds_bucket{le="5"} 1
pipebot_poll_duration_seconds_bucket{le="10"} 1
pipebot_poll_duration_seconds_bucket{le="30"} 1
pipebot_poll_duration_seconds_bucket{le="60"} 1
pipebot_poll_duration_seconds_bucket{le="+Inf"} 1
pipebot_poll_duration_seconds_sum 2
pipebot_poll_duration_seconds_count 1
# HELP pipebot_gitlab_request_duration_seconds GitLab API request latency, by method.
# TYPE pipebot_gitlab_request_duration_seconds histogram
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="0.05"} 0
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="0.1"} 0
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="0.25"} 0
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="0.5"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="1"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="2.5"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="5"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="10"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="30"} 1
pipebot_gitlab_request_duration_seconds_bucket{method="GET",le="+Inf"} 1
pipebot_gitlab_request_duration_seconds_sum{method="GET"} 0.3
pipebot_gitlab_request_duration_seconds_count{method="GET"} 1
`
	err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"pipebot_poll_duration_seconds", "pipebot_gitlab_request_duration_seconds")
	if err != nil {
		t.Error(err)
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	m.CommandDone("help", "ok")
	m.GitLabCall("GET", 200, time.Second)
	m.SlackCall("chat.postMessage", "ok")
	m.SetWatches(1)
	m.PollDone(time.Second, errors.New("boom"))
	m.WebhookReceived("job", "ok")
	m.SlackDelivery("event", "queued")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil metrics handler status = %d, want %d", rec.Code, http.StatusNotFound)
	}
}

func TestHandlerServesRegistryWithRuntimeCollectors(t *testing.T) {
	_, m := NewRegistry()
	m.CommandDone("pipeline list", "ok")

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`pipebot_commands_total{command="pipeline list",result="ok"} 1`,
		"go_goroutines ",
		"pipebot_watches 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNewTwiceOnOneRegistryShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(reg)
	b := New(reg)
	a.CommandDone("help", "ok")
	b.CommandDone("help", "ok")
	if got := testutil.ToFloat64(a.commands.WithLabelValues("help", "ok")); got != 2 {
		t.Errorf("shared counter = %v, want 2", got)
	}
}

func TestNewWithNilRegistererUsesPrivateRegistry(t *testing.T) {
	m := New(nil)
	m.SetWatches(4)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "pipebot_watches 4") {
		t.Errorf("/metrics body lacks pipebot_watches 4:\n%s", rec.Body.String())
	}
}
