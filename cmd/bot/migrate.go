package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

const migrateUsage = `usage: pipebot migrate --to postgres://USER:PASSWORD@HOST:5432/DATABASE

Copies the bbolt file at PIPEBOT_DB_PATH (default pipebot.db) into an empty
PostgreSQL database: every bucket, byte for byte (stored tokens stay
encrypted), and checks the counts. Stop pipebot first: the file must not be
in use. Without --to, PIPEBOT_DATABASE_URL (or PIPEBOT_DATABASE_URL_FILE)
names the target, which keeps the password off the command line.
`

// migrate runs `pipebot migrate`.
func migrate(ctx context.Context, args []string, stdout io.Writer) error {
	to, err := migrateTarget(args)
	if errors.Is(err, errMigrateHelp) {
		fmt.Fprint(stdout, migrateUsage)
		return nil
	}
	if err != nil {
		return err
	}
	l := loader{getenv: os.Getenv, readFile: os.ReadFile}
	path := l.plain("PIPEBOT_DB_PATH", defaultDBPath)
	if to == "" {
		to = l.databaseURL("PIPEBOT_DATABASE_URL")
		if l.err == nil && to == "" {
			l.fail("migrate: --to postgres://… is required (or set PIPEBOT_DATABASE_URL)")
		}
	} else {
		to = l.checkDatabaseURL("--to", to) // the variable's checks, naming the flag
	}
	if l.err != nil {
		return l.err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("PIPEBOT_DB_PATH: no bbolt file to migrate at %s", path)
	}

	src, err := state.OpenBolt(path, state.BoltOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	srcVersion, err := state.SchemaVersionOf(ctx, src)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if srcVersion > state.KnownSchemaVersion() {
		return fmt.Errorf("%s is at schema v%d, this pipebot knows up to v%d: migrate with the pipebot that wrote it",
			path, srcVersion, state.KnownSchemaVersion())
	}

	dst, err := postgres.Connect(ctx, to, postgres.Options{})
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	start := time.Now()
	counts, err := state.Copy(cctx, dst, src)
	if errors.Is(err, state.ErrTargetNotEmpty) {
		return fmt.Errorf("refusing to migrate into %s: %w; migrate into a new, empty database", dst.Display(), err)
	}
	if err != nil {
		return fmt.Errorf("migrate %s into %s: %w", path, dst.Display(), err)
	}
	// Open it as serve will: records from an older pipebot are brought up
	// to this one's schema now.
	s, err := state.New(dst, state.Options{})
	if err != nil {
		return fmt.Errorf("open %s after the copy: %w", dst.Display(), err)
	}
	v, _ := s.SchemaVersion()

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bucket\trecords\tsequence\t")
	total := 0
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", c.Bucket, c.Records, c.Sequence)
		total += c.Records
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d records in %d buckets from %s to %s in %s (counts checked, schema v%d)\n",
		total, len(counts), path, dst.Display(), time.Since(start).Round(time.Millisecond), v)
	fmt.Fprintln(stdout, "next: set PIPEBOT_DATABASE_URL and start pipebot; keep the bbolt file until you are happy")
	return nil
}

// errMigrateHelp: the arguments ask for migrate's usage.
var errMigrateHelp = errors.New("migrate: usage asked")

// migrateTarget reads --to URL, --to=URL or nothing from args.
func migrateTarget(args []string) (string, error) {
	to := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help" || a == "help":
			return "", errMigrateHelp
		case a == "--to" || a == "-to":
			if i+1 >= len(args) {
				return "", errors.New("migrate: --to needs a postgres:// URL")
			}
			to = args[i+1]
			i++
		case strings.HasPrefix(a, "--to=") || strings.HasPrefix(a, "-to="):
			to = a[strings.Index(a, "=")+1:]
		default:
			return "", fmt.Errorf("migrate: unknown argument %q\n%s", redactArg(a), migrateUsage)
		}
	}
	return to, nil
}

// redactArg keeps a stray argument that looks like a connection string
// (a password in it) out of the message.
func redactArg(a string) string {
	if strings.Contains(a, "://") || strings.Contains(a, "password") {
		return "(a connection string, not shown)"
	}
	return a
}
