package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// runnerTrace is what GitLab Runner writes for a short docker job: every
// section marker is preceded and followed by "\x1b[0K", headers are cyan,
// the script's commands green.
const runnerTrace = "\x1b[0KRunning with gitlab-runner 17.5.0 (v17.5.0)\x1b[0;m\n" +
	"\x1b[0K  on docker-auto-scale 8d2a1f5e, system ID: s_7e2f03b1b0e3\x1b[0;m\n" +
	"section_start:1730000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the \"docker+machine\" executor\x1b[0;m\x1b[0;m\n" +
	"\x1b[0KUsing Docker executor with image golang:1.26 ...\x1b[0;m\n" +
	"section_end:1730000001:prepare_executor\r\x1b[0K\x1b[0Ksection_start:1730000001:get_sources\r\x1b[0K\x1b[0K\x1b[36;1mGetting source from Git repository\x1b[0;m\x1b[0;m\n" +
	"\x1b[32;1mFetching changes with git depth set to 20...\x1b[0;m\n" +
	"Receiving objects:  10% (1/10)\rReceiving objects:  50% (5/10)\rReceiving objects: 100% (10/10), done.\n" +
	"section_end:1730000002:get_sources\r\x1b[0K\x1b[0Ksection_start:1730000002:step_script[collapsed=true]\r\x1b[0K\x1b[0K\x1b[36;1mExecuting \"step_script\" stage of the job script\x1b[0;m\x1b[0;m\n" +
	"\x1b[32;1m$ go test ./...\x1b[0;m\n" +
	"ok  \tgithub.com/acme/app\t0.042s\n" +
	"section_end:1730000003:step_script\r\x1b[0K\x1b[0Ksection_start:1730000003:cleanup_file_variables\r\x1b[0K\x1b[0K\x1b[36;1mCleaning up project directory and file based variables\x1b[0;m\x1b[0;m\n" +
	"section_end:1730000004:cleanup_file_variables\r\x1b[0K\x1b[32;1mJob succeeded\x1b[0;m\n"

const runnerTraceClean = "Running with gitlab-runner 17.5.0 (v17.5.0)\n" +
	"  on docker-auto-scale 8d2a1f5e, system ID: s_7e2f03b1b0e3\n" +
	"Preparing the \"docker+machine\" executor\n" +
	"Using Docker executor with image golang:1.26 ...\n" +
	"Getting source from Git repository\n" +
	"Fetching changes with git depth set to 20...\n" +
	"Receiving objects: 100% (10/10), done.\n" +
	"Executing \"step_script\" stage of the job script\n" +
	"$ go test ./...\n" +
	"ok  \tgithub.com/acme/app\t0.042s\n" +
	"Cleaning up project directory and file based variables\n" +
	"Job succeeded\n"

