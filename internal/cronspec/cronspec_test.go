package cronspec

import (
	"testing"
	"time"
)

func TestParseRecoversRobfigPanics(t *testing.T) {
	// robfig/cron v3.0.1 slices out of range on a TZ= prefix without a space.
	for _, spec := range []string{"TZ=", "CRON_TZ=", "TZ=x"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) returned no error", spec)
		}
	}
}

func TestParseTakesFiveFields(t *testing.T) {
	s, err := Parse("30 2 * * 1-5")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC) // a Saturday
	if got, want := s.Next(from), time.Date(2026, 1, 5, 2, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next run %v, want %v", got, want)
	}
	for _, spec := range []string{"0 30 2 * * 1", "@daily", "0 2 * *"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) returned no error", spec)
		}
	}
}
