//! `isolsim report`: a sweep's results as plots (SVG and PNG, drawn with plotters) and a
//! markdown summary.
//!
//! Every metric is read from the [`Report`]s in the results file, one per point, protocol and
//! seed, and averaged over seeds (maxima: the largest over seeds). Which plots are drawn follows
//! from what the sweep varied:
//!
//! | plot | drawn when |
//! |---|---|
//! | noise CDF (one curve per protocol) and oslat 1 µs histogram per protocol | always, at the reference point |
//! | noise CDF per protocol, one curve per point | more than one point |
//! | p99 and max noise, noise per CPU, sender latency per operation, entry penalty, IPIs per second: each vs a swept key | per swept key |
//! | heatmap of deferred/broadcast noise over two swept keys | two or more swept keys, both protocols run |
//!
//! A plot against one swept key holds the other swept keys at the *reference point*: the first
//! point, or the one `--at KEY=VALUE` picks. Swept values are evenly spaced on the x axis and
//! labelled with their values, so a doubling grid (4, 8, … 256) reads as a log axis.
//!
//! Text is drawn with a TrueType font read from the system (DejaVu Sans where Debian puts it,
//! or the file `ISOLSIM_FONT` names), so PNGs need no font configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use serde_json::Value as Json;
use workloads::experiment::{NOISE_BUCKET_NS, Report};

use crate::sweep::{Record, SweepError, read_records};

const SIZE: (u32, u32) = (960, 600);

/// Where the font is looked for when `ISOLSIM_FONT` is not set.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers the system font as plotters' "sans-serif", once.
fn register_font() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let from_env = std::env::var_os("ISOLSIM_FONT").map(PathBuf::from);
        let path = match &from_env {
            Some(p) => p.clone(),
            None => FONT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()).ok_or_else(|| {
                "no TrueType font found for the plots' text: install one (Debian: apt-get install \
                 fonts-dejavu-core) or set ISOLSIM_FONT=/path/to/font.ttf"
                    .to_string()
            })?,
        };
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: cannot read the font ({e})", path.display()))?;
        // plotters keeps fonts for the whole process; so does this one.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType/OpenType font", path.display()))
    })
    .clone()
}

/// Units and labels of the keys users sweep most; any other key is labelled by its name.
fn key_label(key: &str) -> String {
    let known = [
        ("run.cpus", "CPUs"),
        ("run.isolated", "isolated CPUs"),
        ("run.activity.text_patch_per_s", "text patches per second"),
        ("run.activity.vmalloc_per_s", "vfree/vmalloc cycles per second"),
        ("run.activity.slab_tune_per_s", "slab tunings per second"),
        ("run.activity.munmap_per_s", "munmaps per second"),
        ("run.activity.syscalls_per_s", "system calls per second per isolated task"),
        ("run.activity.generators", "housekeeping CPUs generating activity"),
        ("machine.core.store_buffer_entries", "store-buffer entries"),
        ("machine.tlb.entries", "TLB entries"),
        ("preset", "machine preset"),
    ];
    known.iter().find(|k| k.0 == key).map_or_else(|| key.to_string(), |k| format!("{} ({key})", k.1))
}

fn protocol_color(i: usize, name: &str) -> RGBColor {
    match name {
        "broadcast" => RGBColor(0xd6, 0x27, 0x28),
        "deferred" => RGBColor(0x1f, 0x77, 0xb4),
        "ct-work" => RGBColor(0x2c, 0xa0, 0x2c),
        _ => [
            RGBColor(0x94, 0x67, 0xbd),
            RGBColor(0xff, 0x7f, 0x0e),
            RGBColor(0x8c, 0x56, 0x4b),
            RGBColor(0xe3, 0x77, 0xc2),
            RGBColor(0x7f, 0x7f, 0x7f),
        ][i % 5],
    }
}

/// One point of the results: its parameters and, per protocol, one report per seed.
struct PointData<'a> {
    params: BTreeMap<String, Json>,
    runs: BTreeMap<String, Vec<&'a Report>>,
}

