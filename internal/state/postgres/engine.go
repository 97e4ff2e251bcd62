// Package postgres is pipebot's PostgreSQL store: a state.Engine over one
// table of buckets and keys (pipebot_kv), so that every record type of
// package state behaves as on bbolt, plus what the database itself must
// decide when several replicas share it: the leader lease (pipebot_lease,
// on the database's clock), fencing by its epoch, and LISTEN/NOTIFY
// wake-ups. Read-modify-write transactions run SERIALIZABLE and are retried
// when PostgreSQL reports that they lost a race, so a create-if-absent or an
// increment made by two processes at once is never lost.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pipebot/pipebot/internal/state"
)

// DefaultConnectWait is how long Connect retries a database that cannot be
// reached when Options.ConnectWait is zero.
const DefaultConnectWait = 30 * time.Second

// defaultMaxConns is the connection pool's size unless the URL sets
// pool_max_conns; each process also holds up to three listening
// connections of its own.
const defaultMaxConns = 12

// maxAttempts bounds how often one transaction is run again after losing a
// serialization race (or meeting a dead pooled connection); the operation's
// context bounds it in time. Races are rare in practice (replicas write the
// same record at the same moment), but a record many writers hammer at
// once needs many tries.
const maxAttempts = 500

// Options configures Connect and Open.
type Options struct {
	// Store is passed to state.New by Open.
	Store state.Options
	// ConnectWait bounds how long Connect retries an unreachable database;
	// zero means DefaultConnectWait.
	ConnectWait time.Duration
}

// Engine is a state.Engine on a PostgreSQL database. It is safe for
// concurrent use.
type Engine struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for LISTEN connections, outside the pool
	secrets []string        // the password, as given and URL-escaped
	display string          // the URL with the password replaced
}

var (
	_ state.Engine = (*Engine)(nil)
	_ state.Leaser = (*Engine)(nil)
)

// Open connects to the database at url (see Connect) and returns a Store on
// it, migrated to the schema this binary knows.
func Open(ctx context.Context, url string, opts Options) (*state.Store, error) {
	e, err := Connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	s, err := state.New(e, opts.Store)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("open %s: %s", e.display, e.redact(err))
	}
	return s, nil
}

// Connect connects to the database at url (postgres://… or key=value),
// retrying for up to Options.ConnectWait while it cannot be reached, and
// creates or upgrades pipebot's tables. Errors never hold the password.
func Connect(ctx context.Context, url string, opts Options) (*Engine, error) {
	if opts.ConnectWait <= 0 {
		opts.ConnectWait = DefaultConnectWait
	}
	secrets := passwordsOf(url)
	display := displayURL(url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL %s: %s", display, oneLine(redact(err.Error(), secrets)))
	}
	secrets = appendPassword(secrets, cfg.ConnConfig.Password)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// Dead connections (a database restart) are found before use rather
	// than by a failed transaction.
	cfg.HealthCheckPeriod = 5 * time.Second
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default is the number of CPUs (at least 4); pipebot
		// runs 8 command workers, the watcher and the relay at once.
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", display, oneLine(redact(err.Error(), secrets)))
	}
	e := &Engine{pool: pool, connCfg: cfg.ConnConfig.Copy(), secrets: secrets, display: display}
	if err := e.waitReachable(ctx, opts.ConnectWait); err != nil {
		pool.Close()
		return nil, err
	}
	if err := e.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate %s: %w", display, e.redact(err))
	}
	return e, nil
}

// waitReachable pings until the database answers or wait has passed.
func (e *Engine) waitReachable(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	delay := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := e.pool.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if !connectionLevel(err) {
			// A wrong password or database name: waiting will not help.
			return fmt.Errorf("connect to %s: %w", e.display, e.redact(err))
		}
		if time.Now().Add(delay).After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cannot reach the database at %s after %s: %w", e.display, wait,
				e.redact(fmt.Errorf("%w: %w", state.ErrUnavailable, err)))
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Display is the database URL with its password replaced, for logs.
func (e *Engine) Display() string { return e.display }

// Close closes every connection.
func (e *Engine) Close() error {
	e.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.pool.Ping(ctx); err != nil {
		return e.wrap(dbErr(err))
	}
	return nil
}

