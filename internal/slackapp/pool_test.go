package slackapp

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// recorder is a Handler that records what it handled.
type recorder struct {
	mu   sync.Mutex
	reqs []Request
}

func (r *recorder) Handle(_ context.Context, req Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

func (r *recorder) got() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// onceMap is a dedupe Once backed by a map, as the state store is.
func onceMap() func(...string) bool {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(keys ...string) bool {
		mu.Lock()
		defer mu.Unlock()
		first := true
		for _, k := range keys {
			first = first && !seen[k]
			seen[k] = true
		}
		return first
	}
}

// blocker is a Handler whose calls block until released.
type blocker struct {
	started chan string
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), release: make(chan struct{})}
}

func (b *blocker) Handle(ctx context.Context, req Request) {
	b.started <- req.Text
	select {
	case <-b.release:
	case <-ctx.Done():
	}
}

func TestPoolSubmitReturnsErrBusyWhenQueueFull(t *testing.T) {
	b := newBlocker()
	p := NewPool(PoolConfig{Workers: 1, Queue: 1, Once: onceMap()}, b)
	p.Start(t.Context())
	defer p.Stop()

	if err := p.Submit(Request{Text: "running"}); err != nil {
		t.Fatalf("first submit: %v", err)
	}
	<-b.started // the only worker is now busy
	if err := p.Submit(Request{Text: "queued"}); err != nil {
		t.Fatalf("second submit: %v", err)
	}
	err := p.Submit(Request{Text: "refused", DedupeKey: "action:T1"})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("third submit = %v, want ErrBusy", err)
	}
	close(b.release)
	p.Wait()
	// The refused delivery did not use up its dedupe key: Slack's retry runs.
	if err := p.Submit(Request{Text: "retried", DedupeKey: "action:T1"}); err != nil {
		t.Fatalf("retry after busy: %v", err)
	}
	if got := <-b.started; got != "queued" {
		t.Fatalf("next handled = %q, want queued", got)
	}
	if got := <-b.started; got != "retried" {
		t.Fatalf("next handled = %q, want retried", got)
	}
	p.Wait()
	if s := p.Stats(); s.Busy != 1 || s.Handled != 3 {
		t.Errorf("stats = %+v, want Busy 1, Handled 3", s)
	}
}

func TestPoolDropsDuplicatesSilently(t *testing.T) {
	rec := &recorder{}
	p := NewPool(PoolConfig{Workers: 2, Once: onceMap()}, rec)
	p.Start(t.Context())
	defer p.Stop()
	for _, key := range []string{"event:Ev1", "event:Ev1", "event:Ev2", "", ""} {
		if err := p.Submit(Request{DedupeKey: key, Text: key}); err != nil {
			t.Fatalf("submit %q: %v", key, err)
		}
	}
	p.Wait()
	if got := len(rec.got()); got != 4 {
		t.Fatalf("handled %d requests, want 4 (one duplicate dropped, empty keys never deduped)", got)
	}
	if s := p.Stats(); s.Duplicates != 1 {
		t.Errorf("duplicates = %d, want 1", s.Duplicates)
	}
}

func TestPoolRunsOneOfTwoCopiesRacingOnTwoWorkers(t *testing.T) {
	for i := range 50 {
		rec := &recorder{}
		p := NewPool(PoolConfig{Workers: 2, Once: onceMap()}, rec)
		p.Start(t.Context())
		// A Socket Mode redelivery carries both keys of the first copy.
		req := Request{Kind: KindEvent, DedupeKey: "event:Ev" + strconv.Itoa(i), EnvelopeKey: "envelope:e" + strconv.Itoa(i)}
		for range 2 {
			if err := p.Submit(req); err != nil {
				t.Fatal(err)
			}
		}
		p.Wait()
		p.Stop()
		if n := len(rec.got()); n != 1 {
			t.Fatalf("copy %d: handled %d times, want once", i, n)
		}
	}
}