/// The metrics of one point and protocol (means over seeds unless said otherwise).
#[derive(Clone, Debug, Default)]
struct Metrics {
    /// Noise per isolated CPU per second of runtime, µs/s.
    noise_per_s_us: f64,
    /// 99th percentile of single noise events, µs.
    noise_p99_us: f64,
    /// Longest single noise event over all seeds, µs.
    noise_max_us: f64,
    /// Interrupts per second per isolated CPU.
    ipis_per_s: f64,
    /// Extra ns of the first kernel entry after a deferral over the run's other entries.
    entry_penalty_ns: Option<f64>,
    /// Sender latency by operation: (mean, p99) in µs.
    senders: BTreeMap<String, (f64, f64)>,
    /// Safety violations (sum over seeds).
    violations: usize,
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = xs.into_iter().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// Noise per isolated CPU per second of its runtime, µs/s: the isolated CPUs' noise over their
/// runtime (ns per ns, i.e. s per s, times 10⁶ µs per s). Times a CPU's mean runtime it gives back
/// the mean "Noise per CPU (µs)" of `isolsim run`. `None` when no isolated CPU ran.
pub fn noise_us_per_s(r: &Report) -> Option<f64> {
    let runtime: f64 = r.isolated.iter().map(|x| x.runtime_ns).sum();
    let noise: f64 = r.isolated.iter().map(|x| x.noise_ns).sum();
    (runtime > 0.0).then(|| noise / runtime * 1e6)
}

fn metrics(runs: &[&Report]) -> Metrics {
    let penalties: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            let (all, after) = (&r.syscalls.all, &r.syscalls.after_deferral);
            (after.count > 0 && all.count > after.count).then(|| {
                let others =
                    (all.mean * all.count as f64 - after.mean * after.count as f64) / (all.count - after.count) as f64;
                after.mean - others
            })
        })
        .collect();
    let mut senders: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        for s in &r.senders {
            senders.entry(s.op.clone()).or_default().push((s.ns.mean / 1000.0, s.ns.p99 as f64 / 1000.0));
        }
    }
    Metrics {
        noise_per_s_us: mean(runs.iter().copied().filter_map(noise_us_per_s)),
        noise_p99_us: mean(runs.iter().map(|r| r.noise_events_ns.p99 as f64 / 1000.0)),
        noise_max_us: runs.iter().map(|r| r.noise_events_ns.max as f64 / 1000.0).fold(0.0, f64::max),
        ipis_per_s: mean(runs.iter().map(|r| mean(r.isolated.iter().map(|x| x.irqs_per_s)))),
        entry_penalty_ns: (!penalties.is_empty()).then(|| mean(penalties.iter().copied())),
        senders: senders
            .into_iter()
            .map(|(k, v)| (k, (mean(v.iter().map(|x| x.0)), mean(v.iter().map(|x| x.1)))))
            .collect(),
        violations: runs.iter().map(|r| r.safety.violations.len()).sum(),
    }
}

/// True when `v` (as typed after `--at KEY=`) names `x`: numbers by value (`300` is `300.0`).
fn same_value(x: &Json, v: &str) -> bool {
    match (x.as_f64(), v.parse::<f64>()) {
        (Some(a), Ok(b)) => a == b,
        _ => show(x) == v,
    }
}

/// A swept value as a label: strings bare, whole numbers without a fraction (`300.0` as `300`).
fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        v => v.to_string(),
    }
}

/// A line or bar chart: one value per x category per series.
struct Chart {
    file: String,
    title: String,
    x_label: String,
    y_label: String,
    categories: Vec<String>,
    series: Vec<Series>,
    bars: bool,
}

struct Series {
    name: String,
    color: RGBColor,
    dashed: bool,
    values: Vec<Option<f64>>,
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn draw_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let ymax = c.series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(0.0, f64::max);
    // Headroom above the data for the legend (upper left), about 21 px per entry of ~500.
    let legend = (c.series.len() as f64 * 21.0 + 24.0) / 500.0;
    let ymax = if ymax > 0.0 { ymax / (1.0 - legend.min(0.6)) } else { 1.0 };
    let n = c.categories.len() as u32;
    let mut chart = chart_builder(root, &c.title, 72).build_cartesian_2d(segments(n), 0.0..ymax).map_err(err)?;
    let cats = c.categories.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_labels(cats.len() + 1)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => cats.get(*i as usize).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    for (si, s) in c.series.iter().enumerate() {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        if c.bars {
            draw_grouped_bar(&mut chart, s, si, c.series.len())?;
        } else {
            let pts: Vec<(SegmentValue<u32>, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (SegmentValue::CenterOf(i as u32), v)))
                .collect();
            let anno = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style)).map_err(err)?
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(err)?
            };
            let color = s.color;
            let dashed = s.dashed;
            anno.label(&s.name).legend(move |(x, y)| {
                let st = ShapeStyle::from(&color).stroke_width(2);
                if dashed {
                    PathElement::new(vec![(x, y), (x + 7, y)], st)
                } else {
                    PathElement::new(vec![(x, y), (x + 20, y)], st)
                }
            });
            chart.draw_series(pts.iter().map(|p| Circle::new(p.clone(), 3, s.color.filled()))).map_err(err)?;
        }
    }
    draw_legend(&mut chart)?;
    root.present().map_err(err)
}

