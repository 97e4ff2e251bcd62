package storetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// Populate writes records of every kind pipebot keeps into s, and a bucket
// of raw bytes no record type of this version knows (as a newer pipebot, or
// another branch's records, would leave): what a migration must carry over.
func Populate(t testing.TB, s *state.Store) {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("populate %s: %v", what, err)
		}
	}
	for i := range int64(5) {
		w := sampleWatch(fmt.Sprintf("C%d", i%2), 7, 100+i)
		w.CardPending = i == 0
		must("watch", s.PutWatch(w))
	}
	must("cursor", s.SetCursor(7, time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)))
	must("role", s.SetRole("U1", "admin"))
	must("role", s.SetRole("U2", "operator"))
	_, err := s.UpdateChannel("C0", func(c *state.Channel) error {
		c.DefaultProject, c.AllowedProjects = "group/app", []string{"group/app", "group/lib"}
		return nil
	})
	must("channel", err)
	for i := range 3 {
		_, err := s.AppendAudit(state.AuditEntry{User: "U1", Channel: "C0", Command: fmt.Sprintf("pipeline retry %d", i), Result: "ok"})
		must("audit", err)
	}
	_, err = s.MarkOnce("slack", "command:1.2", time.Hour)
	must("once", err)
	must("subscription", s.PutSubscription(state.Subscription{Channel: "C0", Target: state.ProjectTarget(7), ProjectID: 7,
		Project: "group/app", On: []string{"failed", "fixed"}, Refs: []string{"main", "!release/old"}}))
	_, err = s.RecordRefStatus(7, "main", 100, "failed")
	must("ref status", err)
	_, err = s.UpdateSubCard(state.SubCardKey{Channel: "C0", ProjectID: 7, PipelineID: 99}, func(c *state.SubCard, _ bool) error {
		c.MessageTS, c.LastStatus, c.FinalState = "1.2", "failed", state.FinalPosted
		return nil
	})
	must("sub card", err)
	must("group", s.SetGroupProjects(state.GroupProjects{Group: "grp", Projects: map[int64]string{7: "grp/app", 8: "grp/lib"}}))
	must("unfurl", s.PutUnfurl(state.Unfurl{Channel: "C0", TS: "1.3", URL: "https://gitlab.example.com/g/app/-/pipelines/100",
		ProjectID: 7, Project: "g/app", PipelineID: 100, LastStatus: "running"}))
	_, err = s.AddHomePipeline("U1", state.HomePipeline{ProjectID: 7, Project: "g/app", PipelineID: 100, Ref: "main", Status: "running"})
	must("home", err)
	_, _, err = s.Enqueue("watch", []byte(`{"channel":"C0"}`), "", nil, 0)
	must("queue", err)
	// A linked account, its tokens sealed (bytes only its key opens).
	_, err = s.WithLink("T0", "U1", func(l *state.Link, _ bool) (state.RecordOp, error) {
		l.GitLabUserID, l.GitLabUsername = 5, "alice"
		l.AccessToken, l.RefreshToken = []byte{0x8f, 0x00, 0x13, 0xfe}, []byte{0x01, 0x9c, 0x00}
		return state.Save, nil
	})
	must("link", err)
	must("pending login", s.PutPendingLogin(state.PendingLogin{StateHash: "h1", Team: "T0", User: "U1",
		Verifier: []byte{0xaa, 0x00}, ExpiresAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}))
	_, err = s.AddDigest(state.Digest{Channel: "C0", Project: "group/app", Cron: "0 9 * * 1", Spec: "0 9 * * 1", TZ: "UTC", Location: "UTC", Days: 7})
	must("digest", err)
	must("insight pipelines", s.PutInsightPipelines([]state.InsightPipeline{{ProjectID: 7, ID: 100, Status: "failed", Ref: "main",
		SHA: "abc", CreatedAt: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC), Jobs: []state.InsightJob{{ID: 1, Name: "unit", Status: "failed"}}}}))
	must("insight sync", s.PutInsightSync(state.InsightSync{ProjectID: 7, Ref: "main",
		From: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), Cursor: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)}))
	// A bucket this version does not know, holding bytes that are not
	// JSON (an encrypted token, say), and a sequence of its own.
	must("raw bucket", s.Engine().Update(context.Background(), func(tx state.Tx) error {
		if err := tx.CreateBucket(rawBucket); err != nil {
			return err
		}
		if err := tx.Put(rawBucket, []byte{0x00, 0xff, 0x10}, []byte{0x8f, 0x00, 0xfe, 0x01, 0x02, 0x00}); err != nil {
			return err
		}
		if err := tx.Put(rawBucket, []byte("empty"), []byte{}); err != nil {
			return err
		}
		return tx.SetSequence(rawBucket, 41)
	}))
}

var rawBucket = []byte("zz_from_the_future")

// Dump is every bucket of a database: its keys and values (hex) and its
// sequence, for comparing two databases.
func Dump(t testing.TB, e state.Engine) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := e.View(context.Background(), func(tx state.Tx) error {
		names, err := tx.Buckets()
		if err != nil {
			return err
		}
		for _, name := range names {
			var rows []string
			err := tx.Scan(name, nil, false, func(k, v []byte) error {
				rows = append(rows, fmt.Sprintf("%x=%x", k, v))
				return nil
			})
			if err != nil {
				return err
			}
			seq, err := tx.Sequence(name)
			if err != nil {
				return err
			}
			if len(rows) == 0 && seq == 0 {
				continue // declared but empty: nothing to carry
			}
			sort.Strings(rows)
			out[string(name)] = fmt.Sprintf("seq=%d %v", seq, rows)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return out
}
