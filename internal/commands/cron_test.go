package commands

import (
	"strings"
	"testing"
	"time"
)

func TestParseCronAcceptsGitLabFiveFieldSpecs(t *testing.T) {
	cases := []struct {
		name, spec string
		from       time.Time
		want       string // first run, UTC, RFC 3339
	}{
		{"every minute", "* * * * *", time.Date(2025, 1, 1, 10, 0, 30, 0, time.UTC), "2025-01-01T10:01:00Z"},
		{"daily at two", "0 2 * * *", time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC), "2025-01-02T02:00:00Z"},
		{"weekdays with a range", "30 9 * * 1-5", time.Date(2025, 1, 3, 10, 0, 0, 0, time.UTC), "2025-01-06T09:30:00Z"},
		{"steps and lists", "*/15 8,20 * * *", time.Date(2025, 1, 1, 8, 50, 0, 0, time.UTC), "2025-01-01T20:00:00Z"},
		{"month and day names", "0 0 1 JAN,jul MON-FRI", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), "2025-07-01T00:00:00Z"},
		{"seven is Sunday", "0 12 * * 7", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "2025-01-05T12:00:00Z"},
		{"range ending on seven", "0 12 * * 6-7", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "2025-01-04T12:00:00Z"},
		{"extra spaces are fine", "  0   2 * *  * ", time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC), "2025-01-02T02:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseCron(c.spec)
			if err != nil {
				t.Fatalf("parseCron(%q): %v", c.spec, err)
			}
			runs := s.next(c.from, time.UTC, 3)
			if len(runs) != 3 {
				t.Fatalf("want 3 runs, got %v", runs)
			}
			if got := runs[0].Format(time.RFC3339); got != c.want {
				t.Errorf("first run %s, want %s", got, c.want)
			}
			if !runs[0].Before(runs[1]) || !runs[1].Before(runs[2]) {
				t.Errorf("runs not increasing: %v", runs)
			}
		})
	}
}

func TestParseCronRefusesWithASentence(t *testing.T) {
	cases := []struct {
		name, spec, want string
	}{
		{"empty", "   ", "cron is empty"},
		{"six fields (seconds)", "0 * * * * *", "has 6 fields"},
		{"four fields", "* * * *", "has 4 fields"},
		{"descriptor", "@daily", "shortcut like @daily"},
		{"every descriptor", "@every 1h", "shortcut like @daily"},
		{"TZ prefix (panics inside robfig)", "TZ=Europe/Paris 0 2 * * *", "as `tz:`"},
		{"bare TZ= (panics inside robfig)", "TZ=", "as `tz:`"},
		{"CRON_TZ prefix", "CRON_TZ=UTC 0 2 * * *", "as `tz:`"},
		{"L for last day", "0 0 L * *", "`L`, `W`, `#`"},
		{"hash for nth weekday", "0 0 * * 5#3", "`L`, `W`, `#`"},
		{"W for nearest weekday", "0 0 15W * *", "`L`, `W`, `#`"},
		{"question mark", "0 0 ? * *", "`L`, `W`, `#`"},
		{"minute out of range", "61 * * * *", "not a valid cron"},
		{"hour out of range", "0 24 * * *", "not a valid cron"},
		{"zero step", "*/0 * * * *", "not a valid cron"},
		{"negative step", "*/-1 * * * *", "not a valid cron"},
		{"backwards range", "5-1 * * * *", "not a valid cron"},
		{"garbage words", "a b c d e", "not a valid cron"},
		{"markup is escaped", "<!here> * * * *", "&lt;!here&gt;"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseCron(c.spec)
			if err == nil {
				t.Fatalf("parseCron(%q) accepted", c.spec)
			}
			ue, ok := err.(*UserError)
			if !ok {
				t.Fatalf("error is not a UserError: %T %v", err, err)
			}
			if !strings.Contains(ue.Msg, c.want) {
				t.Errorf("message %q lacks %q", ue.Msg, c.want)
			}
		})
	}
}

func TestCronThatNeverFiresHasNoPreview(t *testing.T) {
	s, err := parseCron("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if runs := s.next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC, 3); len(runs) != 0 {
		t.Errorf("February 30 fired: %v", runs)
	}
}

