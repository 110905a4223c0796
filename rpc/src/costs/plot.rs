//! The pictures of the cost instrument, each written as SVG and as PNG with
//! `plotters`:
//!
//! - `gas-vs-instructions`: a log-log scatter of gas against Wasm
//!   instructions per method, the least-squares line through the logs, and
//!   the methods furthest from it named;
//! - `instructions-per-gas`: Wasm instructions per unit of gas by opcode
//!   class, from the calibration, with the median operation's as a line;
//! - `phases`: where each method's instructions went, as stacked shares.
//!
//! Text is set in DejaVu Sans, built in, so that the pictures look the
//! same on every machine.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::calibrate::{Class, OpCost};
use super::report::Report;
use crate::cost::CostBreakdown;

const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1200, 760);

/// Makes DejaVu Sans the font of every picture (once).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| ())
            .expect("DejaVu Sans is a valid font");
    });
}

/// A picture, drawn the same on every backend.
trait Picture {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>;
}

/// Draws `picture` into `dir/name.svg` and `dir/name.png`; the paths.
fn both(dir: &Path, name: &str, picture: &impl Picture) -> anyhow::Result<Vec<PathBuf>> {
    register_font();
    std::fs::create_dir_all(dir)?;
    let svg = dir.join(format!("{name}.svg"));
    let png = dir.join(format!("{name}.png"));
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        picture.draw(&root)?;
        root.present().map_err(|e| anyhow!("writing {}: {e}", svg.display()))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        picture.draw(&root)?;
        root.present().map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
    }
    Ok(vec![svg, png])
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

/// A method: its label, mean gas and mean instructions.
struct Point {
    label: String,
    gas: f64,
    instructions: f64,
}

/// The least-squares line through (log gas, log instructions): slope and
/// intercept.
fn fit(points: &[Point]) -> (f64, f64) {
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| p.gas.log10()).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.instructions.log10()).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, my - slope * mx)
}

/// How many of the methods furthest from the line are named.
const NAMED_OUTLIERS: usize = 6;

/// The scatter of gas against instructions, per method of `report`.
pub fn scatter(report: &Report, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let points: Vec<Point> = report
        .methods
        .iter()
        .filter(|m| m.gas.avg > 0.0 && m.instructions.avg > 0.0)
        .map(|m| Point {
            label: format!("{}.{}", m.contract, m.method),
            gas: m.gas.avg,
            instructions: m.instructions.avg,
        })
        .collect();
    anyhow::ensure!(points.len() >= 2, "too few methods to plot");
    both(dir, "gas-vs-instructions", &Scatter { points })
}

struct Scatter {
    points: Vec<Point>,
}

impl Picture for Scatter {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let points = &self.points;
        let (slope, intercept) = fit(points);
        let residual = |p: &Point| p.instructions.log10() - (intercept + slope * p.gas.log10());
        let mut by_distance: Vec<&Point> = points.iter().collect();
        by_distance.sort_by(|a, b| residual(b).abs().total_cmp(&residual(a).abs()));
        let named = &by_distance[..NAMED_OUTLIERS.min(by_distance.len())];
        let bounds = |f: fn(&Point) -> f64| {
            let lo = points.iter().map(f).fold(f64::INFINITY, f64::min);
            let hi = points.iter().map(f).fold(0.0, f64::max);
            (lo / 2.0)..(hi * 3.0)
        };
        let (xs, ys) = (bounds(|p| p.gas), bounds(|p| p.instructions));
        let title = format!(
            "Gas vs Wasm instructions, {} methods (instructions ∝ gas^{slope:.2})",
            points.len()
        );
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FAMILY, 24))
            .margin(24)
            .x_label_area_size(56)
            .y_label_area_size(96)
            .build_cartesian_2d(xs.clone().log_scale(), ys.clone().log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("EVM gas (mean per call)")
            .y_desc("Wasm instructions (mean per call)")
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 18))
            .x_label_formatter(&|x| crate::txlog::short(*x as u128))
            .y_label_formatter(&|y| crate::txlog::short(*y as u128))
            .draw()
            .map_err(err)?;
        let line = [xs.start, xs.end].map(|x| (x, 10f64.powf(intercept + slope * x.log10())));
        chart
            .draw_series(LineSeries::new(line, RED.stroke_width(2)))
            .map_err(err)?
            .label("least-squares fit of the logs")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.gas, p.instructions), 5, BLUE.mix(0.7).filled())),
            )
            .map_err(err)?
            .label("a method")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, BLUE.filled()));
        chart
            .draw_series(named.iter().map(|p| {
                Text::new(p.label.clone(), (p.gas * 1.08, p.instructions), (FAMILY, 15).into_font())
            }))
            .map_err(err)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// The instructions per gas of each opcode class of a calibration: the
