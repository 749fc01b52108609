//! Line charts as SVG strings, drawn with plotters' SVG backend: text stays `<text>`,
//! so the page needs no fonts or images.

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// Chart size in pixels.
const SIZE: (u32, u32) = (560, 340);

/// Tableau's 10 colours (matplotlib's default cycle), told apart by most readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points in order.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a baseline or a reference line).
    pub dashed: bool,
    /// Dots at the points (calibration bins; any series of few points gets them).
    pub dots: bool,
    /// Palette index (a run keeps its colour across charts).
    pub color: usize,
}

impl Series {
    /// A solid line in palette colour `color`.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>, color: usize) -> Self {
        Self {
            name: name.into(),
            points,
            dashed: false,
            dots: false,
            color,
        }
    }

    /// The same drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// The same with a dot at each point.
    pub fn dotted(mut self) -> Self {
        self.dots = true;
        self
    }
}

/// Axis ranges.
pub enum Bounds {
    /// Fit the data, with a margin.
    Fit,
    /// The unit square (ROC, calibration).
    Unit,
}

fn plot_error(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// The range of `values` with 5% margin on each side (a constant gets ±1).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - pad, hi + pad)
}

/// A tick label: whole numbers plain, very large or small ones in scientific notation
/// (learning rates), others with up to 3 decimals.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The largest coordinate drawn; larger ones (and NaN, infinities) are left out.
const MAX_COORD: f64 = 1e12;

/// Points a series has at most to get a dot at each (a sparse log's single points would
/// draw no line at all).
const DOTS_UP_TO: usize = 12;

/// An SVG line chart titled `title` of `series` (those without points left out).
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    bounds: Bounds,
) -> Result<String> {
    // Points a chart can place: finite and of a sane size (a log edited by hand, or
    // a diverged run, may hold 1e300, whose pixel position overflows plotters' i32s).
    let plottable = |&(x, y): &(f64, f64)| x.abs() <= MAX_COORD && y.abs() <= MAX_COORD;
    let kept: Vec<Series> = series
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            points: s.points.iter().copied().filter(plottable).collect(),
            ..*s
        })
        .collect();
    let drawn: Vec<&Series> = kept.iter().filter(|s| !s.points.is_empty()).collect();
    let ((x0, x1), (y0, y1)) = match bounds {
        Bounds::Unit => ((0.0, 1.0), (0.0, 1.0)),
        Bounds::Fit => (
            span(drawn.iter().flat_map(|s| s.points.iter().map(|p| p.0))),
            span(drawn.iter().flat_map(|s| s.points.iter().map(|p| p.1))),
        ),
    };
    // Every point inside the axes (the unit square's charts get no others).
    let inside = |(x, y): (f64, f64)| (x.clamp(x0, x1), y.clamp(y0, y1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(10)
            .x_label_area_size(38)
            .y_label_area_size(62)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(plot_error)?;
        for s in &drawn {
            let style = PALETTE[s.color % PALETTE.len()].stroke_width(2);
            let points = s.points.iter().copied().map(inside);
            // A dashed series' legend key is a short dash.
            let reach = if s.dashed { 7 } else { 18 };
            let legend =
                move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + reach, y)], style);
            if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))
                    .map_err(plot_error)?
                    .label(s.name.as_str())
                    .legend(legend);
            } else {
                chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(plot_error)?
                    .label(s.name.as_str())
                    .legend(legend);
            }
            if s.dots || s.points.len() <= DOTS_UP_TO {
                let dots = s
                    .points
                    .iter()
                    .map(|&p| Circle::new(inside(p), 3, style.filled()));
                chart.draw_series(dots).map_err(plot_error)?;
            }
        }
        if !drawn.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_naturally() {
        let t = |v: f64| tick(&v);
        assert_eq!(
            [t(1200.0), t(0.25), t(0.5), t(3e-5), t(0.0), t(250000.0)],
            ["1200", "0.25", "0.5", "3.0e-5", "0", "2.5e5"]
        );
    }
}
