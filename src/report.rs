//! `isolsim report`: a sweep's results as plots (SVG and PNG, drawn with plotters) and a
//! markdown summary.
//!
//! Every metric is read from the [`Report`]s in the results file, one per point, protocol and
//! seed. Lines and bars are means over the seeds (a maximum: the largest over the seeds), and
//! each shows its spread over the seeds, min to max, as a band or whiskers; every figure says n,
//! the number of seeds. Which plots are drawn follows from what the sweep varied:
//!
//! | plot | drawn when |
//! |---|---|
//! | noise CDF (one curve per protocol) and oslat 1 µs histogram per protocol | always, at the reference point |
//! | noise CDF per protocol, one curve per point | more than one point |
//! | p99 and max noise, noise per CPU, sender latency per operation, entry penalty, IPIs per second: each vs a swept key | per swept key |
//! | heatmap of deferred/broadcast noise over two swept keys, with a colour bar | two or more swept keys, both protocols run |
//!
//! A plot against one swept key holds the other swept keys at the *reference point*: the first
//! point, or the one `--at KEY=VALUE` picks. A numeric key is drawn at its true values: on a log
//! axis when its values are spaced evenly in log (each about a constant multiple of the last, as
//! 4, 8, … 256 or 10, 30, 100, …), on a linear axis otherwise ([`x_scale`]). A key that is not a
//! number (a preset) gives grouped bars. Where there is nothing to measure (no noise event, no
//! such operation, no deferral) a line has a gap, a bar says "none", a legend entry says why,
//! and the summary says "none" or "–": never 0.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (the `dejavu` crate; Bitstream Vera
//! licence), or with the TrueType/OpenType file `ISOLSIM_FONT` names: no system font is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ab_glyph::{Font as _, FontRef, ScaleFont as _};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, SegmentValue};
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind, text_anchor};
use serde_json::Value as Json;
use workloads::experiment::{NOISE_BUCKET_NS, Report};

use crate::experiment::noise_us_per_s;
use crate::sweep::{Record, SweepError, read_records};

const SIZE: (u32, u32) = (960, 600);
/// Tick labels and legends.
const LABEL: u32 = 15;
/// Axis descriptions.
const AXIS: u32 = 17;
const GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// The font the plots' text is drawn with: the TrueType/OpenType file `ISOLSIM_FONT` names, else
/// DejaVu Sans as the `dejavu` crate embeds it, so no system font is needed. `from_env` is
/// `ISOLSIM_FONT`'s value (a parameter so that tests need not set the process's environment).
fn font_bytes(from_env: Option<&std::ffi::OsStr>) -> Result<std::borrow::Cow<'static, [u8]>, String> {
    match from_env {
        // A font is binary and may be large (CJK fonts are tens of MiB).
        Some(path) => workloads::input::read_bytes(Path::new(path), 4 * workloads::input::MAX_TEXT_BYTES)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("ISOLSIM_FONT={}: cannot read the font ({})", Path::new(path).display(), e.message)),
        None => Ok(std::borrow::Cow::Borrowed(dejavu::sans::regular())),
    }
}

/// The registered font, for [`Glyphs`].
static FONT: std::sync::OnceLock<FontRef<'static>> = std::sync::OnceLock::new();

/// Registers the font as plotters' "sans-serif", once.
fn register_font() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let from_env = std::env::var_os("ISOLSIM_FONT");
        let name = from_env.as_deref().map_or_else(|| "the embedded DejaVu Sans".into(), |p| p.to_string_lossy());
        let bytes: &'static [u8] = match font_bytes(from_env.as_deref())? {
            std::borrow::Cow::Borrowed(b) => b,
            // plotters keeps fonts for the whole process; so does this one.
            std::borrow::Cow::Owned(b) => Box::leak(b.into_boxed_slice()),
        };
        let font = FontRef::try_from_slice(bytes).map_err(|_| format!("{name}: not a TrueType/OpenType font"))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{name}: not a TrueType/OpenType font"))?;
        let _ = FONT.set(font);
        Ok(())
    })
    .clone()
}

/// plotters' bitmap backend, with text laid out glyph by glyph from each glyph's own bounds.
/// plotters' ab_glyph text drops the left side bearing, which spaces letters unevenly ("p er
/// second"); everything but text goes straight to the bitmap.
struct Glyphs<'a>(BitMapBackend<'a>);

impl<'a> DrawingBackend for Glyphs<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(a, b, s)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(a, b, s, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        s: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, s)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        c: BackendCoord,
        r: u32,
        s: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(c, r, s, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        s: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, s)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (w, h): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, (w, h), src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let Some(font) = FONT.get() else { return self.0.draw_text(text, style, pos) };
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        // The box plotters laid the text out with (advance widths, size / 1.24 high), so that text
        // lands where plotters made room for it; the baseline puts ascent and descent inside it.
        let ((x0, y0), (x1, y1)) = style.layout_box(text).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (w, h) = (x1 - x0, y1 - y0);
        let dx = match style.anchor().h_pos {
            text_anchor::HPos::Left => 0,
            text_anchor::HPos::Right => -w,
            text_anchor::HPos::Center => -w / 2,
        };
        let dy = match style.anchor().v_pos {
            text_anchor::VPos::Top => 0,
            text_anchor::VPos::Center => -h / 2,
            text_anchor::VPos::Bottom => -h,
        };
        let size = style.size() as f32;
        let scaled = font.as_scaled(size);
        let baseline = h as f32 * scaled.ascent() / (scaled.ascent() - scaled.descent());
        let transform = style.transform();
        let (bw, bh) = self.get_size();
        let mut caret = 0.0f32;
        let mut prev = None;
        let mut failed = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(size, ab_glyph::point(caret, baseline));
            caret += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let (x, y) =
                    transform.transform(bounds.min.x as i32 + gx as i32 + dx, bounds.min.y as i32 + gy as i32 + dy);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if failed.is_none() && coverage > 0.0 && x >= 0 && y >= 0 && x < bw as i32 && y < bh as i32 {
                    let c = BackendColor { alpha: color.alpha * f64::from(coverage.min(1.0)), rgb: color.rgb };
                    failed = self.0.draw_pixel((x, y), c).err();
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }
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

/// A metric over the seeds of one point and protocol: its mean, smallest and largest value, and
/// n, how many seeds had a value (a seed with nothing to measure, e.g. no noise event, is left
/// out rather than counted as 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// The spread of the finite values of `xs`; `None` when there is none. A NaN or an infinity
    /// (a results file may carry them) is no measurement to average or draw.
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let (mut sum, mut n, mut min, mut max) = (0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY);
        for x in xs.into_iter().filter(|x| x.is_finite()) {
            sum += x;
            n += 1;
            min = min.min(x);
            max = max.max(x);
        }
        // The clamp only absorbs rounding: a mean of equal values stays that value.
        (n > 0).then(|| Spread { mean: (sum / n as f64).clamp(min, max), min, max, n })
    }

    /// Drawn at its mean, from min to max.
    fn band(self) -> Band {
        Band { y: self.mean, lo: self.min, hi: self.max, n: self.n }
    }

    /// Drawn at its largest value (a maximum over seeds), from min to max.
    fn band_at_max(self) -> Band {
        Band { y: self.max, ..self.band() }
    }
}

/// The metrics of one point and protocol, each over the seeds.
#[derive(Clone, Debug, Default)]
struct Metrics {
    /// Noise per isolated CPU per second of runtime, µs/s.
    noise_per_s_us: Option<Spread>,
    /// 99th percentile of single noise events, µs (seeds with no event left out).
    noise_p99_us: Option<Spread>,
    /// Longest single noise event of each seed, µs.
    noise_max_us: Option<Spread>,
    /// Interrupts per second per isolated CPU.
    ipis_per_s: Option<Spread>,
    /// Extra ns of the first kernel entry after a deferral over the run's other entries.
    entry_penalty_ns: Option<Spread>,
    /// Sender latency by operation: (mean, p99) in µs.
    senders: BTreeMap<String, (Spread, Spread)>,
    /// The instruction-level oslat loop's p50, p99.99 and longest iteration, ns (runs of the
    /// `work` loop, whose iterations are one block, have none).
    oslat_ns: Option<[Spread; 3]>,
    /// Safety violations (sum over seeds).
    violations: usize,
}