/// class's instructions over its gas, its operations pooled.
pub fn opcode_classes(rows: &[OpCost], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut classes: Vec<(Class, f64, f64)> = Vec::new();
    for row in rows.iter().filter(|r| r.gas > 0.0) {
        match classes.iter_mut().find(|(c, _, _)| *c == row.class) {
            Some((_, gas, instructions)) => {
                *gas += row.gas;
                *instructions += row.instructions;
            }
            None => classes.push((row.class, row.gas, row.instructions)),
        }
    }
    let bars: Vec<(String, f64)> = classes
        .into_iter()
        .map(|(c, gas, instructions)| (c.name().to_owned(), instructions / gas))
        .collect();
    let mut per_gas: Vec<f64> = rows.iter().filter(|r| r.gas > 0.0).map(OpCost::per_gas).collect();
    per_gas.sort_by(f64::total_cmp);
    anyhow::ensure!(!per_gas.is_empty(), "nothing calibrated to plot");
    let median = per_gas[per_gas.len() / 2];
    both(dir, "instructions-per-gas", &Bars { bars, median })
}

struct Bars {
    bars: Vec<(String, f64)>,
    median: f64,
}

impl Picture for Bars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let n = self.bars.len();
        let top = self.bars.iter().map(|(_, v)| *v).fold(self.median, f64::max) * 3.0;
        let bottom = self.bars.iter().map(|(_, v)| *v).fold(self.median, f64::min) / 3.0;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Wasm instructions per unit of gas, by opcode class", (FAMILY, 24))
            .margin(24)
            .x_label_area_size(110)
            .y_label_area_size(80)
            .build_cartesian_2d((0..n - 1).into_segmented(), (bottom.max(0.1)..top).log_scale())
            .map_err(err)?;
        let names: Vec<String> = self.bars.iter().map(|(name, _)| name.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_style((FAMILY, 15).into_font().transform(FontTransform::Rotate90))
            .y_desc("Wasm instructions per gas, state write and seal included (log scale)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .axis_desc_style((FAMILY, 18))
            .label_style((FAMILY, 15))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(self.bars.iter().enumerate().map(|(i, (_, value))| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), bottom.max(0.1)),
                        (SegmentValue::Exact(i + 1), *value),
                    ],
                    BLUE.mix(0.7).filled(),
                );
                bar.set_margin(0, 0, 8, 8);
                bar
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(SegmentValue::Exact(0), self.median), (SegmentValue::Exact(n), self.median)],
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("median operation: {:.0} instructions per gas", self.median))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// Where each method's instructions went, as shares of its total.
pub fn phases(report: &Report, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let bars: Vec<(String, Vec<f64>)> = report
        .methods
        .iter()
        .filter_map(|m| {
            let phases = m.phases.as_ref()?;
            let total: f64 = phases.iter().map(|p| p.instructions).sum();
            (total > 0.0).then(|| {
                let label =
                    format!("{}.{} ({})", m.contract, m.method, crate::txlog::short(total as u128));
                (label, phases.iter().map(|p| p.instructions / total * 100.0).collect())
            })
        })
        .collect();
    anyhow::ensure!(!bars.is_empty(), "no method has measured phases");
    both(dir, "phases", &Stacked { bars })
}

struct Stacked {
    bars: Vec<(String, Vec<f64>)>,
}

const PHASE_COLOURS: [RGBColor; 7] = [
    RGBColor(0x8d, 0xa0, 0xcb),
    RGBColor(0xfc, 0x8d, 0x62),
    RGBColor(0xe7, 0x8a, 0xc3),
    RGBColor(0x66, 0xc2, 0xa5),
    RGBColor(0xa6, 0xd8, 0x54),
    RGBColor(0xff, 0xd9, 0x2f),
    RGBColor(0xb3, 0xb3, 0xb3),
];

impl Picture for Stacked {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let n = self.bars.len();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Where each method's Wasm instructions go", (FAMILY, 24))
            .margin(24)
            .x_label_area_size(60)
            .y_label_area_size(300)
            .build_cartesian_2d(0f64..130f64, (0..n - 1).into_segmented())
            .map_err(err)?;
        let names: Vec<String> = self.bars.iter().map(|(name, _)| name.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_labels(6)
            .x_label_formatter(&|x| if *x <= 100.0 { format!("{x:.0} %") } else { String::new() })
            .x_desc("share of the method's instructions (mean call)")
            .axis_desc_style((FAMILY, 18))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(err)?;
        for (phase, colour) in CostBreakdown::NAMES.iter().zip(PHASE_COLOURS) {
            let index = CostBreakdown::NAMES.iter().position(|p| p == phase).expect("a phase");
            chart
                .draw_series(self.bars.iter().enumerate().map(|(i, (_, shares))| {
                    let start: f64 = shares[..index].iter().sum();
                    let mut bar = Rectangle::new(
                        [
                            (start, SegmentValue::Exact(i)),
                            (start + shares[index], SegmentValue::Exact(i + 1)),
                        ],
                        colour.filled(),
                    );
                    bar.set_margin(3, 3, 0, 0);
                    bar
                }))
                .map_err(err)?
                .label(*phase)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    }
}
