package insights

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

func chartReport() Report {
	q := Query{Project: "g/app", Days: 3, Now: t0.Add(36 * time.Hour)}
	var runs []Run
	// Day 1: 2 passed of 3; day 2: nothing; day 3: 1 failed.
	runs = append(runs,
		run(1, "a", -30*60, gitlab.StatusSuccess, attempt{"build", gitlab.StatusSuccess, false}),
		run(2, "b", -30*60+5, gitlab.StatusSuccess, attempt{"build", gitlab.StatusSuccess, false}, attempt{"test", gitlab.StatusSuccess, false}),
		run(3, "c", -30*60+9, gitlab.StatusFailed, attempt{"build", gitlab.StatusFailed, false}),
		run(4, "d", 13*60, gitlab.StatusFailed, attempt{"build", gitlab.StatusFailed, false}),
	)
	return Compute(q, runs)
}

func TestChartIsAPNGOfTheReportsSeries(t *testing.T) {
	rep := chartReport()
	pngBytes, series, err := Chart(rep)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 576 {
		t.Errorf("chart is %dx%d, want 960x576", b.Dx(), b.Dy())
	}
	// Opaque white corners: the chart reads the same on dark and light.
	for _, p := range []image.Point{{0, 0}, {959, 0}, {0, 575}, {959, 575}} {
		if c := color.RGBAModel.Convert(img.At(p.X, p.Y)).(color.RGBA); c != (color.RGBA{255, 255, 255, 255}) {
			t.Errorf("pixel %v is %v, want opaque white", p, c)
		}
	}
	if len(series.Labels) != len(rep.Days) || len(series.PassRate) != len(rep.Days) || len(series.MedianMinutes) != len(rep.Days) {
		t.Fatalf("series of %d/%d/%d points for %d days", len(series.Labels), len(series.PassRate), len(series.MedianMinutes), len(rep.Days))
	}
	for i, d := range rep.Days {
		if series.Labels[i] != d.Start.Format("Jan 2") {
			t.Errorf("day %d label %q", i, series.Labels[i])
		}
		wantRate := d.PassRate * 100
		if got := series.PassRate[i]; !(math.IsNaN(wantRate) && math.IsNaN(got)) && got != wantRate {
			t.Errorf("day %d pass rate %v, report %v", i, got, wantRate)
		}
		wantMin := d.Median.Minutes()
		if got := series.MedianMinutes[i]; d.Median == 0 && !math.IsNaN(got) || d.Median > 0 && got != wantMin {
			t.Errorf("day %d median %v min, report %v", i, got, d.Median)
		}
	}
	// The fixture's days as a person would read them.
	want := []float64{200.0 / 3, math.NaN(), 0}
	for i, w := range want {
		if g := series.PassRate[i]; math.IsNaN(w) != math.IsNaN(g) || !math.IsNaN(w) && math.Abs(g-w) > 1e-9 {
			t.Errorf("pass rate of %s = %v, want %v", series.Labels[i], g, w)
		}
	}
	// Something was drawn in the bar colour.
	found := false
	for y := 0; y < 576 && !found; y += 2 {
		for x := 0; x < 960; x += 2 {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == passColor {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no pass-rate bar drawn")
	}
}

func TestChartOfNinetyDaysAndOfNothing(t *testing.T) {
	q := Query{Project: "g/app", Days: 90, Now: t0}
	if _, s, err := Chart(Compute(q, nil)); err != nil || len(s.Labels) != 91 {
		t.Errorf("an empty 90-day chart: %d days, %v", len(s.Labels), err)
	}
}
