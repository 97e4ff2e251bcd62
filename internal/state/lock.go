package state

import (
	"context"
	"fmt"
	"sync"
)

// Locker is an Engine that keeps named locks every process sharing the
// database sees (PostgreSQL's advisory locks).
type Locker interface {
	// Lock waits until it holds the lock called name, or ctx ends; the
	// lock is held until unlock is called (or the process dies).
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// Lock holds the lock called name until unlock is called, waiting for it
// until ctx ends: one holder at a time across every process sharing the
// store (PostgreSQL), or within this process on an engine only one
// process opens (bbolt). It is for work that must not run twice at once
// yet cannot sit inside a transaction because it calls the network, such
// as refreshing an OAuth token GitLab rotates: read, refresh, and write
// the result with Update while holding it.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	if l, ok := s.db.engine.(Locker); ok {
		unlock, err = l.Lock(ctx, name)
	} else {
		unlock, err = processLocks.lock(ctx, fmt.Sprintf("%p/%s", s.db.engine, name))
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return unlock, nil
}

// localLocks are the named locks of engines one process holds.
type localLocks struct {
	mu sync.Mutex
	m  map[string]*localLock
}

type localLock struct {
	ch      chan struct{} // holds one token while locked
	waiters int
}

var processLocks = &localLocks{m: map[string]*localLock{}}

func (ls *localLocks) lock(ctx context.Context, k string) (func(), error) {
	ls.mu.Lock()
	l := ls.m[k]
	if l == nil {
		l = &localLock{ch: make(chan struct{}, 1)}
		ls.m[k] = l
	}
	l.waiters++
	ls.mu.Unlock()
	release := func() {
		ls.mu.Lock()
		l.waiters--
		if l.waiters == 0 {
			delete(ls.m, k)
		}
		ls.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l.ch; release() }) }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