/// A chart with the title, margins and label areas every figure here uses.
fn chart_builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_label_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", 22)).margin(14).x_label_area_size(48).y_label_area_size(y_label_area);
    b
}

/// The series' legend, upper left (the charts leave room for it there).
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)
}

/// `n` categories as plotters segments (its integer ranges include their end).
fn segments(n: u32) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordu32> {
    (0..n.saturating_sub(1)).into_segmented()
}

type SegChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordu32>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

fn draw_grouped_bar<DB: DrawingBackend>(
    chart: &mut SegChart<'_, DB>,
    s: &Series,
    slot: usize,
    slots: usize,
) -> DrawResult {
    // plotters cannot place a rectangle inside a segment, so bars are drawn in pixel space.
    let color = s.color;
    let area = chart.plotting_area();
    let mut drawn = false;
    for (i, v) in s.values.iter().enumerate() {
        let Some(v) = *v else { continue };
        let (x0, y0) = area.map_coordinate(&(SegmentValue::Exact(i as u32), v));
        let (x1, ybase) = area.map_coordinate(&(SegmentValue::Exact(i as u32 + 1), 0.0));
        let width = (x1 - x0) as f64 * 0.8;
        let left = x0 as f64 + (x1 - x0) as f64 * 0.1 + width * slot as f64 / slots as f64;
        let right = left + width / slots as f64;
        let (ox, oy) = area.get_base_pixel();
        let rect = Rectangle::new([((left as i32) - ox, y0 - oy), ((right as i32) - ox, ybase - oy)], color.filled());
        area.strip_coord_spec().draw(&rect).map_err(err)?;
        drawn = true;
    }
    if drawn {
        chart
            .draw_series(std::iter::empty::<Circle<(SegmentValue<u32>, f64), i32>>())
            .map_err(err)?
            .label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    Ok(())
}

/// Curves of a cumulative distribution: (x, fraction ≤ x) per series.
struct Cdf {
    file: String,
    title: String,
    x_label: String,
    curves: Vec<Curve>,
}

/// One named curve: (x, y) points.
type Curve = (String, RGBColor, Vec<(f64, f64)>);

/// A histogram with a logarithmic count axis.
struct Histogram {
    file: String,
    title: String,
    x_label: String,
    labels: Vec<String>,
    counts: Vec<u64>,
    color: RGBColor,
}

/// A value per (x category, y category), colored on a scale centred on `centre`.
struct Heatmap {
    file: String,
    title: String,
    x_label: String,
    y_label: String,
    xs: Vec<String>,
    ys: Vec<String>,
    /// `cells[y][x]`.
    cells: Vec<Vec<Option<f64>>>,
    centre: f64,
}

enum Figure {
    Chart(Chart),
    Cdf(Cdf),
    Histogram(Histogram),
    Heatmap(Heatmap),
}

impl Figure {
    fn file(&self) -> &str {
        match self {
            Figure::Chart(c) => &c.file,
            Figure::Cdf(c) => &c.file,
            Figure::Histogram(h) => &h.file,
            Figure::Heatmap(h) => &h.file,
        }
    }

    fn title(&self) -> &str {
        match self {
            Figure::Chart(c) => &c.title,
            Figure::Cdf(c) => &c.title,
            Figure::Histogram(h) => &h.title,
            Figure::Heatmap(h) => &h.title,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        match self {
            Figure::Chart(c) => draw_chart(root, c),
            Figure::Cdf(c) => draw_cdf(root, c),
            Figure::Histogram(h) => draw_histogram(root, h),
            Figure::Heatmap(h) => draw_heatmap(root, h),
        }
    }

    /// Writes `dir/FILE.svg` and `dir/FILE.png`, each whole or not at all.
    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            self.draw(&root)?;
        }
        let svg_path = dir.join(format!("{}.svg", self.file()));
        crate::write_atomically(&svg_path, svg.as_bytes()).map_err(|e| format!("{}: {e}", svg_path.display()))?;
        let png_path = dir.join(format!("{}.png", self.file()));
        let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
            self.draw(&root)?;
        }
        // Encoded here rather than by plotters: the best compression keeps committed figures small.
        let mut png = vec![];
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new_with_quality(
                &mut png,
                image::codecs::png::CompressionType::Best,
                image::codecs::png::FilterType::Adaptive,
            ),
            &rgb,
            SIZE.0,
            SIZE.1,
            image::ColorType::Rgb8,
        )
        .map_err(|e| format!("{}: {e}", png_path.display()))?;
        crate::write_atomically(&png_path, &png).map_err(|e| format!("{}: {e}", png_path.display()))?;
        Ok(vec![svg_path, png_path])
    }
}

