package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// chromium starts a headless Chromium from PIPEBOT_TEST_CHROMIUM for the
// test, or skips it with how to run it.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("PIPEBOT_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PIPEBOT_TEST_CHROMIUM to a Chromium binary to run the browser test, e.g. PIPEBOT_TEST_CHROMIUM=/usr/bin/chromium (Debian: apt-get install chromium)")
	}
	// The machine has no network: every background feature that would
	// reach out is off, and QUIC too.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	// The first run starts the browser, which lives as long as the
	// context of that run: no timeout on it, only on the steps after.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// TestBrowserLinksAnAccountAndTheNextCommandRunsAsIt drives the whole
// link flow in a real browser: the /ci login button's URL, the
// simulator's approval page (sign in as alice, click Authorize),
// pipebot's success page; then a command that runs as alice.
func TestBrowserLinksAnAccountAndTheNextCommandRunsAsIt(t *testing.T) {
	ctx := chromium(t)
	e := newIdentityE2E(t, "linked", io.Discard)
	login := e.loginURL(idSlackAlice)

	text := func(sel string) (string, error) { return chromedp.Run(ctx, chromedp.Text(sel)) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(login),
		chromedp.WaitVisible(`button[value="authorize"]`),
	); err != nil {
		t.Fatal(err)
	}
	approval, err := text(`h1`)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`input[name="username"]`, "alice"),
		chromedp.Click(`button[value="authorize"]`),
		chromedp.WaitVisible(`#message`),
	); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	message, err := text(`#message`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(approval, "Authorize "+idClientID) {
		t.Errorf("approval page heading %q", approval)
	}
	if !strings.Contains(message, "Slack @someone is now linked to GitLab @alice") || !strings.Contains(title, "Linked") {
		t.Fatalf("success page: %q / %q", title, message)
	}

	e.sim.ResetRequests()
	mustContain(t, "jobs as alice", e.cmd(idSlackAlice, "pipelines team/web"), "Pipelines of team/web")
	reqs := e.sim.Requests()
	if len(reqs) == 0 {
		t.Fatal("the command made no GitLab request")
	}
	for _, r := range reqs {
		if r.Credential != simulator.CredentialOAuth || r.ActingUserID != idAlice || r.TokenValue == idGitLabToken {
			t.Errorf("%s %s went as %s/%d, want alice's OAuth token", r.Method, r.Path, r.Credential, r.ActingUserID)
		}
	}

	// The same login link again, in the same browser: used up.
	if err := chromedp.Do(ctx, chromedp.Navigate(login), chromedp.WaitVisible(`#message`)); err != nil {
		t.Fatal(err)
	}
	again, err := text(`#message`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again, "unknown or was already used") {
		t.Errorf("reused link: %q", again)
	}
}