func TestPoolDropsARequestWhenEitherOfItsKeysWasSeen(t *testing.T) {
	var mu sync.Mutex
	var results []string
	rec := &recorder{}
	p := NewPool(PoolConfig{Workers: 1, Once: onceMap(), Observe: func(k Kind, r string) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, k.String()+" "+r)
	}}, rec)
	p.Start(t.Context())
	defer p.Stop()
	steps := []struct {
		name string
		req  Request
	}{
		{"first delivery", Request{Kind: KindCommand, Text: "first", DedupeKey: "command:1.1", EnvelopeKey: "envelope:e1"}},
		{"same envelope redelivered", Request{Kind: KindCommand, DedupeKey: "command:1.1", EnvelopeKey: "envelope:e1", Retry: 1}},
		{"same payload in a new envelope", Request{Kind: KindCommand, DedupeKey: "command:1.1", EnvelopeKey: "envelope:e2", Retry: 2}},
		{"that new envelope again, without a payload key", Request{Kind: KindCommand, EnvelopeKey: "envelope:e2", Retry: 3}},
		{"a payload with no key in the first envelope", Request{Kind: KindCommand, EnvelopeKey: "envelope:e1"}},
		{"the same text typed again", Request{Kind: KindCommand, Text: "again", DedupeKey: "command:2.2", EnvelopeKey: "envelope:e3"}},
		{"a click with only a payload key", Request{Kind: KindAction, Text: "click", DedupeKey: "action:T1"}},
	}
	for _, s := range steps {
		if err := p.Submit(s.req); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	p.Wait()
	var texts []string
	for _, r := range rec.got() {
		texts = append(texts, r.Text)
	}
	if strings.Join(texts, ",") != "first,again,click" {
		t.Errorf("handled %q, want first,again,click", texts)
	}
	// Each arrival is queued; the one worker drops the redeliveries, in
	// the order they came.
	mu.Lock()
	defer mu.Unlock()
	var queued, dropped []string
	for _, r := range results {
		if strings.HasSuffix(r, " queued") {
			queued = append(queued, r)
		} else {
			dropped = append(dropped, r)
		}
	}
	if len(queued) != len(steps) {
		t.Errorf("observed %d arrivals queued, want %d: %v", len(queued), len(steps), results)
	}
	if got, want := strings.Join(dropped, ","), "command duplicate,command duplicate,command duplicate,command duplicate"; got != want {
		t.Errorf("observed %s\nwant     %s", got, want)
	}
}

func TestPoolRecoversPanics(t *testing.T) {
	var logs bytes.Buffer
	rec := &recorder{}
	h := HandlerFunc(func(ctx context.Context, req Request) {
		if req.Text == "boom" {
			panic("kaboom")
		}
		rec.Handle(ctx, req)
	})
	p := NewPool(PoolConfig{Workers: 1, Logger: zerolog.New(&logs)}, h)
	p.Start(t.Context())
	defer p.Stop()
	for _, text := range []string{"boom", "after"} {
		if err := p.Submit(Request{Text: text, Kind: KindCommand}); err != nil {
			t.Fatal(err)
		}
	}
	p.Wait()
	if got := rec.got(); len(got) != 1 || got[0].Text != "after" {
		t.Fatalf("handled %+v, want the request after the panic", got)
	}
	if s := p.Stats(); s.Panics != 1 {
		t.Errorf("panics = %d, want 1", s.Panics)
	}
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestPoolTimeoutCancelsHandlerContext(t *testing.T) {
	errc := make(chan error, 1)
	h := HandlerFunc(func(ctx context.Context, _ Request) {
		<-ctx.Done()
		errc <- ctx.Err()
	})
	p := NewPool(PoolConfig{Workers: 1, Timeout: 20 * time.Millisecond, Logger: zerolog.Nop()}, h)
	p.Start(t.Context())
	defer p.Stop()
	if err := p.Submit(Request{}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler ctx error = %v, want deadline exceeded", err)
	}
	p.Wait()
	if s := p.Stats(); s.TimedOut != 1 {
		t.Errorf("timed out = %d, want 1", s.TimedOut)
	}
}

func TestPoolStopDrainsQueueAndRefusesNewWork(t *testing.T) {
	rec := &recorder{}
	p := NewPool(PoolConfig{Workers: 2, Queue: 100}, rec)
	for range 50 {
		if err := p.Submit(Request{}); err != nil {
			t.Fatal(err)
		}
	}
	p.Start(t.Context())
	p.Stop()
	if got := len(rec.got()); got != 50 {
		t.Fatalf("handled %d before Stop returned, want 50", got)
	}
	if err := p.Submit(Request{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("submit after stop = %v, want ErrBusy", err)
	}
	p.Stop() // idempotent
	p.Wait() // returns at once
}

func TestPoolStopsWhenStartContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	h := HandlerFunc(func(ctx context.Context, _ Request) {
		<-ctx.Done()
		got <- ctx.Err()
	})
	p := NewPool(PoolConfig{Workers: 1}, h)
	p.Start(ctx)
	if err := p.Submit(Request{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx = %v, want canceled", err)
	}
	p.Wait()
	p.Stop()
	if err := p.Submit(Request{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("submit after ctx end = %v, want ErrBusy", err)
	}
}

func TestPoolWaitReturnsWhenIdle(t *testing.T) {
	rec := &recorder{}
	p := NewPool(PoolConfig{Workers: 4}, rec)
	p.Start(t.Context())
	defer p.Stop()
	p.Wait() // nothing submitted: must not block
	for range 100 {
		if err := p.Submit(Request{}); err != nil {
			t.Fatal(err)
		}
	}
	p.Wait()
	if got := len(rec.got()); got != 100 {
		t.Fatalf("after Wait handled %d, want 100", got)
	}
}

func TestNewPoolDefaults(t *testing.T) {
	p := NewPool(PoolConfig{}, &recorder{})
	if p.cfg.Workers != 8 || p.cfg.Queue != 256 || p.cfg.Timeout != 2*time.Minute {
		t.Fatalf("defaults = %d workers, %d queue, %s timeout", p.cfg.Workers, p.cfg.Queue, p.cfg.Timeout)
	}
}