fn draw_cdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Cdf) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let xmax = c.curves.iter().flat_map(|k| k.2.iter().map(|p| p.0)).fold(0.0, f64::max).max(0.1) * 1.05;
    let mut chart = chart_builder(root, &c.title, 72).build_cartesian_2d(0.0..xmax, 0.0..1.02).map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc("fraction of noise events ≤ x")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    for (name, color, pts) in &c.curves {
        let color = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), ShapeStyle::from(&color).stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    draw_legend(&mut chart)?;
    root.present().map_err(err)
}

fn draw_histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Histogram) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let top = h.counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 3.0;
    let n = h.counts.len() as u32;
    let mut chart =
        chart_builder(root, &h.title, 80).build_cartesian_2d(segments(n), (0.8f64..top).log_scale()).map_err(err)?;
    let labels = h.labels.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(&h.x_label)
        .y_desc("loop iterations (log scale)")
        .x_labels(labels.len().min(17))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(h.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| {
            Rectangle::new(
                [(SegmentValue::Exact(i as u32), 0.8), (SegmentValue::Exact(i as u32 + 1), c as f64)],
                h.color.filled(),
            )
        }))
        .map_err(err)?;
    root.present().map_err(err)
}

/// The log of a ratio to the centre, within ±ln 1000 (a zero is a thousand times below).
fn log_ratio(v: f64, centre: f64) -> f64 {
    (v / centre).clamp(1e-3, 1e3).ln()
}

