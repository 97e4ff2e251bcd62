package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// DESIGN §1: a setting serve cannot use stops it with one line naming the
// variable; a bbolt file that cannot be opened is PIPEBOT_DB_PATH's.
func TestAnUnusableDBPathStopsServeNamingPIPEBOT_DB_PATH(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, "pipebot.db")
	first, err := openStore(Config{DBPath: held})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	tests := []struct {
		name, path, say string
	}{
		{"directory missing", filepath.Join(dir, "missing", "pipebot.db"), "no such file or directory"},
		{"held by another pipebot", held, "is another pipebot running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := openStore(Config{DBPath: tt.path})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "PIPEBOT_DB_PATH: ") || !strings.Contains(msg, tt.say) || strings.Contains(msg, "\n") {
				t.Errorf("error %q; want one line starting with PIPEBOT_DB_PATH: and saying %q", msg, tt.say)
			}
		})
	}
}