fn metrics(runs: &[&Report]) -> Metrics {
    let penalties = runs.iter().filter_map(|r| {
        let (all, after) = (&r.syscalls.all, &r.syscalls.after_deferral);
        (after.count > 0 && all.count > after.count).then(|| {
            let others =
                (all.mean * all.count as f64 - after.mean * after.count as f64) / (all.count - after.count) as f64;
            after.mean - others
        })
    });
    let mut senders: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        for s in r.senders.iter().filter(|s| s.ns.count > 0) {
            senders.entry(s.op.clone()).or_default().push((s.ns.mean / 1000.0, s.ns.p99 as f64 / 1000.0));
        }
    }
    // A percentile or maximum of no event is no number: such seeds are left out.
    let with_events = || runs.iter().filter(|r| r.noise_events_ns.count > 0);
    Metrics {
        noise_per_s_us: Spread::of(runs.iter().copied().filter_map(noise_us_per_s)),
        noise_p99_us: Spread::of(with_events().map(|r| r.noise_events_ns.p99 as f64 / 1000.0)),
        noise_max_us: Spread::of(with_events().map(|r| r.noise_events_ns.max as f64 / 1000.0)),
        ipis_per_s: Spread::of(
            runs.iter().filter_map(|r| Spread::of(r.isolated.iter().map(|x| x.irqs_per_s)).map(|s| s.mean)),
        ),
        entry_penalty_ns: Spread::of(penalties),
        senders: senders
            .into_iter()
            .filter_map(|(k, v)| Some((k, (Spread::of(v.iter().map(|x| x.0))?, Spread::of(v.iter().map(|x| x.1))?))))
            .collect(),
        oslat_ns: {
            let loops = || runs.iter().filter(|r| !r.oslat_sub_us_histogram.is_empty() && r.oslat_ns.count > 0);
            let of = |f: fn(&Report) -> u64| Spread::of(loops().map(|r| f(r) as f64));
            Option::zip(of(|r| r.oslat_ns.p50), of(|r| r.oslat_ns.p9999))
                .zip(of(|r| r.oslat_ns.max))
                .map(|((p50, p9999), max)| [p50, p9999, max])
        },
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
            Some(f) => fmt_num(f),
            None => n.to_string(),
        },
        v => v.to_string(),
    }
}

/// A number as a tick label: whole numbers without a fraction, others with at most 3 decimals.
fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        let s = format!("{f:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// How a swept key's values are laid out along the x axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XScale {
    /// Not all numbers (a preset): one group of bars per value.
    Categories,
    /// At their values, on a linear axis.
    Linear,
    /// At their values, on a logarithmic axis.
    Log,
}

/// The largest over the smallest gap between consecutive values: 1 when evenly spaced.
fn unevenness(sorted: &[f64]) -> f64 {
    let gaps: Vec<f64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.iter().copied().fold(0.0, f64::max) / gaps.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The x axis of a swept key's `values`. A log axis when the values are a geometric grid: at least
/// three, all above zero, spanning a factor of 4 or more, and spaced more evenly in log than in
/// linear terms (4, 8, … 256; 10, 30, 100, 300, 1000). A linear one for other numbers (a grid
/// with 0 in it, 1, 2, 3, 4; two values), categories when one is not a number.
pub fn x_scale(values: &[Json]) -> XScale {
    let Some(mut v) = values.iter().map(Json::as_f64).collect::<Option<Vec<f64>>>() else {
        return XScale::Categories;
    };
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() < 3 || v[0] <= 0.0 || v[v.len() - 1] / v[0] < 4.0 {
        return XScale::Linear;
    }
    let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
    if unevenness(&logs) < unevenness(&v) { XScale::Log } else { XScale::Linear }
}

/// Round tick values between `lo` and `hi`, at most about `target` of them: steps of 1, 2 or 5
/// times a power of ten, whole numbers when `whole`.
fn nice_ticks(lo: f64, hi: f64, target: usize, whole: bool) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / target.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    if whole {
        step = step.max(1.0).round();
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Every `k`-th of `values` (the first kept), so that at most `max` remain.
fn thin(values: &[f64], max: usize) -> Vec<f64> {
    let k = values.len().div_ceil(max.max(1)).max(1);
    values.iter().step_by(k).copied().collect()
}

/// A numeric x axis, linear or logarithmic, with its ticks where [`Axis::new`] put them.
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
}

impl Axis {
    /// The axis for `values` (at least one) on `scale`, with a margin so that no point sits on
    /// the frame. Ticks at the values when they fit as labels, else at round numbers.
    fn new(values: &[f64], scale: XScale) -> Axis {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        v.dedup();
        let (min, max) = (v[0], v[v.len() - 1]);
        if scale == XScale::Log {
            let pad = (max / min).powf(0.04);
            return Axis { lo: min / pad, hi: max * pad, log: true, ticks: thin(&v, 12) };
        }
        let span = if max > min { max - min } else { min.abs().max(1.0) };
        let (lo, hi) = (min - 0.04 * span, max + 0.04 * span);
        // Labels at the values need room between them: about a sixteenth of the axis.
        let min_gap = v.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
        let ticks = if v.len() <= 12 && min_gap >= span / 16.0 {
            v
        } else {
            nice_ticks(min, max, 8, v.iter().all(|x| x.fract() == 0.0))
        };
        Axis { lo, hi, log: false, ticks }
    }

    /// Where `v` falls along the axis, 0 at its start and 1 at its end.
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + (self.fraction(*v) * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.max_num_points() == 0 { vec![] } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// A value drawn with its spread: at `y`, from `lo` to `hi`, over `n` seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Band {
    y: f64,
    lo: f64,
    hi: f64,
    n: usize,
}

/// "n = 3 seeds" (or "n = 2–3 seeds" when points differ) over the bands given.
fn seeds_note<'b>(bands: impl IntoIterator<Item = &'b Band>) -> String {
    let ns: BTreeSet<usize> = bands.into_iter().map(|b| b.n).collect();
    match (ns.first(), ns.last()) {
        (Some(a), Some(b)) if a == b => format!("n = {a} seed{} per point", if *a == 1 { "" } else { "s" }),
        (Some(a), Some(b)) => format!("n = {a}–{b} seeds per point"),
        _ => "nothing was measured at these points".into(),
    }
}

/// A line or bar chart: one value per swept value per series.
struct Chart {
    file: String,
    title: String,
    /// Under the title: n and what lines and bands are.
    note: String,
    x_label: String,
    y_label: String,
    /// The swept values, in the order of the series' values.
    xs: Vec<Json>,
    scale: XScale,
    series: Vec<Series>,
}

struct Series {
    name: String,
    color: RGBColor,
    dashed: bool,
    values: Vec<Option<Band>>,
    /// Why a value can be missing ("no events"), for the legend.
    missing: String,
}

impl Series {
    /// The legend entry: the name, and why values are missing when some are.
    fn legend(&self, bars: bool) -> String {
        let have = self.values.iter().flatten().count();
        if have == 0 {
            format!("{} ({})", self.name, self.missing)
        } else if have < self.values.len() {
            format!("{} ({}: {})", self.name, if bars { "none" } else { "gap" }, self.missing)
        } else {
            self.name.clone()
        }
    }
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A font of `size` px, shrunk until `text` fits in `width` px.
fn fitted<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str, size: u32, width: u32) -> u32 {
    (10..=size)
        .rev()
        .find(|s| {
            area.estimate_text_size(text, &TextStyle::from(("sans-serif", *s).into_font()))
                .is_ok_and(|(w, _)| w <= width)
        })
        .unwrap_or(10)
}

/// Fills the figure white, writes the title and under it the note (n, what lines and bands are);
/// returns the area left for the plot.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (top, rest) = root.split_vertically(if note.is_empty() { 42 } else { 64 });
    let centred = |text: &str, size: u32, y: i32, color: &RGBColor| {
        let style = ("sans-serif", fitted(&top, text, size, w - 24)).into_font().color(color);
        top.draw(&Text::new(text.to_string(), (w as i32 / 2, y), style.pos(Pos::new(HPos::Center, VPos::Top))))
            .map_err(err)
    };
    centred(title, 22, 10, &BLACK)?;
    if !note.is_empty() {
        centred(note, LABEL, 40, &GREY)?;
    }
    Ok(rest)
}

/// A chart with the margins and label areas every figure here uses.
fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    y_label_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(14).margin_top(4).x_label_area_size(48).y_label_area_size(y_label_area);
    b
}

/// Space between a legend and the plot's frame, px.
const INSET: i32 = 8;

/// The legend box for `labels`, px, as plotters draws it (text, 30 px of marker, 10 px margins).
fn legend_size(labels: &[String]) -> (i32, i32) {
    let mut text = MultiLineText::<_, String>::new((0, 0), ("sans-serif", LABEL).into_font());
    for l in labels {
        text.push_line(l.clone());
    }
    let (w, h) = text.estimate_dimension().unwrap_or((300, 20 * labels.len() as i32));
    (w + 30 + 20, h + 20)
}

/// Where a legend of `size` px can go in the plot (`plot`: its pixel ranges) without covering any
/// of `ink` (pixels drawn with data), as an offset from the plot's top left: the first free one
/// of the upper left, upper right, lower right and lower left corners, else the highest free
/// place (leftmost first). `None` when the data leaves no room.
fn free_place(plot: &(Range<i32>, Range<i32>), size: (i32, i32), ink: &[(i32, i32)]) -> Option<(i32, i32)> {
    let (w, h) = (plot.0.end - plot.0.start, plot.1.end - plot.1.start);
    if size.0 + 2 * INSET > w || size.1 + 2 * INSET > h {
        return None;
    }
    let (right, bottom) = (w - size.0 - INSET, h - size.1 - INSET);
    // Counts of ink per rectangle from a summed-area table: each place is checked in O(1).
    let (cols, rows) = (w as usize + 1, h as usize + 1);
    let mut table = vec![0u32; cols * rows];
    for &(px, py) in ink {
        let (x, y) = (px - plot.0.start, py - plot.1.start);
        if (0..w).contains(&x) && (0..h).contains(&y) {
            table[(y as usize + 1) * cols + x as usize + 1] = 1;
        }
    }
    for y in 1..rows {
        for x in 1..cols {
            table[y * cols + x] += table[(y - 1) * cols + x] + table[y * cols + x - 1] - table[(y - 1) * cols + x - 1];
        }
    }
    let free = |&(x, y): &(i32, i32)| {
        // A few pixels of air around the box too.
        let (x0, y0) = ((x - 6).max(0) as usize, (y - 6).max(0) as usize);
        let (x1, y1) = ((x + size.0 + 6).min(w) as usize, (y + size.1 + 6).min(h) as usize);
        table[y1 * cols + x1] + table[y0 * cols + x0] == table[y0 * cols + x1] + table[y1 * cols + x0]
    };
    let corners = [(INSET, INSET), (right, INSET), (right, bottom), (INSET, bottom)];
    let inside = (INSET..=bottom).step_by(10).flat_map(|y| (INSET..=right).step_by(10).map(move |x| (x, y)));
    corners.into_iter().chain(inside).find(free)
}