/// Blue below the centre, red above, white at it; on a log scale of the ratio.
fn ratio_color(v: f64, centre: f64, span: f64) -> RGBColor {
    let t = (log_ratio(v, centre) / span.max(1e-9)).clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, t: f64| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    if t < 0.0 {
        RGBColor(mix(255, 0x1f, -t), mix(255, 0x77, -t), mix(255, 0xb4, -t))
    } else {
        RGBColor(mix(255, 0xd6, t), mix(255, 0x27, t), mix(255, 0x28, t))
    }
}

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let (nx, ny) = (h.xs.len() as u32, h.ys.len() as u32);
    let mut chart = chart_builder(root, &h.title, 110).build_cartesian_2d(segments(nx), segments(ny)).map_err(err)?;
    let (xs, ys) = (h.xs.clone(), h.ys.clone());
    let seg = |labels: &[String], v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&h.x_label)
        .y_desc(&h.y_label)
        .x_labels(xs.len() + 1)
        .y_labels(ys.len() + 1)
        .x_label_formatter(&|v| seg(&xs, v))
        .y_label_formatter(&|v| seg(&ys, v))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    let span = h.cells.iter().flatten().flatten().map(|v| log_ratio(*v, h.centre).abs()).fold(0.0, f64::max);
    for (y, row) in h.cells.iter().enumerate() {
        for (x, v) in row.iter().enumerate() {
            let (x, y) = (x as u32, y as u32);
            let corners = [
                (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
            ];
            let Some(v) = *v else {
                chart.draw_series([Rectangle::new(corners, RGBColor(0xdd, 0xdd, 0xdd).filled())]).map_err(err)?;
                continue;
            };
            chart.draw_series([Rectangle::new(corners, ratio_color(v, h.centre, span).filled())]).map_err(err)?;
            let text = if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") };
            chart
                .draw_series([Text::new(
                    text,
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    ("sans-serif", 16).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    )),
                )])
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// Reads `results`, draws its figures into `out` and writes `out/summary.md`; returns the files
/// written. `at` picks the reference point (`KEY=VALUE` for swept keys).
pub fn render(results: &Path, out: &Path, at: &[String]) -> Result<Vec<PathBuf>, SweepError> {
    let records = read_records(results)?;
    let fail = |m: String| SweepError { file: results.display().to_string(), pos: None, message: m };
    if records.is_empty() {
        return Err(fail("holds no result line".into()));
    }
    if let Some(r) = records.iter().find(|r| r.digest != records[0].digest) {
        return Err(fail(format!(
            "mixes two sweeps (unit {} has digest {}, the first line {})",
            r.unit, r.digest, records[0].digest
        )));
    }
    let model = Model::new(&records);
    let reference = model.reference(at).map_err(|m| SweepError::whole("--at", m))?;
    register_font().map_err(|m| SweepError::whole("report", m))?;
    let figures = model.figures(reference);
    std::fs::create_dir_all(out).map_err(|e| SweepError::whole(out.display(), format!("cannot create it ({e})")))?;
    let mut written = vec![];
    for f in &figures {
        written.extend(f.save(out).map_err(|m| SweepError::whole(out.display(), m))?);
    }
    let summary = model.summary(&records[0], results, reference, &figures);
    let path = out.join("summary.md");
    crate::write_atomically(&path, summary.as_bytes()).map_err(|e| SweepError::whole(path.display(), e.to_string()))?;
    written.push(path);
    Ok(written)
}

/// The results arranged by point and protocol.
struct Model<'a> {
    points: Vec<PointData<'a>>,
    protocols: Vec<String>,
    /// Swept keys and their values in point order.
    keys: Vec<(String, Vec<Json>)>,
    metrics: Vec<BTreeMap<String, Metrics>>,
}

impl<'a> Model<'a> {
    fn new(records: &'a [Record]) -> Self {
        let mut by_point: BTreeMap<usize, PointData<'a>> = BTreeMap::new();
        let mut protocols: Vec<String> = vec![];
        for r in records {
            if !protocols.contains(&r.protocol) {
                protocols.push(r.protocol.clone());
            }
            by_point
                .entry(r.point)
                .or_insert_with(|| PointData { params: r.params.clone(), runs: BTreeMap::new() })
                .runs
                .entry(r.protocol.clone())
                .or_default()
                .push(&r.report);
        }
        let points: Vec<PointData<'a>> = by_point.into_values().collect();
        let mut keys: Vec<(String, Vec<Json>)> = vec![];
        for p in &points {
            for (k, v) in &p.params {
                match keys.iter_mut().find(|x| &x.0 == k) {
                    Some(x) if !x.1.contains(v) => x.1.push(v.clone()),
                    Some(_) => {}
                    None => keys.push((k.clone(), vec![v.clone()])),
                }
            }
        }
        keys.retain(|k| k.1.len() > 1);
        let metrics = points.iter().map(|p| p.runs.iter().map(|(k, v)| (k.clone(), metrics(v))).collect()).collect();
        Model { points, protocols, keys, metrics }
    }

    /// The housekeeping operations any run timed, in name order.
    fn sender_ops(&self) -> Vec<String> {
        let ops: std::collections::BTreeSet<&String> =
            self.metrics.iter().flat_map(|m| m.values().flat_map(|x| x.senders.keys())).collect();
        ops.into_iter().cloned().collect()
    }

    fn reference(&self, at: &[String]) -> Result<usize, String> {
        let mut want: Vec<(String, String)> = vec![];
        for a in at {
            let (k, v) = a.split_once('=').ok_or_else(|| format!("{a}: expected KEY=VALUE"))?;
            if !self.keys.iter().any(|x| x.0 == k.trim()) {
                let known: Vec<&str> = self.keys.iter().map(|x| x.0.as_str()).collect();
                return Err(format!("{a}: `{}` is not a swept key (swept: {})", k.trim(), known.join(", ")));
            }
            want.push((k.trim().to_string(), v.trim().to_string()));
        }
        self.points
            .iter()
            .position(|p| want.iter().all(|(k, v)| p.params.get(k).is_some_and(|x| same_value(x, v))))
            .ok_or_else(|| format!("no point has {}", at.join(", ")))
    }

