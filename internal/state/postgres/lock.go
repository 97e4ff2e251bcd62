package postgres

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

var _ state.Locker = (*Engine)(nil)

// lockKey maps a lock's name to the 64-bit key of a PostgreSQL advisory
// lock.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("pipebot lock " + name))
	return int64(h.Sum64())
}

// Lock takes a session advisory lock on a pooled connection it keeps until
// unlock: every process on the database sees it. Should that connection
// break, PostgreSQL releases the lock; what it guarded must still write its
// result through a transaction that checks what it read.
func (e *Engine) Lock(ctx context.Context, name string) (func(), error) {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, e.wrap(dbErr(err))
	}
	k := lockKey(name)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", k); err != nil {
		// A wait that ctx ended may have left the session in doubt: the
		// connection is not reused.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
		if ctx.Err() != nil {
			return nil, ctx.Err() // waited in vain: the database is fine
		}
		return nil, e.wrap(dbErr(err))
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", k); err != nil {
				_ = conn.Conn().Close(uctx) // the session ends, and its lock with it
			}
			conn.Release()
		})
	}, nil
}