/// Pixels covering the band between the segments `lo` and `hi` (pixel end points, the same x
/// at each end): vertical lines at most 3 px apart.
fn sample_band(lo: [(i32, i32); 2], hi: [(i32, i32); 2], out: &mut Vec<(i32, i32)>) {
    let steps = (((lo[1].0 - lo[0].0).abs() + 2) / 3).max(1);
    let at =
        |p: [(i32, i32); 2], k: i32| (p[0].0 + (p[1].0 - p[0].0) * k / steps, p[0].1 + (p[1].1 - p[0].1) * k / steps);
    for k in 0..=steps {
        sample(at(lo, k), at(hi, k), out);
    }
}

/// Pixels along the segment from `a` to `b`, at most 3 px apart.
fn sample(a: (i32, i32), b: (i32, i32), out: &mut Vec<(i32, i32)>) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) + 2) / 3;
    let steps = steps.max(1);
    out.extend((0..=steps).map(|k| (a.0 + (b.0 - a.0) * k / steps, a.1 + (b.1 - a.1) * k / steps)));
}

/// Runs of consecutive present values: (index, value) lists split at every gap.
fn runs<T: Copy>(values: &[Option<T>]) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = vec![];
    let mut open = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if open => out.last_mut().expect("an open run").push((i, *v)),
            Some(v) => {
                out.push(vec![(i, *v)]);
                open = true;
            }
            None => open = false,
        }
    }
    out
}

/// What a legend entry shows before its label.
#[derive(Clone, Copy)]
enum Marker {
    /// A line over a pale band (the series' spread).
    Line { dashed: bool },
    /// A filled square, as the bars.
    Bar,
    /// Nothing: the series has no data.
    Nothing,
}

/// A legend entry's marker: drawn straight on the backend, so that its type does not name it.
struct LegendMark {
    at: BackendCoord,
    color: RGBColor,
    marker: Marker,
}

impl<'a> PointCollection<'a, BackendCoord> for &'a LegendMark {
    type Point = &'a BackendCoord;
    type IntoIter = std::iter::Once<&'a BackendCoord>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for LegendMark {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = pos.next() else { return Ok(()) };
        let line = ShapeStyle::from(&self.color).stroke_width(2);
        match self.marker {
            Marker::Nothing => Ok(()),
            Marker::Bar => backend.draw_rect((x, y - 6), (x + 22, y + 6), &self.color.filled(), true),
            Marker::Line { dashed } => {
                backend.draw_rect((x, y - 6), (x + 22, y + 6), &self.color.mix(0.2).filled(), true)?;
                if dashed {
                    backend.draw_line((x, y), (x + 8, y), &line)?;
                    backend.draw_line((x + 14, y), (x + 22, y), &line)
                } else {
                    backend.draw_line((x, y), (x + 22, y), &line)
                }
            }
        }
    }
}

/// The legend's marker in `color`.
fn legend_marker(color: RGBColor, marker: Marker) -> impl Fn(BackendCoord) -> LegendMark {
    move |at| LegendMark { at, color, marker }
}

fn draw_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult {
    let area = frame(root, &c.title, &c.note)?;
    match c.scale {
        XScale::Categories => draw_bars(&area, c),
        scale => {
            let xs: Vec<f64> = c.xs.iter().map(|x| x.as_f64().expect("a numeric axis")).collect();
            draw_lines(&area, c, &xs, Axis::new(&xs, scale))
        }
    }
}

/// The top of a linear y axis that shows every band, with a little room above.
fn y_top<'b>(bands: impl IntoIterator<Item = &'b Band>) -> f64 {
    let top = bands.into_iter().map(|b| b.hi.max(b.y)).fold(0.0, f64::max);
    if top > 0.0 { top * 1.06 } else { 1.0 }
}

/// A y tick label on a linear axis reaching `top`: as many decimals as the ticks' spacing needs.
fn y_tick(v: f64, top: f64) -> String {
    let decimals = if top >= 20.0 {
        0
    } else if top >= 2.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}")
}

/// `top` raised so that a legend `legend_h` px high fits above the data in a plot `plot_h` high.
fn headroom(top: f64, legend_h: i32, plot_h: i32) -> f64 {
    top / (1.0 - (f64::from(legend_h + 2 * INSET) / f64::from(plot_h.max(1))).min(0.6))
}

fn draw_lines<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart, xs: &[f64], axis: Axis) -> DrawResult {
    let top = y_top(c.series.iter().flat_map(|s| s.values.iter().flatten()));
    let labels: Vec<String> = c.series.iter().map(|s| s.legend(false)).collect();
    let size = legend_size(&labels);
    let build = |top: f64| chart_builder(area, 72).build_cartesian_2d(axis.clone(), 0.0..top).map_err(err);
    let mut chart = build(top)?;
    let mut ink = vec![];
    for s in &c.series {
        for run in runs(&s.values) {
            for w in run.windows(2) {
                let ((i, a), (j, b)) = (w[0], w[1]);
                let px = |x: usize, y: f64| chart.backend_coord(&(xs[x], y));
                sample(px(i, a.y), px(j, b.y), &mut ink);
                sample_band([px(i, a.lo), px(j, b.lo)], [px(i, a.hi), px(j, b.hi)], &mut ink);
            }
            for (i, b) in run {
                sample(chart.backend_coord(&(xs[i], b.lo)), chart.backend_coord(&(xs[i], b.hi)), &mut ink);
            }
        }
    }
    let corner = match free_place(&chart.plotting_area().get_pixel_range(), size, &ink) {
        Some(p) => p,
        None => {
            let h = chart.plotting_area().dim_in_pixel().1 as i32;
            chart = build(headroom(top, size.1, h))?;
            (INSET, INSET)
        }
    };
    let y_max = chart.y_range().end;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_max_light_lines(4)
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| y_tick(*v, y_max))
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", AXIS))
        .draw()
        .map_err(err)?;
    // Bands first, so that no band hides another series' line.
    for s in &c.series {
        for run in runs(&s.values) {
            let mut outline: Vec<(f64, f64)> = run.iter().map(|(i, b)| (xs[*i], b.lo)).collect();
            outline.extend(run.iter().rev().map(|(i, b)| (xs[*i], b.hi)));
            if run.len() > 1 {
                chart.draw_series([Polygon::new(outline, s.color.mix(0.16).filled())]).map_err(err)?;
            } else {
                let (i, b) = run[0];
                let whisker = PathElement::new(vec![(xs[i], b.lo), (xs[i], b.hi)], s.color.mix(0.5).stroke_width(3));
                chart.draw_series([whisker]).map_err(err)?;
            }
        }
    }
    for (s, label) in c.series.iter().zip(&labels) {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        for run in runs(&s.values) {
            let pts: Vec<(f64, f64)> = run.iter().map(|(i, b)| (xs[*i], b.y)).collect();
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style)).map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(err)?;
            }
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, s.color.filled()))).map_err(err)?;
        }
        let empty = s.values.iter().all(Option::is_none);
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(label)
            .legend(legend_marker(s.color, if empty { Marker::Nothing } else { Marker::Line { dashed: s.dashed } }));
    }
    // A value no series has is marked where it would be, above the axis.
    let pixels = chart.plotting_area().strip_coord_spec();
    let (ox, oy) = pixels.get_base_pixel();
    for (i, x) in xs.iter().enumerate() {
        if c.series.iter().all(|s| s.values[i].is_none()) {
            let (px, py) = chart.backend_coord(&(*x, 0.0));
            let style = ("sans-serif", 13).into_font().color(&GREY).pos(Pos::new(HPos::Center, VPos::Bottom));
            pixels.draw(&Text::new("none", (px - ox, py - oy - 4), style)).map_err(err)?;
        }
    }
    if c.series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        let why: BTreeSet<&str> = c.series.iter().map(|s| s.missing.as_str()).collect();
        say_in_plot(&chart, &why.into_iter().collect::<Vec<_>>().join(", "))?;
    }
    draw_legend(&mut chart, corner)?;
    area.present().map_err(err)
}