    fn point_name(&self, p: usize) -> String {
        let shown: Vec<String> = self
            .keys
            .iter()
            .filter_map(|(k, _)| self.points[p].params.get(k).map(|v| format!("{k}={}", show(v))))
            .collect();
        if shown.is_empty() { "the only point".into() } else { shown.join(", ") }
    }

    /// Points that agree with `reference` on every swept key but `key`, in `key`'s value order.
    fn slice(&self, key: &str, reference: usize) -> Vec<(String, usize)> {
        let r = &self.points[reference].params;
        let values = &self.keys.iter().find(|k| k.0 == key).expect("a swept key").1;
        values
            .iter()
            .filter_map(|v| {
                self.points
                    .iter()
                    .position(|p| {
                        p.params.get(key) == Some(v)
                            && self.keys.iter().filter(|k| k.0 != key).all(|k| p.params.get(&k.0) == r.get(&k.0))
                    })
                    .map(|i| (show(v), i))
            })
            .collect()
    }

    fn figures(&self, reference: usize) -> Vec<Figure> {
        let mut figs = vec![];
        let at = self.point_name(reference);
        let color = |i: usize| protocol_color(i, &self.protocols[i]);
        // Noise CDF at the reference point, and the oslat histogram per protocol.
        let cdf = |runs: &[&Report]| -> Vec<(f64, f64)> {
            let mut buckets: BTreeMap<u64, u64> = BTreeMap::new();
            for r in runs {
                for b in &r.noise_event_histogram {
                    *buckets.entry(b.from_ns).or_default() += b.count;
                }
            }
            let total: u64 = buckets.values().sum();
            let mut acc = 0;
            let mut pts = vec![(0.0, 0.0)];
            for (from, n) in buckets {
                pts.push((from as f64 / 1000.0, acc as f64 / total.max(1) as f64));
                acc += n;
                pts.push(((from + NOISE_BUCKET_NS) as f64 / 1000.0, acc as f64 / total.max(1) as f64));
            }
            pts
        };
        let p = &self.points[reference];
        figs.push(Figure::Cdf(Cdf {
            file: "noise-cdf".into(),
            title: format!("Noise events on isolated CPUs, CDF ({at})"),
            x_label: "duration of one noise event (µs)".into(),
            curves: self
                .protocols
                .iter()
                .enumerate()
                .filter_map(|(i, n)| p.runs.get(n).map(|r| (n.clone(), color(i), cdf(r))))
                .collect(),
        }));
        for (i, name) in self.protocols.iter().enumerate() {
            let Some(runs) = p.runs.get(name) else { continue };
            let n = runs.first().map_or(0, |r| r.oslat_histogram.len());
            let mut counts = vec![0u64; n];
            for r in runs {
                for (c, b) in counts.iter_mut().zip(&r.oslat_histogram) {
                    *c += b.count;
                }
            }
            figs.push(Figure::Histogram(Histogram {
                file: format!("oslat-histogram-{name}"),
                title: format!("oslat loop latency, {name} ({at})"),
                x_label: "loop iteration latency, 1 µs buckets (µs; last: that many or more)".into(),
                labels: (0..n).map(|b| if b + 1 == n { format!("≥{b}") } else { b.to_string() }).collect(),
                counts,
                color: color(i),
            }));
            if self.points.len() > 1 {
                // At most eight points, spread over the sweep.
                let pick: Vec<usize> = if self.points.len() <= 8 {
                    (0..self.points.len()).collect()
                } else {
                    (0..8).map(|k| k * (self.points.len() - 1) / 7).collect()
                };
                figs.push(Figure::Cdf(Cdf {
                    file: format!("noise-cdf-{name}"),
                    title: format!("Noise events on isolated CPUs, CDF, {name}, per point"),
                    x_label: "duration of one noise event (µs)".into(),
                    curves: pick
                        .iter()
                        .enumerate()
                        .filter_map(|(k, &pi)| {
                            self.points[pi].runs.get(name).map(|r| (self.point_name(pi), series_color(k), cdf(r)))
                        })
                        .collect(),
                }));
            }
        }

        // Each metric against each swept key.
        for (key, _) in &self.keys {
            let slice = self.slice(key, reference);
            let categorical = slice.iter().any(|(v, _)| v.parse::<f64>().is_err());
            let others: Vec<String> = self
                .keys
                .iter()
                .filter(|k| &k.0 != key)
                .filter_map(|k| self.points[reference].params.get(&k.0).map(|v| format!("{}={}", k.0, show(v))))
                .collect();
            let held = if others.is_empty() { String::new() } else { format!(" ({})", others.join(", ")) };
            let slug = key.rsplit('.').next().unwrap_or(key).replace('_', "-");
            let chart = |file: String, title: String, y: &str, series: Vec<Series>| {
                Figure::Chart(Chart {
                    file,
                    title: format!("{title}{held}"),
                    x_label: key_label(key),
                    y_label: y.to_string(),
                    categories: slice.iter().map(|s| s.0.clone()).collect(),
                    series,
                    bars: categorical,
                })
            };
            let per_protocol = |f: &dyn Fn(&Metrics) -> Option<f64>, dashed: bool, suffix: &str| -> Vec<Series> {
                self.protocols
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Series {
                        name: format!("{n}{suffix}"),
                        color: color(i),
                        dashed,
                        values: slice.iter().map(|(_, p)| self.metrics[*p].get(n).and_then(f)).collect(),
                    })
                    .filter(|s| s.values.iter().any(Option::is_some))
                    .collect()
            };
            let mut noise = per_protocol(&|m| Some(m.noise_p99_us), false, ": p99");
            if !categorical {
                noise.extend(per_protocol(&|m| Some(m.noise_max_us), true, ": max"));
            }
            figs.push(chart(
                format!("noise-vs-{slug}"),
                "Single noise events on isolated CPUs: p99 and max".into(),
                "duration of one noise event (µs)",
                noise,
            ));
            figs.push(chart(
                format!("noise-per-cpu-vs-{slug}"),
                "Noise per isolated CPU".into(),
                "noise (µs per second of runtime)",
                per_protocol(&|m| Some(m.noise_per_s_us), false, ""),
            ));
            figs.push(chart(
                format!("ipis-vs-{slug}"),
                "Interrupts per second per isolated CPU".into(),
                "IPIs per second per isolated CPU",
                per_protocol(&|m| Some(m.ipis_per_s), false, ""),
            ));
            let penalty = per_protocol(&|m| m.entry_penalty_ns, false, "");
            if !penalty.is_empty() {
                figs.push(chart(
                    format!("entry-penalty-vs-{slug}"),
                    "Entry penalty: first kernel entry after a deferral".into(),
                    "extra ns over the run's other entries",
                    penalty,
                ));
            }
            for op in self.sender_ops() {
                let mut s = per_protocol(&|m| m.senders.get(&op).map(|x| x.0), false, ": mean");
                if !categorical {
                    s.extend(per_protocol(&|m| m.senders.get(&op).map(|x| x.1), true, ": p99"));
                }
                figs.push(chart(
                    format!("sender-latency-{op}-vs-{slug}"),
                    format!("Sender latency of {op}"),
                    "latency on the housekeeping CPU (µs)",
                    s,
                ));
            }
        }

