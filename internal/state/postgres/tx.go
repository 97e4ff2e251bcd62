package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pipebot/pipebot/internal/state"
)

// scanPage is how many rows a Scan reads per query: it reads a page and
// then calls fn for each row, so fn may use the transaction, and memory
// stays bounded on a large bucket.
const scanPage = 256

// querier is a transaction or, for a View's first try, a connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgTx is a state.Tx on one PostgreSQL transaction, or, for a View's first
// try, on a bare connection that may run one statement (single): most
// Views read one record, and a lone statement sees one snapshot of its
// own without the round trips of BEGIN and COMMIT. A second statement ends
// the try with errSnapshot, and View runs fn again in a transaction.
type pgTx struct {
	ctx    context.Context
	tx     querier
	single bool
	n      int // statements run
}

// errSnapshot ends a View's single-statement try that needs a second one.
var errSnapshot = errors.New("postgres: the view needs a transaction")

// errReadOnly refuses a write in a View.
var errReadOnly = errors.New("postgres: write in a read-only transaction")

// stmt counts a statement and refuses a second one in a single try.
func (t *pgTx) stmt() error {
	t.n++
	if t.single && t.n > 1 {
		return errSnapshot
	}
	return nil
}

// write refuses writes in a single try (they would commit on their own).
func (t *pgTx) write() error {
	if t.single {
		return errReadOnly
	}
	return t.stmt()
}

var _ state.Tx = (*pgTx)(nil)

func (t *pgTx) Get(bucket, key []byte) ([]byte, error) {
	if err := t.stmt(); err != nil {
		return nil, err
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, `SELECT value FROM pipebot_kv WHERE bucket = $1 AND key = $2`, string(bucket), key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr(err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *pgTx) Put(bucket, key, value []byte) error {
	if err := t.write(); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO pipebot_kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`, string(bucket), key, value)
	return dbErr(err)
}

func (t *pgTx) Delete(bucket, key []byte) (bool, error) {
	if err := t.write(); err != nil {
		return false, err
	}
	tag, err := t.tx.Exec(t.ctx, `DELETE FROM pipebot_kv WHERE bucket = $1 AND key = $2`, string(bucket), key)
	if err != nil {
		return false, dbErr(err)
	}
	return tag.RowsAffected() > 0, nil
}

type kvRow struct{ k, v []byte }

func (t *pgTx) Scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	// Keys are bytea, which PostgreSQL orders bytewise as bbolt does. The
	// prefix becomes a key range, so the primary key index serves it.
	return t.scan(bucket, prefix, state.PrefixEnd(prefix), reverse, fn)
}

func (t *pgTx) ScanFrom(bucket, from []byte, fn func(k, v []byte) error) error {
	return t.scan(bucket, from, nil, false, fn)
}

// scan walks lo <= key < hi (hi nil: no upper bound) a page at a time.
func (t *pgTx) scan(bucket, lo, hi []byte, reverse bool, fn func(k, v []byte) error) error {
	var after []byte // the last key seen: the next page starts past it
	for {
		rows, err := t.page(bucket, lo, hi, after, reverse)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r.k, r.v); err != nil {
				if errors.Is(err, state.ErrStopScan) {
					return nil
				}
				return err
			}
		}
		if len(rows) < scanPage {
			return nil
		}
		after = rows[len(rows)-1].k
	}
}

// page reads up to scanPage rows of bucket with lo <= key < hi (hi nil: no
// upper bound) past after, in key order or reversed.
func (t *pgTx) page(bucket, lo, hi, after []byte, reverse bool) ([]kvRow, error) {
	q := `SELECT key, value FROM pipebot_kv WHERE bucket = $1 AND key >= $2`
	args := []any{string(bucket), nonNil(lo)}
	if hi != nil {
		args = append(args, hi)
		q += fmt.Sprintf(" AND key < $%d", len(args))
	}
	if after != nil {
		args = append(args, after)
		if reverse {
			q += fmt.Sprintf(" AND key < $%d", len(args))
		} else {
			q += fmt.Sprintf(" AND key > $%d", len(args))
		}
	}
	if reverse {
		q += " ORDER BY key DESC"
	} else {
		q += " ORDER BY key"
	}
	q += fmt.Sprintf(" LIMIT %d", scanPage)
	if err := t.stmt(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	out := make([]kvRow, 0, 16)
	for rows.Next() {
		var r kvRow
		if err := rows.Scan(&r.k, &r.v); err != nil {
			rows.Close()
			return nil, dbErr(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	return out, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *pgTx) Count(bucket []byte) (int, error) {
	if err := t.stmt(); err != nil {
		return 0, err
	}
	var n int
	if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM pipebot_kv WHERE bucket = $1`, string(bucket)).Scan(&n); err != nil {
		return 0, dbErr(err)
	}
	return n, nil
}

func (t *pgTx) NextSequence(bucket []byte) (uint64, error) {
	if err := t.write(); err != nil {
		return 0, err
	}
	var n int64
	err := t.tx.QueryRow(t.ctx, `INSERT INTO pipebot_kv_seq (bucket, seq) VALUES ($1, 1)
		ON CONFLICT (bucket) DO UPDATE SET seq = pipebot_kv_seq.seq + 1 RETURNING seq`, string(bucket)).Scan(&n)
	if err != nil {
		return 0, dbErr(err)
	}
	return uint64(n), nil
}

func (t *pgTx) Sequence(bucket []byte) (uint64, error) {
	if err := t.stmt(); err != nil {
		return 0, err
	}
	var n int64
	err := t.tx.QueryRow(t.ctx, `SELECT seq FROM pipebot_kv_seq WHERE bucket = $1`, string(bucket)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbErr(err)
	}
	return uint64(n), nil
}

func (t *pgTx) SetSequence(bucket []byte, n uint64) error {
	if err := t.write(); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO pipebot_kv_seq (bucket, seq) VALUES ($1, $2)
		ON CONFLICT (bucket) DO UPDATE SET seq = EXCLUDED.seq`, string(bucket), int64(n))
	return dbErr(err)
}

// CreateBucket has nothing to do: buckets are a column of pipebot_kv.
func (t *pgTx) CreateBucket([]byte) error { return nil }

func (t *pgTx) Buckets() ([][]byte, error) {
	if err := t.stmt(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, `SELECT bucket FROM (SELECT DISTINCT bucket FROM pipebot_kv
		UNION SELECT bucket FROM pipebot_kv_seq WHERE seq > 0) b ORDER BY bucket COLLATE "C"`)
	if err != nil {
		return nil, dbErr(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr(err)
	}
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(n)
	}
	return out, nil
}

// Fence checks the leader lease's epoch and holds a share lock on its row
// until the transaction ends, so the lease cannot change hands while a
// fenced write is under way: a takeover waits for it, and a fenced
// transaction that starts after one sees the new epoch.
func (t *pgTx) Fence(epoch int64) error {
	if err := t.write(); err != nil {
		return err
	}
	var cur int64
	err := t.tx.QueryRow(t.ctx, `SELECT epoch FROM pipebot_lease WHERE name = $1 FOR SHARE`, state.LeaderLease).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: no lease at epoch %d", state.ErrFenced, epoch)
	}
	if err != nil {
		return dbErr(err)
	}
	if cur != epoch {
		return fmt.Errorf("%w: lease epoch is %d, this write is for %d", state.ErrFenced, cur, epoch)
	}
	return nil
}

// Notify queues a NOTIFY, which PostgreSQL delivers when the transaction
// commits.
func (t *pgTx) Notify(channel string) error {
	if err := t.write(); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `SELECT pg_notify($1, '')`, channel)
	return dbErr(err)
}