/// `text` in grey across the middle of the plot: said when there is no data to draw at all.
fn say_in_plot<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    chart: &ChartContext<'_, DB, CT>,
    text: &str,
) -> DrawResult {
    let area = chart.plotting_area().strip_coord_spec();
    let (w, h) = area.dim_in_pixel();
    let style = ("sans-serif", 22).into_font().color(&GREY).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(text.to_string(), (w as i32 / 2, h as i32 / 2), style)).map_err(err)
}

/// The series' legend at `corner` (an offset from the plot's top left).
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    corner: (i32, i32),
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(corner.0, corner.1))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", LABEL))
        .draw()
        .map_err(err)
}

/// `n` categories as plotters segments (its integer ranges include their end).
fn segments(n: u32) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordu32> {
    (0..n.saturating_sub(1)).into_segmented()
}

/// The label of category `v` of `labels` on a segmented axis.
fn segment_label(labels: &[String], v: &SegmentValue<u32>) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// Grouped bars (a key that is not a number): one group per value, one bar per series, with
/// whiskers from min to max over the seeds; a missing value is written "none" where its bar would be.
fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> DrawResult {
    let top = y_top(c.series.iter().flat_map(|s| s.values.iter().flatten()));
    let labels: Vec<String> = c.series.iter().map(|s| s.legend(true)).collect();
    let size = legend_size(&labels);
    let cats: Vec<String> = c.xs.iter().map(show).collect();
    let n = cats.len() as u32;
    let build = |top: f64| chart_builder(area, 72).build_cartesian_2d(segments(n), 0.0..top).map_err(err);
    let mut chart = build(top)?;
    // Bars in pixels: plotters cannot place a rectangle inside a segment.
    let slots = c.series.len().max(1);
    let bar = |chart: &ChartContext<'_, DB, _>, i: usize, slot: usize, v: f64| {
        let (x0, y) = chart.backend_coord(&(SegmentValue::Exact(i as u32), v));
        let (x1, base) = chart.backend_coord(&(SegmentValue::Exact(i as u32 + 1), 0.0));
        let width = f64::from(x1 - x0) * 0.8 / slots as f64;
        let left = f64::from(x0) + f64::from(x1 - x0) * 0.1 + width * slot as f64;
        (left as i32, (left + width) as i32, y, base)
    };
    let mut ink = vec![];
    for (slot, s) in c.series.iter().enumerate() {
        for (i, b) in s.values.iter().enumerate() {
            let Some(b) = b else { continue };
            let (l, r, _, base) = bar(&chart, i, slot, b.y);
            let (_, _, hi, _) = bar(&chart, i, slot, b.hi.max(b.y));
            for x in (l..=r).step_by(3) {
                sample((x, hi), (x, base), &mut ink);
            }
        }
    }
    let corner = match free_place(&chart.plotting_area().get_pixel_range(), size, &ink) {
        Some(p) => p,
        None => {
            let h = chart.plotting_area().dim_in_pixel().1 as i32;
            chart = build(headroom(top, size.1, h))?;
            (INSET, INSET)
        }
    };
    let y_max = chart.y_range().end;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_max_light_lines(4)
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .y_label_formatter(&|v| y_tick(*v, y_max))
        .x_labels(cats.len() + 1)
        .x_label_formatter(&|v| segment_label(&cats, v))
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", AXIS))
        .draw()
        .map_err(err)?;
    let pixels = chart.plotting_area().strip_coord_spec();
    let (ox, oy) = pixels.get_base_pixel();
    for (slot, (s, label)) in c.series.iter().zip(&labels).enumerate() {
        for (i, b) in s.values.iter().enumerate() {
            let (l, r, y, base) = bar(&chart, i, slot, b.map_or(0.0, |b| b.y));
            let Some(b) = b else {
                let style = ("sans-serif", 12).into_font().color(&GREY).pos(Pos::new(HPos::Center, VPos::Bottom));
                pixels.draw(&Text::new("none", ((l + r) / 2 - ox, base - oy - 2), style)).map_err(err)?;
                continue;
            };
            pixels.draw(&Rectangle::new([(l - ox, y - oy), (r - ox, base - oy)], s.color.filled())).map_err(err)?;
            if b.hi > b.lo {
                let (_, _, lo, _) = bar(&chart, i, slot, b.lo);
                let (_, _, hi, _) = bar(&chart, i, slot, b.hi);
                let mid = (l + r) / 2 - ox;
                let cap = ((r - l) / 4).clamp(2, 8);
                let dark = ShapeStyle::from(&BLACK).stroke_width(2);
                for seg in [
                    [(mid, lo - oy), (mid, hi - oy)],
                    [(mid - cap, lo - oy), (mid + cap, lo - oy)],
                    [(mid - cap, hi - oy), (mid + cap, hi - oy)],
                ] {
                    pixels.draw(&PathElement::new(seg.to_vec(), dark)).map_err(err)?;
                }
            }
        }
        let empty = s.values.iter().all(Option::is_none);
        chart
            .draw_series(std::iter::empty::<Circle<(SegmentValue<u32>, f64), i32>>())
            .map_err(err)?
            .label(label)
            .legend(legend_marker(s.color, if empty { Marker::Nothing } else { Marker::Bar }));
    }
    draw_legend(&mut chart, corner)?;
    area.present().map_err(err)
}

/// Curves of a cumulative distribution of noise events.
struct Cdf {
    file: String,
    title: String,
    note: String,
    x_label: String,
    curves: Vec<CdfCurve>,
    /// How opaque the bands are: fainter when there are many curves.
    band_alpha: f64,
}

/// One curve: the events of its runs pooled, with the band the runs' own CDFs span.
struct CdfCurve {
    name: String,
    color: RGBColor,
    events: u64,
    /// (duration in µs, fraction of events no longer, with the seeds' min and max).
    points: Vec<(f64, Band)>,
}

/// The CDF of the noise events of `runs`, pooled, and at each x the least and greatest fraction
/// any one run with events has there. Exact at bucket edges, linear within a bucket (the
/// histogram's resolution), so the points are the edges of every run's non-empty buckets.
fn cdf_points(runs: &[&Report]) -> (u64, Vec<(f64, Band)>) {
    let per_run: Vec<(u64, &[workloads::experiment::NoiseBucket])> = runs
        .iter()
        .map(|r| (r.noise_event_histogram.iter().map(|b| b.count).sum::<u64>(), r.noise_event_histogram.as_slice()))
        .filter(|(total, _)| *total > 0)
        .collect();
    let events: u64 = per_run.iter().map(|r| r.0).sum();
    let edges: BTreeSet<u64> = per_run
        .iter()
        .flat_map(|r| r.1.iter().filter(|b| b.count > 0).flat_map(|b| [b.from_ns, b.from_ns + NOISE_BUCKET_NS]))
        .collect();
    let below = |buckets: &[workloads::experiment::NoiseBucket], x: u64| -> u64 {
        buckets.iter().filter(|b| b.from_ns + NOISE_BUCKET_NS <= x).map(|b| b.count).sum()
    };
    let points = edges
        .iter()
        .map(|&x| {
            let fractions: Vec<f64> = per_run.iter().map(|(t, b)| below(b, x) as f64 / *t as f64).collect();
            let pooled = per_run.iter().map(|(_, b)| below(b, x)).sum::<u64>() as f64 / events as f64;
            let s = Spread::of(fractions.iter().copied()).expect("a run with events");
            (x as f64 / 1000.0, Band { y: pooled, lo: s.min, hi: s.max, n: s.n })
        })
        .collect();
    (events, points)
}