        // The deferred/broadcast noise ratio over the first two swept keys.
        let (bi, di) =
            (self.protocols.iter().position(|p| p == "broadcast"), self.protocols.iter().position(|p| p == "deferred"));
        if let ([kx, ky, ..], Some(bi), Some(di)) = (self.keys.as_slice(), bi, di) {
            let r = &self.points[reference].params;
            let rest: Vec<&(String, Vec<Json>)> = self.keys[2..].iter().collect();
            let cell = |x: &Json, y: &Json| -> Option<f64> {
                let p = self.points.iter().position(|p| {
                    p.params.get(&kx.0) == Some(x)
                        && p.params.get(&ky.0) == Some(y)
                        && rest.iter().all(|k| p.params.get(&k.0) == r.get(&k.0))
                })?;
                let m = &self.metrics[p];
                let (b, d) = (m.get(&self.protocols[bi])?, m.get(&self.protocols[di])?);
                (b.noise_per_s_us > 0.0).then(|| d.noise_per_s_us / b.noise_per_s_us)
            };
            figs.push(Figure::Heatmap(Heatmap {
                file: "noise-ratio-heatmap".into(),
                title: "Noise per isolated CPU, deferred / broadcast (below 1: deferred is quieter)".into(),
                x_label: key_label(&kx.0),
                y_label: key_label(&ky.0),
                xs: kx.1.iter().map(show).collect(),
                ys: ky.1.iter().map(show).collect(),
                cells: ky.1.iter().map(|y| kx.1.iter().map(|x| cell(x, y)).collect()).collect(),
                centre: 1.0,
            }));
        }
        figs
    }

    fn summary(&self, first: &Record, results: &Path, reference: usize, figures: &[Figure]) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Sweep `{}`\n", first.sweep);
        let seeds: Vec<String> = {
            let mut s: Vec<u64> = self.points.iter().flat_map(|p| p.runs.values().flatten().map(|r| r.seed)).collect();
            s.sort();
            s.dedup();
            s.iter().map(u64::to_string).collect()
        };
        let runs: usize = self.points.iter().map(|p| p.runs.values().map(Vec::len).sum::<usize>()).sum();
        let _ = writeln!(
            o,
            "{} runs ({} of the sweep's {}) from `{}`: {} points, protocols {}, seeds {}; measured by {} (sweep digest {}).\n",
            runs,
            runs,
            first.units,
            results.file_name().map_or_else(|| results.display().to_string(), |f| f.to_string_lossy().into_owned()),
            self.points.len(),
            self.protocols.join(", "),
            seeds.join(", "),
            first.version,
            first.digest
        );
        let _ = writeln!(
            o,
            "Means over seeds; max noise is the largest over seeds. Noise is time taken from the isolated \
             task by interrupts and TLB-invalidation disturbances; the entry penalty is how much longer the \
             first kernel entry after a deferral took than the run's other entries.\n"
        );
        let mut head: Vec<String> = self.keys.iter().map(|k| format!("`{}`", k.0)).collect();
        head.extend(
            [
                "protocol",
                "noise/CPU (µs/s)",
                "noise p99 (µs)",
                "noise max (µs)",
                "IPIs/s per CPU",
                "entry penalty (ns)",
            ]
            .map(String::from),
        );
        let ops = self.sender_ops();
        head.extend(ops.iter().map(|op| format!("{op} mean (µs)")));
        head.push("violations".into());
        let _ = writeln!(o, "| {} |", head.join(" | "));
        let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
        for (pi, p) in self.points.iter().enumerate() {
            for name in &self.protocols {
                let Some(m) = self.metrics[pi].get(name) else { continue };
                let mut row: Vec<String> =
                    self.keys.iter().map(|k| p.params.get(&k.0).map_or_else(String::new, show)).collect();
                row.push(name.clone());
                row.push(format!("{:.1}", m.noise_per_s_us));
                row.push(format!("{:.2}", m.noise_p99_us));
                row.push(format!("{:.2}", m.noise_max_us));
                row.push(format!("{:.0}", m.ipis_per_s));
                row.push(m.entry_penalty_ns.map_or_else(|| "–".into(), |v| format!("{v:+.0}")));
                for op in &ops {
                    row.push(m.senders.get(op).map_or_else(|| "–".into(), |v| format!("{:.2}", v.0)));
                }
                row.push(m.violations.to_string());
                let _ = writeln!(o, "| {} |", row.join(" | "));
            }
        }
        let _ = writeln!(o, "\n## Figures\n");
        let _ = writeln!(o, "Per-point figures show {}.\n", self.point_name(reference));
        for f in figures {
            let _ = writeln!(o, "- [{}]({}.svg) ([PNG]({}.png))", f.title(), f.file(), f.file());
        }
        o
    }
}

fn series_color(k: usize) -> RGBColor {
    [
        RGBColor(0x44, 0x01, 0x54),
        RGBColor(0x46, 0x32, 0x7e),
        RGBColor(0x36, 0x5c, 0x8d),
        RGBColor(0x27, 0x7f, 0x8e),
        RGBColor(0x1f, 0xa1, 0x87),
        RGBColor(0x4a, 0xc1, 0x6d),
        RGBColor(0x9f, 0xda, 0x3a),
        RGBColor(0xe0, 0xc0, 0x20),
    ][k % 8]
}
