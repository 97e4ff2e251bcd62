// Package metrics owns pipebot's Prometheus metrics: their names, labels and
// buckets, the registry they live in, and the /metrics HTTP handler.
//
// Every method is nil-safe: a nil *Metrics records nothing, so components can
// be built and tested without metrics. Label values must come from small,
// fixed sets (command names, API method names, HTTP status codes); never pass
// ids, paths or user input as a label.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds pipebot's collectors. Build it with New or NewRegistry; the
// zero value is not usable, but a nil *Metrics is (it does nothing).
type Metrics struct {
	gatherer prometheus.Gatherer

	commands        *prometheus.CounterVec
	gitlabRequests  *prometheus.CounterVec
	gitlabDuration  *prometheus.HistogramVec
	slackCalls      *prometheus.CounterVec
	watches         prometheus.Gauge
	pollDuration    prometheus.Histogram
	pollErrors      prometheus.Counter
	webhooksHandled *prometheus.CounterVec
	slackDeliveries *prometheus.CounterVec
	leader          prometheus.Gauge
}

// NewRegistry returns a fresh registry holding the Go runtime and process
// collectors and pipebot's own metrics, and the Metrics that record into it.
// main uses it; tests use it to get an isolated registry.
func NewRegistry() (*prometheus.Registry, *Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg, New(reg)
}

// New registers pipebot's metrics with reg and returns them. A nil reg means
// a new private registry. Registering twice with the same registry reuses the
// collectors already there instead of panicking. If reg is also a
// prometheus.Gatherer (a *prometheus.Registry is), Handler serves it.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	m.commands = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pipebot_commands_total",
		Help: "Commands run (typed or clicked), by command and result.",
	}, []string{"command", "result"}))
	m.gitlabRequests = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pipebot_gitlab_requests_total",
		Help: "GitLab API requests, by method and HTTP status code (\"error\" when no response arrived).",
	}, []string{"method", "code"}))
	m.gitlabDuration = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pipebot_gitlab_request_duration_seconds",
		Help:    "GitLab API request latency, by method.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"method"}))
	m.slackCalls = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pipebot_slack_calls_total",
		Help: "Slack Web API calls, by method and result.",
	}, []string{"method", "result"}))
	m.leader = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pipebot_leader",
		Help: "1 on the replica that polls GitLab and posts notifications (the leader), 0 on the others.",
	}))
	m.watches = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pipebot_watches",
		Help: "Pipelines currently watched.",
	}))
	m.pollDuration = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pipebot_poll_duration_seconds",
		Help:    "Duration of one watcher poll tick.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}))
	m.pollErrors = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pipebot_poll_errors_total",
		Help: "Watcher poll ticks that ended with an error.",
	}))
	m.webhooksHandled = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pipebot_webhooks_total",
		Help: "GitLab webhook deliveries, by event and result.",
	}, []string{"event", "result"}))
	m.slackDeliveries = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pipebot_slack_deliveries_total",
		Help: "Slack deliveries (slash commands, clicks, view submissions, events) accepted for work, by kind and result (queued, duplicate, busy).",
	}, []string{"kind", "result"}))
	return m
}

// register adds c to reg, or returns the equal collector reg already holds.
// Any other registration error is a programming error (bad name or labels),
// so it panics like MustRegister.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// Handler serves the metrics in the Prometheus exposition format. It serves
// the registry given to New when that registry is a Gatherer, and answers
// 404 for a nil *Metrics or a Registerer that cannot be gathered.
func (m *Metrics) Handler() http.Handler {
	if m == nil || m.gatherer == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// CommandDone counts one finished command. result is a small fixed word such
// as "ok", "user_error", "denied" or "error".
func (m *Metrics) CommandDone(command, result string) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(command, result).Inc()
}

// GitLabCall records one GitLab API request: method names the call (an HTTP
// method or an API operation name), status is the HTTP status code, or 0 when
// no response arrived (recorded as code "error"), and d is its latency.
func (m *Metrics) GitLabCall(method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.gitlabRequests.WithLabelValues(method, code).Inc()
	m.gitlabDuration.WithLabelValues(method).Observe(d.Seconds())
}

// SlackCall counts one Slack Web API call; result is "ok" or Slack's error
// code (for example "not_in_channel", "ratelimited").
func (m *Metrics) SlackCall(method, result string) {
	if m == nil {
		return
	}
	m.slackCalls.WithLabelValues(method, result).Inc()
}

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) {
	if m == nil {
		return
	}
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// SetWatches sets the number of pipelines currently watched.
func (m *Metrics) SetWatches(n int) {
	if m == nil {
		return
	}
	m.watches.Set(float64(n))
}

// PollDone records one watcher tick of duration d; a non-nil err also counts
// a poll error.
func (m *Metrics) PollDone(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.pollDuration.Observe(d.Seconds())
	if err != nil {
		m.pollErrors.Inc()
	}
}

// WebhookReceived counts one GitLab webhook delivery; event is the hook kind
// ("pipeline", "job") and result a small fixed word such as "ok",
// "duplicate", "unauthorized" or "bad_request".
func (m *Metrics) WebhookReceived(event, result string) {
	if m == nil {
		return
	}
	m.webhooksHandled.WithLabelValues(event, result).Inc()
}

// SlackDelivery counts one delivery from Slack handed to the worker pool;
// kind is "command", "action", "view_submission" or "event", result is
// "queued" or "busy" when it arrives, and "duplicate" when a worker drops a
// queued redelivery before it runs (so a duplicate was also queued).
func (m *Metrics) SlackDelivery(kind, result string) {
	if m == nil {
		return
	}
	m.slackDeliveries.WithLabelValues(kind, result).Inc()
}