// View runs fn on one snapshot. It first tries fn on a bare connection,
// where a lone statement is its own snapshot (one round trip instead of
// three); when fn needs a second statement, it runs fn again in a
// REPEATABLE READ, READ ONLY transaction, which never meets a serialization
// failure.
func (e *Engine) View(ctx context.Context, fn func(state.Tx) error) error {
	err := e.viewSingle(ctx, fn)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, errSnapshot) && !retryable(err, false):
		return e.wrap(err)
	}
	return e.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, 0, fn)
}

func (e *Engine) viewSingle(ctx context.Context, fn func(state.Tx) error) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return dbErr(err)
	}
	defer conn.Release()
	return fn(&pgTx{ctx: ctx, tx: conn, single: true})
}

// Update runs fn in a SERIALIZABLE transaction, again when PostgreSQL
// reports a serialization failure or deadlock (40001, 40P01).
func (e *Engine) Update(ctx context.Context, fn func(state.Tx) error) error {
	return e.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, 0, fn)
}

// migrateLock is the advisory lock key that Exclusive transactions hold:
// "pipebot" in ASCII.
const migrateLock int64 = 0x70697065626f74

// Exclusive runs fn in a READ COMMITTED transaction that first takes an
// advisory transaction lock, so Exclusive transactions of every process
// run one at a time and each statement sees what the previous one
// committed.
func (e *Engine) Exclusive(ctx context.Context, fn func(state.Tx) error) error {
	return e.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, migrateLock, fn)
}

// run runs fn in a transaction with opts (under the advisory lock when lock
// is not 0), again after a serialization failure, a deadlock, or a
// connection that failed before the commit was sent.
func (e *Engine) run(ctx context.Context, opts pgx.TxOptions, lock int64, fn func(state.Tx) error) error {
	onTx := func(tx pgx.Tx) error { return fn(&pgTx{ctx: ctx, tx: tx}) }
	for attempt := 1; ; attempt++ {
		committing, err := e.once(ctx, opts, lock, onTx)
		if err == nil {
			return nil
		}
		if attempt >= maxAttempts || ctx.Err() != nil || !retryable(err, committing) {
			return e.wrap(err)
		}
		// Exponential backoff with full jitter: racing transactions retried
		// in step would race again, and a transaction that lost many times
		// is not made to wait longer than a fresh one.
		d := time.Duration(rand.Int64N(int64(min(20*time.Millisecond, (500*time.Microsecond)<<min(attempt, 6)))))
		select {
		case <-ctx.Done():
			return e.wrap(err)
		case <-time.After(d):
		}
	}
}

// once runs fn in one transaction with opts (under the advisory lock when
// lock is not 0); committing tells whether the error came from the COMMIT
// (when it may have happened).
func (e *Engine) once(ctx context.Context, opts pgx.TxOptions, lock int64, fn func(pgx.Tx) error) (committing bool, err error) {
	tx, err := e.pool.BeginTx(ctx, opts)
	if err != nil {
		return false, dbErr(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if lock != 0 {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lock); err != nil {
			return false, dbErr(err)
		}
	}
	if err := fn(tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return true, dbErr(err)
	}
	return false, nil
}

// dbError marks an error that came from talking to PostgreSQL, as opposed
// to one fn returned on its own (a record not found, a fenced write).
type dbError struct{ err error }

func (d *dbError) Error() string { return d.err.Error() }
func (d *dbError) Unwrap() error { return d.err }

func dbErr(err error) error {
	if err == nil {
		return nil
	}
	return &dbError{err: err}
}

// retryable reports whether a transaction that failed with err may simply
// run again.
func retryable(err error, committing bool) bool {
	var d *dbError
	if !errors.As(err, &d) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	if committing {
		// The commit may have happened: running fn again could apply it
		// twice. Only an error before anything was sent is safe.
		return pgconn.SafeToRetry(err)
	}
	// Nothing was committed: a dead pooled connection is replaced on the
	// next try, and an outage is waited out until ctx ends.
	return connectionLevel(err)
}

// connectionLevel reports whether err, from talking to PostgreSQL, means
// that the database could not be reached or the connection broke, rather
// than that the database answered with an error.
func connectionLevel(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// connection_exception, admin or crash shutdown, cannot connect
		// now, too many connections.
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03" || c == "53300"
	}
	return !errors.Is(err, context.Canceled)
}

// unavailable reports whether err means the database is unreachable.
func unavailable(err error) bool {
	var d *dbError
	return errors.As(err, &d) && connectionLevel(err)
}

// wrap redacts err and marks an unreachable database with
// state.ErrUnavailable.
func (e *Engine) wrap(err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) && !errors.Is(err, state.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", state.ErrUnavailable, err)
	}
	return e.redact(err)
}
