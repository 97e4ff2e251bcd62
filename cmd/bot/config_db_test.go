package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDatabaseSettingsAreCheckedWithoutShowingThePassword(t *testing.T) {
	bad := []struct {
		name, value, want string
	}{
		{"another database", "mysql://u:" + sentinel + "@db/pipebot", "must be a postgres:// URL"},
		{"no host", "postgres://u:" + sentinel + "@/pipebot", "has no host"},
		{"not a URL at all", "pipebot-" + sentinel, "not a postgres:// URL nor a key=value"},
		{"a broken URL", "postgres://u:" + sentinel + "%zz@db/pipebot", "not a valid URL"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_DATABASE_URL", tt.value), noFiles(t))
			if err == nil {
				t.Fatal("loadConfig succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "PIPEBOT_DATABASE_URL:") || !strings.Contains(msg, tt.want) || strings.Contains(msg, sentinel) {
				t.Errorf("error %q: want it to name PIPEBOT_DATABASE_URL, say %q and never show the value", msg, tt.want)
			}
		})
	}
	for _, tt := range []struct{ value, want string }{
		{"500ms", "too short (at least 1s)"},
		{"15", "not a duration"},
	} {
		_, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_LEASE_TTL", tt.value), noFiles(t))
		if err == nil || !strings.HasPrefix(err.Error(), "PIPEBOT_LEASE_TTL:") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("PIPEBOT_LEASE_TTL=%s: %v, want %q", tt.value, err, tt.want)
		}
	}
}

func TestDatabaseSettingsAreRead(t *testing.T) {
	url := "postgres://pipebot:" + sentinel + "@db:5432/pipebot?sslmode=require"
	c, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_DATABASE_URL_FILE", "/run/secrets/db", "PIPEBOT_LEASE_TTL", "1s"),
		files(map[string]string{"/run/secrets/db": url + "\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != url || c.LeaseTTL != time.Second {
		t.Errorf("DatabaseURL %q, LeaseTTL %s", c.DatabaseURL, c.LeaseTTL)
	}
	for _, format := range []string{"%s", "%v", "%+v", "%#v"} {
		if out := fmt.Sprintf(format, c); strings.Contains(out, sentinel) || !strings.Contains(out, "database_url=set") {
			t.Errorf("%s: %s", format, out)
		}
	}
	kv := "host=db user=pipebot password=" + sentinel + " dbname=pipebot"
	if c, err := loadConfig(ModeServe, env(serveEnv, "PIPEBOT_DATABASE_URL", kv), noFiles(t)); err != nil || c.DatabaseURL != kv {
		t.Errorf("a key=value connection string: %q, %v", c.DatabaseURL, err)
	}
	if c, err := loadConfig(ModeDemo, env(nil, "PIPEBOT_DATABASE_URL", url), noFiles(t)); err != nil || c.DatabaseURL != "" {
		t.Errorf("demo keeps its own embedded store: %q, %v", c.DatabaseURL, err)
	}
}