func TestPreviewAcrossDaylightSavingChanges(t *testing.T) {
	cases := []struct {
		name, spec, tz string
		from           time.Time
		want           []string // local wall-clock times with offsets
	}{
		{
			// 2025-03-09 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
			"New York spring forward skips the missing 02:30", "30 2 * * *", "America/New_York",
			time.Date(2025, 3, 8, 12, 0, 0, 0, time.UTC),
			[]string{"2025-03-10 02:30 -0400", "2025-03-11 02:30 -0400", "2025-03-12 02:30 -0400"},
		},
		{
			"New York spring forward keeps the hours that exist", "0 * * * *", "America/New_York",
			time.Date(2025, 3, 9, 5, 30, 0, 0, time.UTC),
			[]string{"2025-03-09 01:00 -0500", "2025-03-09 03:00 -0400", "2025-03-09 04:00 -0400"},
		},
		{
			// 2025-10-26 02:00 BST falls back to 01:00 GMT: 01:30 happens twice, runs once.
			"London autumn runs the repeated 01:30 once", "30 1 * * *", "Europe/London",
			time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC),
			[]string{"2025-10-26 01:30 +0100", "2025-10-27 01:30 +0000", "2025-10-28 01:30 +0000"},
		},
		{
			"London autumn keeps a time outside the repeated hour", "0 9 * * *", "Europe/London",
			time.Date(2025, 10, 25, 12, 0, 0, 0, time.UTC),
			[]string{"2025-10-26 09:00 +0000", "2025-10-27 09:00 +0000", "2025-10-28 09:00 +0000"},
		},
		{
			"Rails name follows its zone's rules", "0 2 * * *", "Pacific Time (US & Canada)",
			time.Date(2025, 11, 1, 12, 0, 0, 0, time.UTC),
			[]string{"2025-11-02 02:00 -0800", "2025-11-03 02:00 -0800", "2025-11-04 02:00 -0800"},
		},
		{
			"southern hemisphere spring forward", "30 2 * * *", "Australia/Sydney",
			time.Date(2025, 10, 4, 0, 0, 0, 0, time.UTC),
			[]string{"2025-10-06 02:30 +1100", "2025-10-07 02:30 +1100", "2025-10-08 02:30 +1100"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseCron(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			z, err := parseZone(c.tz)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range s.next(c.from, z.Loc, 3) {
				got = append(got, r.Format("2006-01-02 15:04 -0700"))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("runs\n %v\nwant\n %v", got, c.want)
			}
		})
	}
}

func TestParseZone(t *testing.T) {
	cases := []struct {
		name, in, wantName, wantLoc string
		bad                         bool
	}{
		{"IANA name", "Europe/Berlin", "Europe/Berlin", "Europe/Berlin", false},
		{"IANA with three parts", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", false},
		{"UTC", "UTC", "UTC", "Etc/UTC", false},
		{"empty is GitLab's default UTC", "", "UTC", "UTC", false},
		{"Rails name with ampersand", "Pacific Time (US & Canada)", "Pacific Time (US & Canada)", "America/Los_Angeles", false},
		{"Rails name in other case", "eastern time (us & canada)", "Eastern Time (US & Canada)", "America/New_York", false},
		{"Rails city name", "Tokyo", "Tokyo", "Asia/Tokyo", false},
		{"Rails name with a dot", "St. Petersburg", "St. Petersburg", "Europe/Moscow", false},
		{"Rails name with extra spaces", "Pacific  Time (US & Canada) ", "Pacific Time (US & Canada)", "America/Los_Angeles", false},
		{"IANA names are case-sensitive", "europe/berlin", "", "", true},
		{"Local is the host's zone, not GitLab's", "Local", "", "", true},
		{"path traversal", "../../etc/passwd", "", "", true},
		{"absolute path", "/etc/localtime", "", "", true},
		{"garbage", "Mars/Olympus_Mons", "", "", true},
		{"offset is not a zone name", "+02:00", "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z, err := parseZone(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("parseZone(%q) accepted: %+v", c.in, z)
				}
				if !strings.Contains(err.Error(), "not a time zone I know") {
					t.Errorf("message: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseZone(%q): %v", c.in, err)
			}
			if z.Name != c.wantName || z.Loc.String() != c.wantLoc {
				t.Errorf("got %q/%s, want %q/%s", z.Name, z.Loc, c.wantName, c.wantLoc)
			}
		})
	}
}

func TestEveryRailsZoneLoads(t *testing.T) {
	if len(railsZones) < 140 {
		t.Fatalf("the Rails table has only %d names", len(railsZones))
	}
	for rails, iana := range railsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("%q maps to %q, which does not load: %v", rails, iana, err)
		}
		if z, err := parseZone(rails); err != nil || z.Name != rails {
			t.Errorf("parseZone(%q) = %+v, %v", rails, z, err)
		}
	}
}

func FuzzParseCronNeverPanics(f *testing.F) {
	for _, s := range []string{"* * * * *", "TZ=", "0 0 L * *", "*/0 * * * *", "@every 1s", "0-59/0 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := parseCron(spec)
		if err == nil {
			_ = s.next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC, 3)
		}
	})
}

func BenchmarkCronPreview(b *testing.B) {
	z, _ := parseZone("Pacific Time (US & Canada)")
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s, err := parseCron("*/15 9-17 * * 1-5")
		if err != nil {
			b.Fatal(err)
		}
		_ = s.next(from, z.Loc, 3)
	}
}
