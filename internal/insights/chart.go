package insights

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartSeries is the data a chart draws, one value per day of the report:
// exposed so that what is drawn can be checked against the report.
type ChartSeries struct {
	Labels []string // day labels, "Jun 3"
	// PassRate is the day's pass rate in percent; NaN for a day without a
	// passed or failed pipeline (no bar).
	PassRate []float64
	// MedianMinutes is the day's median pipeline duration in minutes; NaN
	// for a day without one (no point).
	MedianMinutes []float64
}

// Series returns the chart's data for r.
func Series(r Report) ChartSeries {
	var s ChartSeries
	for _, d := range r.Days {
		s.Labels = append(s.Labels, d.Start.Format("Jan 2"))
		s.PassRate = append(s.PassRate, d.PassRate*100)
		m := math.NaN()
		if d.Median > 0 {
			m = d.Median.Minutes()
		}
		s.MedianMinutes = append(s.MedianMinutes, m)
	}
	return s
}

// Chart size: wide enough for 90 day labels' ticks, and what Slack previews
// well.
const (
	chartWidth  = 10 * vg.Inch
	chartHeight = 6 * vg.Inch
	chartDPI    = 96
)

// Colors that read on white, which the chart is drawn on so that it reads
// the same in Slack's light and dark themes.
var (
	passColor   = color.RGBA{R: 0x2e, G: 0x9e, B: 0x5b, A: 0xff}
	medianColor = color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}
)

// Chart draws r per day as a PNG: the pass rate as bars above, the median
// pipeline duration as a line below, on one day axis, both axes labelled,
// on an opaque white background. It returns the series it drew.
func Chart(r Report) ([]byte, ChartSeries, error) {
	s := Series(r)
	n := len(s.Labels)
	if n == 0 {
		return nil, s, fmt.Errorf("chart: the report has no days")
	}
	zone := "UTC"
	if r.Query.Loc != nil {
		zone = r.Query.Loc.String()
	}
	ticks := dayTicks(s.Labels)

	rate := plot.New()
	rate.Title.Text = fmt.Sprintf("%s: pipelines per day, last %d days", r.Query.Project, r.Query.Days)
	rate.Y.Label.Text = "pass rate (%)"
	rate.Y.Min, rate.Y.Max = 0, 100
	rate.X.Min, rate.X.Max = -0.5, float64(n)-0.5
	rate.X.Tick.Marker = ticks
	rate.Add(plotter.NewGrid())
	bars := make(plotter.Values, n)
	for i, v := range s.PassRate {
		if !math.IsNaN(v) {
			bars[i] = v // a day with nothing finished has no bar
		}
	}
	bc, err := plotter.NewBarChart(bars, vg.Length(float64(chartWidth)*0.6/float64(n+2)))
	if err != nil {
		return nil, s, fmt.Errorf("chart: %w", err)
	}
	bc.Color, bc.LineStyle.Width = passColor, 0
	rate.Add(bc)

	dur := plot.New()
	dur.Y.Label.Text = "median duration (min)"
	dur.X.Label.Text = "day (" + zone + ")"
	dur.Y.Min = 0
	dur.X.Min, dur.X.Max = -0.5, float64(n)-0.5
	dur.X.Tick.Marker = ticks
	dur.Add(plotter.NewGrid())
	var pts plotter.XYs
	for i, v := range s.MedianMinutes {
		if !math.IsNaN(v) {
			pts = append(pts, plotter.XY{X: float64(i), Y: v})
			dur.Y.Max = math.Max(dur.Y.Max, v*1.15)
		}
	}
	if len(pts) > 0 {
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, s, fmt.Errorf("chart: %w", err)
		}
		line.Color, line.Width = medianColor, vg.Points(2)
		points.Color, points.Shape = medianColor, draw.CircleGlyph{}
		dur.Add(line, points)
	}
	if dur.Y.Max == 0 {
		dur.Y.Max = 1
	}

	img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(10)}
	plots := [][]*plot.Plot{{rate}, {dur}}
	canvases := plot.Align(plots, tiles, dc)
	rate.Draw(canvases[0][0])
	dur.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, s, fmt.Errorf("chart: encode png: %w", err)
	}
	return buf.Bytes(), s, nil
}

// dayTicks labels the day axis, at most about 15 labels so that 90 days
// stay readable.
func dayTicks(labels []string) plot.ConstantTicks {
	step := max(1, (len(labels)+14)/15)
	ticks := make(plot.ConstantTicks, 0, len(labels))
	for i, l := range labels {
		t := plot.Tick{Value: float64(i)}
		if i%step == 0 {
			t.Label = l
		}
		ticks = append(ticks, t)
	}
	return ticks
}
