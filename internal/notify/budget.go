package notify

import (
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// rateSource is how the poller learns what it spent and what GitLab
// allows: the client's request count and the RateLimit-* headers GitLab
// sent last.
type rateSource interface {
	Requests() uint64
	RateLimit() (gitlab.RateLimit, bool)
}

var _ rateSource = (*gitlab.Client)(nil)

// budget keeps the poller under GitLab's rate limit with room to spare for
// commands, unfurls and webhooks, which share the token. Per minute the
// poller spends at most Share of the announced RateLimit-Limit (or of
// AssumedRateLimit when GitLab announces none: self-managed instances have
// no limit by default, older versions send the headers only with a 429),
// and at most one tick's part of that per tick, so quiet projects are
// spread over the minute instead of polled in a burst. It also stops when
// GitLab's own count (RateLimit-Remaining, less the requests sent since)
// is down to the last tenth of the window, however it was spent (commands,
// another replica, another tool on the same token), and after a 429 until
// GitLab's Retry-After has passed.
//
// A check happens before each project's poll; the poll's own follow-up
// requests (jobs of a changed pipeline, its bridges) are charged after it,
// so a tick can overrun its part by one project's poll. The charge is the
// client's request count, so requests that commands send through the same
// client meanwhile are charged to the poller too: it errs toward leaving
// them room.
type budget struct {
	src      rateSource // nil: one request per poll is assumed
	share    float64
	assumed  int
	interval time.Duration

	mu        sync.Mutex // a Tick called while Run ticks (tests do) shares it
	minuteEnd time.Time
	used      int // requests this minute
	tickUsed  int
	blocked   time.Time // after a 429
}

func newBudget(src rateSource, share float64, assumed int, interval time.Duration) *budget {
	return &budget{src: src, share: share, assumed: assumed, interval: interval}
}

// limit is the per-minute quota: GitLab's announced RateLimit-Limit, else
// the assumed one.
func (b *budget) limit() (gitlab.RateLimit, bool, int) {
	if b.src != nil {
		if rl, ok := b.src.RateLimit(); ok {
			return rl, true, rl.Limit
		}
	}
	return gitlab.RateLimit{}, false, b.assumed
}

// startTick opens a tick's allowance.
func (b *budget) startTick(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !now.Before(b.minuteEnd) {
		b.minuteEnd, b.used = now.Add(time.Minute), 0
	}
	b.tickUsed = 0
}

// caps are the poller's requests per minute and per tick under the limit
// GitLab announced last, which may change within a tick (the first
// response to carry it, or a new limit).
func (b *budget) caps(limit int) (minute, tick int) {
	minute = max(1, int(b.share*float64(limit)))
	if b.interval >= time.Minute {
		return minute, minute
	}
	return minute, max(1, int((int64(minute)*int64(b.interval)+int64(time.Minute)-1)/int64(time.Minute)))
}

// allow reports whether the poller may send another request now.
func (b *budget) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	rl, ok, limit := b.limit()
	minuteCap, tickCap := b.caps(limit)
	if now.Before(b.blocked) || b.used >= minuteCap || b.tickUsed >= tickCap {
		return false
	}
	if !ok || !rl.Reset.After(now) {
		return true // no announcement, or its window is over
	}
	left := int64(rl.Remaining) - int64(b.src.Requests()-rl.Requests)
	return left > int64(rl.Window()/10)
}

// mark returns the request count before a poll; chargeSince charges the
// requests that went out since.
func (b *budget) mark() uint64 {
	if b.src == nil {
		return 0
	}
	return b.src.Requests()
}

func (b *budget) chargeSince(mark uint64) {
	n := 1
	if b.src != nil {
		n = int(b.src.Requests() - mark)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.tickUsed += n
}

// throttled stops the poller until GitLab's Retry-After has passed: the
// limit is per user, so one 429 speaks for every project.
func (b *budget) throttled(now time.Time, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := now.Add(wait); until.After(b.blocked) {
		b.blocked = until
	}
}