fn draw_cdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Cdf) -> DrawResult {
    let area = frame(root, &c.title, &c.note)?;
    let xs = || c.curves.iter().flat_map(|k| k.points.iter().map(|p| p.0));
    let (min, max) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
    let (min, max) = if min.is_finite() { (min, max) } else { (0.0, 1.0) };
    // The events' own range, not from 0: short events are what a CDF is read for.
    let pad = ((max - min) * 0.05).max(0.05);
    let (xlo, xhi) = ((min - pad).max(0.0), max + pad);
    // Each curve from 0 at the axis' left to 1 at its right.
    let full = |k: &CdfCurve| -> Vec<(f64, Band)> {
        let mut pts = vec![(xlo, Band { y: 0.0, lo: 0.0, hi: 0.0, n: 0 })];
        pts.extend(k.points.iter().copied());
        pts.push((xhi, Band { y: 1.0, lo: 1.0, hi: 1.0, n: 0 }));
        pts
    };
    let labels: Vec<String> = c
        .curves
        .iter()
        .map(|k| {
            if k.events == 0 { format!("{} (no events)", k.name) } else { format!("{} ({} events)", k.name, k.events) }
        })
        .collect();
    let size = legend_size(&labels);
    // Ticks from 0 to 1 only, also when the legend needs room above 1.
    let y = |top: f64| Axis { lo: 0.0, hi: top, log: false, ticks: (0..=10).map(|k| f64::from(k) / 10.0).collect() };
    let build = |top: f64| chart_builder(&area, 72).build_cartesian_2d(xlo..xhi, y(top)).map_err(err);
    let mut chart = build(1.02)?;
    let mut ink = vec![];
    for k in c.curves.iter().filter(|k| k.events > 0) {
        for w in full(k).windows(2) {
            let ((x0, a), (x1, b)) = (w[0], w[1]);
            let px = |x: f64, y: f64| chart.backend_coord(&(x, y));
            sample(px(x0, a.y), px(x1, b.y), &mut ink);
            sample_band([px(x0, a.lo), px(x1, b.lo)], [px(x0, a.hi), px(x1, b.hi)], &mut ink);
        }
    }
    let corner = match free_place(&chart.plotting_area().get_pixel_range(), size, &ink) {
        Some(p) => p,
        None => {
            let h = chart.plotting_area().dim_in_pixel().1 as i32;
            chart = build(headroom(1.02, size.1, h))?;
            (INSET, INSET)
        }
    };
    chart
        .configure_mesh()
        .max_light_lines(4)
        .x_desc(&c.x_label)
        .y_desc("fraction of noise events ≤ x")
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", AXIS))
        .draw()
        .map_err(err)?;
    for k in c.curves.iter().filter(|k| k.events > 0) {
        let pts = full(k);
        let mut outline: Vec<(f64, f64)> = pts.iter().map(|(x, b)| (*x, b.lo)).collect();
        outline.extend(pts.iter().rev().map(|(x, b)| (*x, b.hi)));
        chart.draw_series([Polygon::new(outline, k.color.mix(c.band_alpha).filled())]).map_err(err)?;
    }
    for (k, label) in c.curves.iter().zip(&labels) {
        let line = ShapeStyle::from(&k.color).stroke_width(2);
        let pts: Vec<(f64, f64)> =
            if k.events == 0 { vec![] } else { full(k).iter().map(|(x, b)| (*x, b.y)).collect() };
        chart.draw_series(LineSeries::new(pts, line)).map_err(err)?.label(label).legend(legend_marker(
            k.color,
            if k.events == 0 { Marker::Nothing } else { Marker::Line { dashed: false } },
        ));
    }
    if c.curves.iter().all(|k| k.events == 0) {
        say_in_plot(&chart, "no events")?;
    }
    draw_legend(&mut chart, corner)?;
    area.present().map_err(err)
}

/// A histogram of loop latencies on a logarithmic count axis: per bucket the mean count per run,
/// with whiskers from the fewest to the most any one seed had.
struct Histogram {
    file: String,
    title: String,
    note: String,
    x_label: String,
    labels: Vec<String>,
    counts: Vec<Option<Band>>,
    color: RGBColor,
}

fn draw_histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Histogram) -> DrawResult {
    let area = frame(root, &h.title, &h.note)?;
    let present = || h.counts.iter().flatten();
    let top = present().map(|b| b.hi).fold(1.0, f64::max) * 3.0;
    // A power of ten at or below the smallest count drawn, so that every bar has a height.
    let least = present().flat_map(|b| [b.y, b.lo]).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let bottom = if least.is_finite() { 10f64.powf(least.log10().floor()) * 0.8 } else { 0.8 };
    let n = h.counts.len() as u32;
    let mut chart = chart_builder(&area, 80).build_cartesian_2d(segments(n), (bottom..top).log_scale()).map_err(err)?;
    let labels = h.labels.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_max_light_lines(4)
        .x_desc(&h.x_label)
        .y_desc("loop iterations per run (log scale)")
        .x_labels(labels.len().min(17))
        .x_label_formatter(&|v| segment_label(&labels, v))
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", AXIS))
        .draw()
        .map_err(err)?;
    for (i, b) in h.counts.iter().enumerate() {
        let Some(b) = b.filter(|b| b.y > 0.0) else { continue };
        let i = i as u32;
        chart
            .draw_series([Rectangle::new(
                [(SegmentValue::Exact(i), bottom), (SegmentValue::Exact(i + 1), b.y)],
                h.color.filled(),
            )])
            .map_err(err)?;
        if b.hi > b.lo {
            let at = SegmentValue::CenterOf(i);
            let whisker = PathElement::new(vec![(at.clone(), b.lo.max(bottom)), (at, b.hi)], BLACK.stroke_width(2));
            chart.draw_series([whisker]).map_err(err)?;
        }
    }
    area.present().map_err(err)
}

/// deferred/broadcast noise per (x value, y value), coloured on a log scale centred on `centre`.
struct Heatmap {
    file: String,
    title: String,
    note: String,
    x_label: String,
    y_label: String,
    xs: Vec<String>,
    ys: Vec<String>,
    /// `cells[y][x]`: the ratio of the means (as `mean`), the seeds' own ratios' min and max.
    cells: Vec<Vec<Option<Spread>>>,
    centre: f64,
}

/// The log of a ratio to the centre, within ±ln 1000 (a zero is a thousand times below).
fn log_ratio(v: f64, centre: f64) -> f64 {
    (v / centre).clamp(1e-3, 1e3).ln()
}

/// Blue below the centre, red above, white at it; on a log scale of the ratio.
fn ratio_color(v: f64, centre: f64, span: f64) -> RGBColor {
    let t = (log_ratio(v, centre) / span.max(1e-9)).clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, t: f64| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
    if t < 0.0 {
        RGBColor(mix(255, 0x1f, -t), mix(255, 0x77, -t), mix(255, 0xb4, -t))
    } else {
        RGBColor(mix(255, 0xd6, t), mix(255, 0x27, t), mix(255, 0x28, t))
    }
}

/// Ticks for a colour bar from `lo` to `hi` (both above 0): 1, 2 and 5 times powers of ten, or
/// only the powers when those would be too many.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |m: &[f64]| -> Vec<f64> {
        (a..=b)
            .flat_map(|e| m.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| *v >= lo * 0.999 && *v <= hi * 1.001)
            .collect()
    };
    let fine = within(&[1.0, 2.0, 5.0]);
    if fine.len() <= 9 { fine } else { within(&[1.0]) }
}

/// A ratio as a cell shows it: 0 as 0, small ones with two significant digits (not as 0.00).
fn ratio_text(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.01 {
        format!("{v:.2}")
    } else {
        let decimals = (1.0 - v.log10().floor()) as usize;
        format!("{v:.decimals$}")
    }
}

