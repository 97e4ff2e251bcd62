package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Asking any subcommand for help prints its usage on stdout and exits 0; it
// never starts the subcommand (serve would otherwise stop on a missing
// SLACK_BOT_TOKEN, which is no answer to --help).
func TestEverySubcommandAnswersHelp(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Usage: pipebot [serve|demo|console|migrate|version]"},
		{[]string{"help"}, "Usage: pipebot [serve|demo|console|migrate|version]"},
		{[]string{"serve", "--help"}, "Usage: pipebot [serve|demo|console|migrate|version]"},
		{[]string{"demo", "-h"}, "Usage: pipebot [serve|demo|console|migrate|version]"},
		{[]string{"console", "--help"}, "Usage: pipebot [serve|demo|console|migrate|version]"},
		{[]string{"migrate", "--help"}, "usage: pipebot migrate --to postgres://"},
		{[]string{"migrate", "-h"}, "usage: pipebot migrate --to postgres://"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errs bytes.Buffer
			if err := run(context.Background(), c.args, strings.NewReader(""), &out, &errs); err != nil {
				t.Fatalf("exit with %v", err)
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("stdout %q lacks %q", out.String(), c.want)
			}
		})
	}
}