func cleanString(t testing.TB, log string, chunk int) string {
	t.Helper()
	var out bytes.Buffer
	c := NewLogCleaner(&out)
	for i := 0; i < len(log); i += chunk {
		if _, err := c.Write([]byte(log[i:min(i+chunk, len(log))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Written() != int64(out.Len()) {
		t.Errorf("Written = %d, the writer got %d bytes", c.Written(), out.Len())
	}
	return out.String()
}

func TestLogCleanerShowsTheLogAsGitLabsLogView(t *testing.T) {
	tests := []struct {
		name, log, want string
	}{
		{"a runner trace keeps headers and drops markers", runnerTrace, runnerTraceClean},
		{"colours and erase codes go", "\x1b[31;1mERROR:\x1b[0;m Job failed\x1b[0K\n", "ERROR: Job failed\n"},
		{"CSI with private parameters goes", "\x1b[?25lhidden cursor\x1b[?25h\n", "hidden cursor\n"},
		{"OSC hyperlinks end at BEL or ST", "\x1b]8;;https://x.example\x07link\x1b]8;;\x1b\\ text\n", "link text\n"},
		{"a two-byte escape goes", "a\x1bcb\n", "ab\n"},
		{"progress rewritten by \\r shows its final text", "pull 1%\rpull 40%\rpull done\n", "pull done\n"},
		{"a shorter rewrite does not keep the old tail", "downloading 100 MB\rok\n", "ok\n"},
		{"CRLF is one newline", "one\r\ntwo\r\n", "one\ntwo\n"},
		{"\\r then an erase code still overwrites", "50%\r\x1b[0K100%\n", "100%\n"},
		{"a header with options keeps its text", "section_start:1:build[collapsed=true,foo]\r\x1b[0KBuild it\nmake\nsection_end:2:build\r\x1b[0K\n", "Build it\nmake\n"},
		{"a section without a header leaves no blank line", "section_start:1:quiet\r\x1b[0K\nx\nsection_end:2:quiet\r\x1b[0K\n", "x\n"},
		{"a header rewritten by \\r shows its final text", "section_start:1:prep\r\x1b[0Kstep 1\rstep 2\n", "step 2\n"},
		{"text on the end marker's line stays", "section_end:1:a\r\x1b[0KJob succeeded\n", "Job succeeded\n"},
		{"a fake marker is text that \\r overwrites", "section_start:abc:x\rreal\n", "real\n"},
		{"marker text mid-line is not a marker", "echo section_end:1:a\r\n", "echo section_end:1:a\n"},
		{"blank lines stay", "a\n\n\nb\n", "a\n\n\nb\n"},
		{"tabs and trailing spaces stay", "ok  \tpkg\t0.1s  \n", "ok  \tpkg\t0.1s  \n"},
		{"other control characters go", "a\x00b\x07c\x7fd\n", "abcd\n"},
		{"bytes that are not UTF-8 pass through", "bad \xff\xfe end\n", "bad \xff\xfe end\n"},
		{"an unfinished last line is written without a newline", "a\nlast", "a\nlast"},
		{"an unfinished last line after \\r shows its final text", "a\n10%\r20%", "a\n20%"},
		{"a trailing end marker leaves nothing", "a\nsection_end:1:x\r\x1b[0K", "a\n"},
		{"an empty log stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.log) + 1, 1, 2, 7} {
				if got := cleanString(t, tt.log, chunk); got != tt.want {
					t.Fatalf("chunks of %d: got %q, want %q", chunk, got, tt.want)
				}
			}
		})
	}
}

// TestLogCleanerIsTheSameAtEveryChunkBoundary splits a real-looking trace
// at every byte position: a marker or escape split anywhere cleans the same.
func TestLogCleanerIsTheSameAtEveryChunkBoundary(t *testing.T) {
	for i := 0; i <= len(runnerTrace); i++ {
		var out bytes.Buffer
		c := NewLogCleaner(&out)
		_, _ = c.Write([]byte(runnerTrace[:i]))
		_, _ = c.Write([]byte(runnerTrace[i:]))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != runnerTraceClean {
			t.Fatalf("split at %d (%q|%q): got %q", i, runnerTrace[max(0, i-8):i], runnerTrace[i:min(i+8, len(runnerTrace))], out.String())
		}
	}
}

func TestLogCleanerPassesAnOverlongLineOnWhole(t *testing.T) {
	long := strings.Repeat("0123456789", cleanLineCap/4) // 2.5 × the cap
	got := cleanString(t, "\x1b[32m"+long+"\x1b[0m\nnext\n", 4096)
	if got != long+"\nnext\n" {
		t.Errorf("got %d bytes, want the %d-byte line and the next one", len(got), len(long)+6)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestLogCleanerReportsTheWritersError(t *testing.T) {
	errDisk := errors.New("disk full")
	c := NewLogCleaner(failingWriter{errDisk})
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = c.Write([]byte(strings.Repeat("x", 100) + "\n"))
	}
	if err == nil {
		err = c.Close()
	}
	if !errors.Is(err, errDisk) {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestLogCleanerOf200MBLogKeepsMemoryFlat(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() || raceEnabled {
		size = 32 << 20
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := NewLogCleaner(io.Discard)
	if _, err := io.CopyBuffer(c, newHostileLog(size), make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if c.Written() == 0 || c.Written() >= size {
		t.Errorf("wrote %d bytes of a %d-byte log", c.Written(), size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 4<<20 {
		t.Errorf("cleaning %d MiB allocated %d KiB; want at most 4 MiB", size>>20, allocated>>10)
	}
}

func BenchmarkLogCleaner(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		c := NewLogCleaner(io.Discard)
		_, _ = io.CopyBuffer(c, newHostileLog(size), make([]byte, 32<<10))
		_ = c.Close()
	}
}

func ExampleLogCleaner() {
	var out strings.Builder
	c := NewLogCleaner(&out)
	_, _ = io.WriteString(c, "section_start:1:build\r\x1b[0K\x1b[36;1mBuilding\x1b[0;m\n50%\r100%\nsection_end:2:build\r\x1b[0K\n")
	_ = c.Close()
	fmt.Print(out.String())
	// Output:
	// Building
	// 100%
}