/// Width of the colour bar's column, px.
const BAR_AREA: u32 = 150;

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult {
    let area = frame(root, &h.title, &h.note)?;
    let (w, _) = area.dim_in_pixel();
    let (main, bar_area) = area.split_horizontally(w - BAR_AREA);
    let (nx, ny) = (h.xs.len() as u32, h.ys.len() as u32);
    let mut chart = chart_builder(&main, 110).build_cartesian_2d(segments(nx), segments(ny)).map_err(err)?;
    let (xs, ys) = (h.xs.clone(), h.ys.clone());
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&h.x_label)
        .y_desc(&h.y_label)
        .x_labels(xs.len() + 1)
        .y_labels(ys.len() + 1)
        .x_label_formatter(&|v| segment_label(&xs, v))
        .y_label_formatter(&|v| segment_label(&ys, v))
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", AXIS))
        .draw()
        .map_err(err)?;
    let span = h.cells.iter().flatten().flatten().map(|s| log_ratio(s.mean, h.centre).abs()).fold(0.1, f64::max);
    for (y, row) in h.cells.iter().enumerate() {
        for (x, v) in row.iter().enumerate() {
            let (x, y) = (x as u32, y as u32);
            let corners = [
                (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
            ];
            let fill = v.map_or(RGBColor(0xdd, 0xdd, 0xdd), |s| ratio_color(s.mean, h.centre, span));
            chart.draw_series([Rectangle::new(corners, fill.filled())]).map_err(err)?;
        }
    }
    let centre_text = |text: String, x: usize, y: usize, size: u32, color: &RGBColor, dy: i32| {
        let (px, py) = chart.backend_coord(&(SegmentValue::CenterOf(x as u32), SegmentValue::CenterOf(y as u32)));
        let (ox, oy) = main.get_base_pixel();
        let style = ("sans-serif", size).into_font().color(color).pos(Pos::new(HPos::Center, VPos::Center));
        main.draw(&Text::new(text, (px - ox, py - oy + dy), style)).map_err(err)
    };
    for (y, row) in h.cells.iter().enumerate() {
        for (x, v) in row.iter().enumerate() {
            let Some(s) = *v else {
                centre_text("none".into(), x, y, 16, &GREY, 0)?;
                continue;
            };
            // Dark text on light cells, light text on dark ones.
            let RGBColor(r, g, b) = ratio_color(s.mean, h.centre, span);
            let light = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b) > 160.0;
            let (ink, faint) = if light { (BLACK, GREY) } else { (WHITE, RGBColor(0xee, 0xee, 0xee)) };
            let range = (ratio_text(s.min), ratio_text(s.max));
            if s.n > 1 && range.0 != range.1 {
                centre_text(ratio_text(s.mean), x, y, 17, &ink, -9)?;
                centre_text(format!("{}–{}", range.0, range.1), x, y, 13, &faint, 10)?;
            } else {
                centre_text(ratio_text(s.mean), x, y, 17, &ink, 0)?;
            }
        }
    }
    // The colour bar, as high as the cells, on the same log scale as their colours.
    let (_, rows) = chart.plotting_area().get_pixel_range();
    let (_, by) = bar_area.get_base_pixel();
    let (top, bottom) = (rows.start - by, rows.end - by);
    let (lo, hi) = (h.centre * (-span).exp(), h.centre * span.exp());
    let at = |v: f64| bottom - ((v.ln() - lo.ln()) / (hi.ln() - lo.ln()) * f64::from(bottom - top)).round() as i32;
    let (left, right) = (10, 34);
    for y in top..bottom {
        let v = (lo.ln() + (hi.ln() - lo.ln()) * f64::from(bottom - y) / f64::from(bottom - top)).exp();
        bar_area
            .draw(&Rectangle::new([(left, y), (right, y + 1)], ratio_color(v, h.centre, span).filled()))
            .map_err(err)?;
    }
    bar_area.draw(&Rectangle::new([(left, top), (right, bottom)], BLACK.stroke_width(1))).map_err(err)?;
    // A ratio beyond a thousand either way (a 0) is coloured as the bar's end.
    let clamped = h.cells.iter().flatten().flatten().any(|s| s.mean / h.centre < 1e-3);
    for t in log_ticks(lo, hi) {
        let y = at(t);
        bar_area.draw(&PathElement::new(vec![(right, y), (right + 5, y)], BLACK.stroke_width(1))).map_err(err)?;
        let label = if clamped && t <= lo * 1.01 { format!("≤ {}", fmt_num(t)) } else { fmt_num(t) };
        let style = ("sans-serif", LABEL).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        bar_area.draw(&Text::new(label, (right + 8, y), style)).map_err(err)?;
    }
    let caption = ("sans-serif", LABEL)
        .into_font()
        .transform(FontTransform::Rotate270)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let label = "deferred / broadcast (log scale)";
    bar_area.draw(&Text::new(label, (right + 70, (top + bottom) / 2), caption)).map_err(err)?;
    area.present().map_err(err)
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
            let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, SIZE)).into_drawing_area();
            self.draw(&root)?;
        }
        // Encoded here rather than by plotters, at zlib's default level: `Best` made figures a few
        // per cent smaller and took 80% of `isolsim report`'s time (a perf profile).
        let mut png = vec![];
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new_with_quality(
                &mut png,
                image::codecs::png::CompressionType::Default,
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

/// Reads `results`, draws its figures into `out` and writes `out/summary.md`; returns the files
/// written. `at` picks the reference point (`KEY=VALUE` for swept keys).
pub fn render(results: &Path, out: &Path, at: &[String]) -> Result<Vec<PathBuf>, SweepError> {
    let records = read_records(results)?;
    let fail = |m: String| SweepError { file: results.display().to_string(), pos: None, message: m };
    if records.is_empty() {
        return Err(fail("holds no result line".into()));
    }
    // read_records has refused a file that mixes sweeps, naming the line.
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
        let ops: BTreeSet<&String> =
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

    /// The point's swept values, `KEY=VALUE, …` with keys in full (`short`: their last part).
    fn point_name(&self, p: usize, short: bool) -> String {
        let shown: Vec<String> = self
            .keys
            .iter()
            .filter_map(|(k, _)| {
                let name = if short { k.rsplit('.').next().unwrap_or(k) } else { k };
                self.points[p].params.get(k).map(|v| format!("{name}={}", show(v)))
            })
            .collect();
        if shown.is_empty() { "the only point".into() } else { shown.join(", ") }
    }

    /// Points that agree with `reference` on every swept key but `key`, in `key`'s value order.
    fn slice(&self, key: &str, reference: usize) -> Vec<(Json, usize)> {
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
                    .map(|i| (v.clone(), i))
            })
            .collect()
    }

    /// deferred/broadcast noise per CPU at point `p`: the ratio of the means over the seeds, with
    /// the least and greatest ratio of one seed's runs. `None` when broadcast had no noise.
    fn noise_ratio(&self, p: usize, broadcast: &str, deferred: &str) -> Option<Spread> {
        let runs = &self.points[p].runs;
        let (b, d) = (runs.get(broadcast)?, runs.get(deferred)?);
        let mean = |rs: &[&Report]| Spread::of(rs.iter().copied().filter_map(noise_us_per_s)).map(|s| s.mean);
        let (bm, dm) = (mean(b)?, mean(d)?);
        if bm <= 0.0 {
            return None;
        }
        let per_seed = Spread::of(d.iter().filter_map(|dr| {
            let br = b.iter().find(|br| br.seed == dr.seed)?;
            let (bn, dn) = (noise_us_per_s(br)?, noise_us_per_s(dr)?);
            (bn > 0.0).then(|| dn / bn)
        }));
        let ratio = dm / bm;
        Some(match per_seed {
            Some(s) => Spread { mean: ratio, min: s.min.min(ratio), max: s.max.max(ratio), n: s.n },
            None => Spread { mean: ratio, min: ratio, max: ratio, n: 1 },
        })
    }

    fn figures(&self, reference: usize) -> Vec<Figure> {
        let mut figs = vec![];
        let at = self.point_name(reference, false);
        let color = |i: usize| protocol_color(i, &self.protocols[i]);
        let runs_note = |counts: &BTreeSet<usize>| match (counts.first(), counts.last()) {
            (Some(a), Some(b)) if a == b => format!("n = {a} seed{}", if *a == 1 { "" } else { "s" }),
            (Some(a), Some(b)) => format!("n = {a}–{b} seeds"),
            _ => "no runs".into(),
        };
        // Noise CDF at the reference point, and the oslat histogram per protocol.
        let p = &self.points[reference];
        let seeds: BTreeSet<usize> = p.runs.values().map(Vec::len).collect();
        figs.push(Figure::Cdf(Cdf {
            file: "noise-cdf".into(),
            title: format!("Noise events on isolated CPUs, CDF ({at})"),
            note: format!(
                "{} per curve, their events pooled; bands: from the lowest to the highest of the seeds' own CDFs",
                runs_note(&seeds)
            ),
            x_label: "duration of one noise event (µs)".into(),
            curves: self
                .protocols
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let (events, points) = cdf_points(p.runs.get(n)?);
                    Some(CdfCurve { name: n.clone(), color: color(i), events, points })
                })
                .collect(),
            band_alpha: 0.18,
        }));
        for (i, name) in self.protocols.iter().enumerate() {
            let Some(runs) = p.runs.get(name) else { continue };
            let n = runs.iter().map(|r| r.oslat_histogram.len()).max().unwrap_or(0);
            // A bar per bucket, of each run's count (`count(run, bucket)`), none where no run had any.
            let histogram = |file: String,
                             title: String,
                             x_label: &str,
                             labels: Vec<String>,
                             count: &dyn Fn(&Report, usize) -> u64| {
                let counts = (0..labels.len())
                    .map(|b| {
                        let s = Spread::of(runs.iter().map(|r| count(r, b) as f64))?;
                        (s.max > 0.0).then(|| s.band())
                    })
                    .collect();
                Figure::Histogram(Histogram {
                    file,
                    title,
                    note: format!(
                        "{}: bars are the mean count per run, whiskers the fewest and most of one seed",
                        runs_note(&BTreeSet::from([runs.len()]))
                    ),
                    x_label: x_label.into(),
                    labels,
                    counts,
                    color: color(i),
                })
            };
            figs.push(histogram(
                format!("oslat-histogram-{name}"),
                format!("oslat loop latency, {name} ({at})"),
                "loop iteration latency, 1 µs buckets (µs; last: that many or more)",
                (0..n).map(|b| if b + 1 == n { format!("≥{b}") } else { b.to_string() }).collect(),
                &|r, b| r.oslat_histogram.get(b).map_or(0, |x| x.count),
            ));
            // The instruction-level loop's finer buckets, where its iterations and the stalls
            // shorter than a microsecond are (its first 1 µs bucket, split).
            if let Some(fine) =
                runs.iter().map(|r| &r.oslat_sub_us_histogram).max_by_key(|h| h.len()).filter(|h| !h.is_empty())
            {
                figs.push(histogram(
                    format!("oslat-sub-us-histogram-{name}"),
                    format!("oslat loop latency below 1 µs, {name} ({at})"),
                    "loop iteration latency, ns (each bar from its value to the next)",
                    fine.iter().map(|x| x.from_ns.to_string()).collect(),
                    &|r, b| r.oslat_sub_us_histogram.get(b).map_or(0, |x| x.count),
                ));
            }
            if self.points.len() > 1 {
                // At most eight points, spread over the sweep.
                let pick: Vec<usize> = if self.points.len() <= 8 {
                    (0..self.points.len()).collect()
                } else {
                    (0..8).map(|k| k * (self.points.len() - 1) / 7).collect()
                };
                let seeds: BTreeSet<usize> =
                    pick.iter().filter_map(|pi| self.points[*pi].runs.get(name).map(Vec::len)).collect();
                figs.push(Figure::Cdf(Cdf {
                    file: format!("noise-cdf-{name}"),
                    title: format!("Noise events on isolated CPUs, CDF, {name}, per point"),
                    note: format!(
                        "{} per curve, their events pooled; bands: from the lowest to the highest of the seeds' own CDFs",
                        runs_note(&seeds)
                    ),
                    x_label: "duration of one noise event (µs)".into(),
                    curves: pick
                        .iter()
                        .enumerate()
                        .filter_map(|(k, &pi)| {
                            let (events, points) = cdf_points(self.points[pi].runs.get(name)?);
                            Some(CdfCurve { name: self.point_name(pi, true), color: series_color(k), events, points })
                        })
                        .collect(),
                    band_alpha: 0.10,
                }));
            }
        }

        // Each metric against each swept key.
        for (key, _) in &self.keys {
            let slice = self.slice(key, reference);
            let xs: Vec<Json> = slice.iter().map(|s| s.0.clone()).collect();
            let scale = x_scale(&xs);
            let others: Vec<String> = self
                .keys
                .iter()
                .filter(|k| &k.0 != key)
                .filter_map(|k| self.points[reference].params.get(&k.0).map(|v| format!("{}={}", k.0, show(v))))
                .collect();
            let held = if others.is_empty() { String::new() } else { format!(" ({})", others.join(", ")) };
            let slug = key.rsplit('.').next().unwrap_or(key).replace('_', "-");
            let (line, spread) = if scale == XScale::Categories { ("bars", "whiskers") } else { ("lines", "bands") };
            let chart = |file: String, title: String, y: &str, series: Vec<Series>, max_too: bool| {
                let n = seeds_note(series.iter().flat_map(|s| s.values.iter().flatten()));
                let note = if max_too {
                    format!(
                        "{n}: p99 {line} are means over the seeds, max {line} the largest; {spread}: min–max over the seeds"
                    )
                } else {
                    format!("{n}: {line} are means over the seeds, {spread} their min–max")
                };
                Figure::Chart(Chart {
                    file,
                    title: format!("{title}{held}"),
                    note,
                    x_label: key_label(key),
                    y_label: y.to_string(),
                    xs: xs.clone(),
                    scale,
                    series,
                })
            };
            let per_protocol = |f: &dyn Fn(&Metrics) -> Option<Band>, dashed: bool, suffix: &str, missing: &str| {
                self.protocols
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Series {
                        name: format!("{n}{suffix}"),
                        color: color(i),
                        dashed,
                        values: slice.iter().map(|(_, p)| self.metrics[*p].get(n).and_then(f)).collect(),
                        missing: missing.to_string(),
                    })
                    .collect::<Vec<Series>>()
            };
            let mut noise = per_protocol(&|m| m.noise_p99_us.map(Spread::band), false, ": p99", "no events");
            if scale != XScale::Categories {
                noise.extend(per_protocol(&|m| m.noise_max_us.map(Spread::band_at_max), true, ": max", "no events"));
            }
            figs.push(chart(
                format!("noise-vs-{slug}"),
                "Single noise events on isolated CPUs: p99 and max".into(),
                "duration of one noise event (µs)",
                noise,
                scale != XScale::Categories,
            ));
            figs.push(chart(
                format!("noise-per-cpu-vs-{slug}"),
                "Noise per isolated CPU".into(),
                "noise (µs per second of runtime)",
                per_protocol(&|m| m.noise_per_s_us.map(Spread::band), false, "", "no runtime"),
                false,
            ));
            figs.push(chart(
                format!("ipis-vs-{slug}"),
                "Interrupts per second per isolated CPU".into(),
                "IPIs per second per isolated CPU",
                per_protocol(&|m| m.ipis_per_s.map(Spread::band), false, "", "no runtime"),
                false,
            ));
            // Only protocols that defer have an entry penalty.
            let mut penalty = per_protocol(&|m| m.entry_penalty_ns.map(Spread::band), false, "", "no deferral");
            penalty.retain(|s| s.values.iter().any(Option::is_some));
            if !penalty.is_empty() {
                figs.push(chart(
                    format!("entry-penalty-vs-{slug}"),
                    "Entry penalty: first kernel entry after a deferral".into(),
                    "extra ns over the run's other entries",
                    penalty,
                    false,
                ));
            }
            for op in self.sender_ops() {
                let missing = format!("no {op}");
                let mut s = per_protocol(&|m| m.senders.get(&op).map(|x| x.0.band()), false, ": mean", &missing);
                if scale != XScale::Categories {
                    s.extend(per_protocol(&|m| m.senders.get(&op).map(|x| x.1.band()), true, ": p99", &missing));
                }
                figs.push(chart(
                    format!("sender-latency-{op}-vs-{slug}"),
                    format!("Sender latency of {op}"),
                    "latency on the housekeeping CPU (µs)",
                    s,
                    false,
                ));
            }
        }

        // The deferred/broadcast noise ratio over the first two swept keys.
        let has = |name: &str| self.protocols.iter().any(|p| p == name);
        if let ([kx, ky, ..], true, true) = (self.keys.as_slice(), has("broadcast"), has("deferred")) {
            let r = &self.points[reference].params;
            let rest: Vec<&(String, Vec<Json>)> = self.keys[2..].iter().collect();
            let cell = |x: &Json, y: &Json| -> Option<Spread> {
                let p = self.points.iter().position(|p| {
                    p.params.get(&kx.0) == Some(x)
                        && p.params.get(&ky.0) == Some(y)
                        && rest.iter().all(|k| p.params.get(&k.0) == r.get(&k.0))
                })?;
                self.noise_ratio(p, "broadcast", "deferred")
            };
            let cells: Vec<Vec<Option<Spread>>> =
                ky.1.iter().map(|y| kx.1.iter().map(|x| cell(x, y)).collect()).collect();
            let bands: Vec<Band> = cells.iter().flatten().flatten().map(|s| s.band()).collect();
            figs.push(Figure::Heatmap(Heatmap {
                file: "noise-ratio-heatmap".into(),
                title: "Noise per isolated CPU, deferred / broadcast (below 1: deferred is quieter)".into(),
                note: format!(
                    "{}: each cell the ratio of the means, under it the lowest–highest ratio of one seed; none: broadcast had no noise",
                    seeds_note(&bands)
                ),
                x_label: key_label(&kx.0),
                y_label: key_label(&ky.0),
                xs: kx.1.iter().map(show).collect(),
                ys: ky.1.iter().map(show).collect(),
                cells,
                centre: 1.0,
            }));
        }
        figs
    }

    fn summary(&self, first: &Record, results: &Path, reference: usize, figures: &[Figure]) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Sweep `{}`\n", first.sweep);
        let seeds: Vec<String> = {
            let s: BTreeSet<u64> = self.points.iter().flat_map(|p| p.runs.values().flatten().map(|r| r.seed)).collect();
            s.iter().map(u64::to_string).collect()
        };
        let runs: usize = self.points.iter().map(|p| p.runs.values().map(Vec::len).sum::<usize>()).sum();
        let _ = writeln!(
            o,
            "{} runs ({} of the sweep's {}) from `{}`: {} point{}, protocols {}, seeds {}; measured by {} (sweep digest {}).\n",
            runs,
            runs,
            first.units,
            results.file_name().map_or_else(|| results.display().to_string(), |f| f.to_string_lossy().into_owned()),
            self.points.len(),
            if self.points.len() == 1 { "" } else { "s" },
            self.protocols.join(", "),
            seeds.join(", "),
            first.version,
            first.digest
        );
        let _ = writeln!(
            o,
            "Means over seeds; max noise is the largest over seeds. Noise is time taken from the isolated \
             task by interrupts and TLB-invalidation disturbances; the entry penalty is how much longer the \
             first kernel entry after a deferral took than the run's other entries. \"none\": no noise event \
             in any seed; \"–\": nothing to measure (no deferral, the operation never ran).\n"
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
        // The instruction-level oslat loop's iterations, when the runs have it.
        let oslat = self.metrics.iter().any(|m| m.values().any(|m| m.oslat_ns.is_some()));
        if oslat {
            head.extend(["oslat p50 (ns)", "oslat p99.99 (ns)", "oslat max (ns)"].map(String::from));
            let _ = writeln!(
                o,
                "oslat: the isolated task's loop iterations at instruction level, from the histogram the \
                 loop kept in its own memory (its 10 ns buckets below 1 µs); p50 and p99.99 are means over \
                 seeds, max the largest.\n"
            );
        }
        head.push("violations".into());
        let _ = writeln!(o, "| {} |", head.join(" | "));
        let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
        let cell = |v: Option<f64>, none: &str, f: &dyn Fn(f64) -> String| v.map_or_else(|| none.to_string(), f);
        for (pi, p) in self.points.iter().enumerate() {
            for name in &self.protocols {
                let Some(m) = self.metrics[pi].get(name) else { continue };
                let mut row: Vec<String> =
                    self.keys.iter().map(|k| p.params.get(&k.0).map_or_else(String::new, show)).collect();
                row.push(name.clone());
                row.push(cell(m.noise_per_s_us.map(|s| s.mean), "–", &|v| format!("{v:.1}")));
                row.push(cell(m.noise_p99_us.map(|s| s.mean), "none", &|v| format!("{v:.2}")));
                row.push(cell(m.noise_max_us.map(|s| s.max), "none", &|v| format!("{v:.2}")));
                row.push(cell(m.ipis_per_s.map(|s| s.mean), "–", &|v| format!("{v:.0}")));
                row.push(cell(m.entry_penalty_ns.map(|s| s.mean), "–", &|v| format!("{v:+.0}")));
                for op in &ops {
                    row.push(cell(m.senders.get(op).map(|v| v.0.mean), "–", &|v| format!("{v:.2}")));
                }
                if oslat {
                    match m.oslat_ns {
                        Some([p50, p9999, max]) => {
                            row.extend([p50.mean, p9999.mean, max.max].map(|v| format!("{v:.0}")));
                        }
                        None => row.extend(["–"; 3].map(String::from)),
                    }
                }
                row.push(m.violations.to_string());
                let _ = writeln!(o, "| {} |", row.join(" | "));
            }
        }
        let _ = writeln!(o, "\n## Figures\n");
        let _ = writeln!(o, "Per-point figures show {}.\n", self.point_name(reference, false));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(v: &[f64]) -> Vec<Json> {
        v.iter().map(|x| serde_json::json!(x)).collect()
    }

    #[test]
    fn geometric_grids_get_a_log_axis_and_others_a_linear_one() {
        assert_eq!(x_scale(&nums(&[4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])), XScale::Log);
        assert_eq!(x_scale(&nums(&[10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0])), XScale::Log);
        assert_eq!(x_scale(&nums(&[100.0, 300.0, 1000.0])), XScale::Log);
        assert_eq!(x_scale(&nums(&[3.0, 6.0, 12.0])), XScale::Log);
        // Order does not matter.
        assert_eq!(x_scale(&nums(&[256.0, 4.0, 64.0, 16.0])), XScale::Log);
        // A zero has no logarithm; evenly spaced values; too narrow a span; two values.
        assert_eq!(x_scale(&nums(&[0.0, 1000.0, 5000.0, 20000.0, 50000.0])), XScale::Linear);
        assert_eq!(x_scale(&nums(&[1.0, 2.0, 3.0, 4.0, 5.0])), XScale::Linear);
        assert_eq!(x_scale(&nums(&[3.0, 4.0, 6.0])), XScale::Linear);
        assert_eq!(x_scale(&nums(&[1.0, 1000.0])), XScale::Linear);
        assert_eq!(x_scale(&[serde_json::json!("arm64-server"), serde_json::json!("x86-server")]), XScale::Categories);
    }

    #[test]
    fn axes_place_values_at_their_true_distances() {
        let log = Axis::new(&[4.0, 8.0, 16.0, 32.0, 256.0], XScale::Log);
        let step = log.fraction(8.0) - log.fraction(4.0);
        assert!(step > 0.0);
        // Each doubling the same distance, 32 → 256 three of them.
        assert!((log.fraction(16.0) - log.fraction(8.0) - step).abs() < 1e-12);
        assert!((log.fraction(256.0) - log.fraction(32.0) - 3.0 * step).abs() < 1e-12);
        assert_eq!(log.ticks, vec![4.0, 8.0, 16.0, 32.0, 256.0]);
        assert!(log.fraction(4.0) > 0.0 && log.fraction(256.0) < 1.0, "no point on the frame");

        let lin = Axis::new(&[3.0, 4.0, 6.0], XScale::Linear);
        assert!((lin.fraction(6.0) - lin.fraction(4.0) - 2.0 * (lin.fraction(4.0) - lin.fraction(3.0))).abs() < 1e-12);
        assert_eq!(lin.ticks, vec![3.0, 4.0, 6.0]);
        // Values too close for labels get round ticks instead.
        let lin = Axis::new(&[0.0, 1000.0, 5000.0, 20000.0, 50000.0], XScale::Linear);
        assert_eq!(lin.ticks, vec![0.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0]);
        assert!(
            (lin.fraction(20000.0) - lin.fraction(0.0) - 20.0 * (lin.fraction(1000.0) - lin.fraction(0.0))).abs()
                < 1e-9
        );
        // Pixels: what plotters asks of the axis.
        assert_eq!(Axis { lo: 1.0, hi: 100.0, log: true, ticks: vec![] }.map(&10.0, (0, 200)), 100);
    }

    #[test]
    fn ticks_are_round_and_thinned_when_too_many() {
        assert_eq!(nice_ticks(0.0, 1.0, 5, false), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(nice_ticks(3.0, 6.0, 8, true), vec![3.0, 4.0, 5.0, 6.0]);
        let many: Vec<f64> = (0..30).map(|k| 2f64.powi(k)).collect();
        let t = thin(&many, 12);
        assert!(t.len() <= 12 && t[0] == 1.0, "{t:?}");
        assert_eq!(log_ticks(1e-3, 1e3), vec![1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(log_ticks(0.5, 2.0), vec![0.5, 1.0, 2.0]);
    }

    #[test]
    fn a_spread_is_min_mean_max_over_what_was_measured() {
        assert_eq!(Spread::of([]), None);
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.mean, s.max, s.n), (1.0, 2.0, 3.0, 3));
        let s = Spread::of([0.1; 3]).unwrap();
        assert!(s.min <= s.mean && s.mean <= s.max);
        assert_eq!(s.band_at_max().y, s.max);
        assert_eq!(s.band().y, s.mean);
        // Non-finite values are no measurements (a hostile results file had a NaN rate).
        assert_eq!(Spread::of([f64::NAN, f64::NAN]), None);
        let s = Spread::of([f64::NAN, 4.0, f64::INFINITY, f64::NEG_INFINITY, 2.0]).unwrap();
        assert_eq!((s.min, s.mean, s.max, s.n), (2.0, 3.0, 4.0, 2));
    }

    #[test]
    fn gaps_split_lines_and_legends_say_why() {
        let b = |y| Some(Band { y, lo: y, hi: y, n: 2 });
        let v = vec![None, b(1.0), b(2.0), None, b(3.0)];
        let r = runs(&v);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(r[1].iter().map(|x| x.0).collect::<Vec<_>>(), [4]);
        let s = |values| Series {
            name: "ct-work: p99".into(),
            color: BLACK,
            dashed: false,
            values,
            missing: "no events".into(),
        };
        assert_eq!(s(v.clone()).legend(false), "ct-work: p99 (gap: no events)");
        assert_eq!(s(vec![None, None]).legend(false), "ct-work: p99 (no events)");
        assert_eq!(s(vec![b(1.0)]).legend(true), "ct-work: p99");
        assert_eq!(seeds_note(&[Band { y: 0.0, lo: 0.0, hi: 0.0, n: 3 }]), "n = 3 seeds per point");
    }

    #[test]
    fn a_legend_goes_where_it_covers_no_data() {
        let plot = (0..400, 0..300);
        assert_eq!(free_place(&plot, (100, 50), &[]), Some((INSET, INSET)));
        // Data in the upper left: the upper right.
        assert_eq!(free_place(&plot, (100, 50), &[(20, 20)]), Some((400 - 100 - INSET, INSET)));
        // Data in both upper corners and the lower right: the lower left.
        let ink = [(20, 20), (380, 20), (380, 280)];
        assert_eq!(free_place(&plot, (100, 50), &ink), Some((INSET, 300 - 50 - INSET)));
        // Data in all four: the highest free place.
        let ink = [(20, 20), (380, 20), (380, 280), (20, 280)];
        let (x, y) = free_place(&plot, (100, 50), &ink).unwrap();
        assert!(y == INSET && x > 20 && x + 100 < 380, "{x},{y}");
        // Data everywhere: nowhere.
        let ink: Vec<(i32, i32)> =
            (0..400).step_by(20).flat_map(|x| (0..300).step_by(20).map(move |y| (x, y))).collect();
        assert_eq!(free_place(&plot, (100, 50), &ink), None);
        assert_eq!(free_place(&plot, (500, 50), &[]), None, "wider than the plot");
        let mut pts = vec![];
        sample((0, 0), (0, 10), &mut pts);
        assert!(pts.contains(&(0, 0)) && pts.contains(&(0, 10)) && pts.windows(2).all(|w| w[1].1 - w[0].1 <= 3));
    }

    #[test]
    fn the_embedded_font_has_every_glyph_the_figures_use() {
        let bytes = font_bytes(None).unwrap();
        let font = FontRef::try_from_slice(&bytes).expect("a TrueType font");
        for c in "µ≤≥–×0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/()=:.,;_-".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "no glyph for {c:?}");
        }
        let e = font_bytes(Some(std::ffi::OsStr::new("/nonexistent/font.ttf"))).unwrap_err();
        assert!(e.starts_with("ISOLSIM_FONT=/nonexistent/font.ttf: cannot read the font"), "{e}");
        // A device is refused, not read until memory runs out.
        if Path::new("/dev/zero").exists() {
            let e = font_bytes(Some(std::ffi::OsStr::new("/dev/zero"))).unwrap_err();
            assert!(e.ends_with("a device, FIFO or socket, not a regular file)"), "{e}");
        }
    }

    #[test]
    fn numbers_read_as_typed() {
        assert_eq!(fmt_num(300.0), "300");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(0.001), "0.001");
        assert_eq!(show(&serde_json::json!(20000.0)), "20000");
        assert_eq!(show(&serde_json::json!("x86-server")), "x86-server");
        assert_eq!(ratio_text(0.0), "0");
        assert_eq!(ratio_text(0.0052), "0.0052");
        assert_eq!(ratio_text(0.31), "0.31");
        assert_eq!(ratio_text(12.34), "12.3");
    }
}
