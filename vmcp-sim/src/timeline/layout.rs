//! Geometry: the time scale, where each lane goes, and the thinning that keeps the output
//! bounded (at most about one mark per few pixels, whatever the length of the run).

use super::story::{BackendStory, Span, Story};

/// Width of the label column left of the plot.
pub(crate) const LABEL_W: f64 = 190.0;
/// Space right of the plot.
pub(crate) const RIGHT_PAD: f64 = 24.0;
/// Pixels per simulated second, before the width limits below.
const PX_PER_S: f64 = 8.0;
/// The plot is never narrower than this (short runs get room for their labels)…
const MIN_PLOT_W: f64 = 960.0;
/// … nor wider than this (long runs get fewer pixels per second; zoom with the page's buttons).
const MAX_PLOT_W: f64 = 2400.0;
/// More backends than this: compact lanes (status and circuit only), and backends with nothing
/// to show collapse into one summary lane. The page scrolls vertically.
pub const FULL_LANES_UP_TO: usize = 40;
/// Marks closer than this many pixels are merged into one (the worst of them is shown).
pub(crate) const MARK_BUCKET_PX: f64 = 3.0;
/// Spans of one lane beyond this many per 4 px are drawn per pixel column, the worst state of
/// the column winning, instead of one rectangle each.
const SPANS_PER_PX: f64 = 0.25;

/// Maps simulated time to x.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    pub(crate) end_ms: u64,
    pub(crate) plot_x: f64,
    pub(crate) plot_w: f64,
}

impl Scale {
    /// The scale for a run of `end_ms`.
    pub(crate) fn new(end_ms: u64) -> Self {
        let end_ms = end_ms.max(1);
        let plot_w = (end_ms as f64 / 1000.0 * PX_PER_S).clamp(MIN_PLOT_W, MAX_PLOT_W);
        Self {
            end_ms,
            plot_x: LABEL_W,
            plot_w,
        }
    }

    /// The x of simulated time `ms` (clamped to the plot).
    pub(crate) fn x(&self, ms: u64) -> f64 {
        let ms = ms.min(self.end_ms);
        self.plot_x + ms as f64 / self.end_ms as f64 * self.plot_w
    }

    /// Total picture width.
    pub(crate) fn width(&self) -> f64 {
        self.plot_x + self.plot_w + RIGHT_PAD
    }

    /// Tick spacing in ms: the smallest "nice" step giving at most one label per ~80 px.
    pub(crate) fn tick_ms(&self) -> u64 {
        const STEPS: [u64; 12] = [
            1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
            900_000, 1_800_000,
        ];
        let per_px = self.end_ms as f64 / self.plot_w;
        STEPS
            .into_iter()
            .find(|s| *s as f64 / per_px >= 80.0)
            .unwrap_or(3_600_000)
    }
}

/// How backend lanes are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaneMode {
    /// Probe marks, status, circuit, connections, reported status.
    Full,
    /// Status and circuit only, uneventful backends collapsed into one lane.
    Compact,
}

impl LaneMode {
    /// The mode for `backends` lanes.
    pub(crate) fn for_count(backends: usize) -> Self {
        if backends > FULL_LANES_UP_TO {
            LaneMode::Compact
        } else {
            LaneMode::Full
        }
    }

    /// Height of one backend lane.
    pub(crate) fn lane_h(self) -> f64 {
        match self {
            LaneMode::Full => 62.0,
            LaneMode::Compact => 14.0,
        }
    }
}

/// Which backends get their own lane, and which are folded into the summary lane.
pub(crate) fn partition<'s>(
    story: &'s Story,
    mode: LaneMode,
    mentioned: &[&str],
) -> (Vec<(&'s str, &'s BackendStory)>, Vec<&'s str>) {
    let mut lanes = Vec::new();
    let mut folded = Vec::new();
    for (name, lane) in &story.backends {
        if mode == LaneMode::Compact && lane.is_uneventful() && !mentioned.contains(&name.as_str())
        {
            folded.push(name.as_str());
        } else {
            lanes.push((name.as_str(), lane));
        }
    }
    (lanes, folded)
}

/// A span in pixels: `[x0, x1)`, its value, and how many spans it stands for (> 1 when the
/// lane was too dense and a pixel column shows the worst of several).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PxSpan<T> {
    pub(crate) x0: f64,
    pub(crate) x1: f64,
    pub(crate) from_ms: u64,
    pub(crate) to_ms: u64,
    pub(crate) value: T,
    pub(crate) merged: usize,
}

/// Spans in pixels. Few spans: one rectangle each. Dense: one value per pixel column (the most
/// severe span touching it), equal neighbours merged, so a lane never has more rectangles than
/// the plot has pixels.
pub(crate) fn px_spans<T: Copy + PartialEq>(
    spans: &[Span<T>],
    scale: &Scale,
    severity: impl Fn(&T) -> u8,
) -> Vec<PxSpan<T>> {
    if (spans.len() as f64) <= scale.plot_w * SPANS_PER_PX {
        return spans
            .iter()
            .map(|s| PxSpan {
                x0: scale.x(s.from_ms),
                x1: scale.x(s.to_ms),
                from_ms: s.from_ms,
                to_ms: s.to_ms,
                value: s.value,
                merged: 1,
            })
            .collect();
    }
    let columns = scale.plot_w.ceil() as u64;
    let mut out: Vec<PxSpan<T>> = Vec::new();
    let mut first = 0_usize;
    // Spans counted so far: indices below this one (a span may touch several columns).
    let mut counted = 0_usize;
    for col in 0..columns {
        // Column `col` covers simulated time [t0, t1).
        let t0 = col * scale.end_ms / columns;
        let t1 = ((col + 1) * scale.end_ms / columns).max(t0 + 1);
        while first < spans.len() && spans[first].to_ms <= t0 {
            first += 1;
        }
        let mut worst: Option<(u8, &Span<T>)> = None;
        let mut touching = 0;
        for (j, s) in spans
            .iter()
            .enumerate()
            .skip(first)
            .take_while(|(_, s)| s.from_ms < t1)
        {
            if j >= counted {
                touching += 1;
                counted = j + 1;
            }
            let sev = severity(&s.value);
            if worst.is_none_or(|(w, _)| sev > w) {
                worst = Some((sev, s));
            }
        }
        let Some((_, s)) = worst else { continue };
        let x0 = scale.plot_x + col as f64 * scale.plot_w / columns as f64;
        let x1 = scale.plot_x + (col + 1) as f64 * scale.plot_w / columns as f64;
        match out.last_mut() {
            Some(last) if last.value == s.value && (last.x1 - x0).abs() < 1e-6 => {
                last.x1 = x1;
                last.to_ms = t1;
                last.merged += touching;
            }
            _ => out.push(PxSpan {
                x0,
                x1,
                from_ms: t0.max(s.from_ms),
                to_ms: t1,
                value: s.value,
                merged: touching,
            }),
        }
    }
    out
}

/// Marks bucketed by [`MARK_BUCKET_PX`]: the indices of the marks in each bucket, in time
/// order. `at` gives a mark's time; marks must come sorted by it.
pub(crate) fn buckets<M>(marks: &[M], scale: &Scale, at: impl Fn(&M) -> u64) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Option<i64> = None;
    for (i, m) in marks.iter().enumerate() {
        let bucket = ((scale.x(at(m)) - scale.plot_x) / MARK_BUCKET_PX).floor() as i64;
        if current == Some(bucket) {
            if let Some(last) = out.last_mut() {
                last.push(i);
            }
        } else {
            current = Some(bucket);
            out.push(vec![i]);
        }
    }
    out
}

/// Assign each label (x, width) the first row where it does not overlap the previous label of
/// that row; labels past `rows` rows go into the last row. Labels must come sorted by x.
pub(crate) fn label_rows(labels: &[(f64, f64)], rows: usize) -> Vec<usize> {
    let mut ends = vec![f64::NEG_INFINITY; rows.max(1)];
    labels
        .iter()
        .map(|&(x, w)| {
            let row = ends
                .iter()
                .position(|end| *end + 6.0 <= x)
                .unwrap_or(ends.len() - 1);
            ends[row] = ends[row].max(x + w);
            row
        })
        .collect()
}

/// Rough width of `text` at `font_px` (the picture uses a sans-serif stack; 0.6 em per
/// character errs on the wide side, so labels do not collide).
pub(crate) fn text_w(text: &str, font_px: f64) -> f64 {
    text.chars().count() as f64 * font_px * 0.6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from_ms: u64, to_ms: u64, value: u8) -> Span<u8> {
        Span {
            from_ms,
            to_ms,
            value,
        }
    }

    #[test]
    fn the_scale_maps_the_run_onto_the_plot_and_clamps() {
        let s = Scale::new(180_000);
        assert_eq!(s.plot_w, 1440.0);
        assert_eq!(s.x(0), LABEL_W);
        assert_eq!(s.x(90_000), LABEL_W + 720.0);
        assert_eq!(s.x(999_999), LABEL_W + 1440.0);
        assert_eq!(Scale::new(10_000).plot_w, MIN_PLOT_W);
        assert_eq!(Scale::new(1_800_000).plot_w, MAX_PLOT_W);
        assert_eq!(s.tick_ms(), 10_000, "1440 px for 180 s: 80 px is 10 s");
    }

    #[test]
    fn dense_spans_keep_the_worst_state_of_each_pixel_and_stay_bounded() {
        let scale = Scale::new(1_800_000);
        // A backend flapping every 50 ms for 30 min: 36 000 spans, 0 (fine) and 9 (bad).
        let spans: Vec<Span<u8>> = (0..36_000)
            .map(|i| span(i * 50, i * 50 + 50, if i % 2 == 0 { 0 } else { 9 }))
            .collect();
        let out = px_spans(&spans, &scale, |v| *v);
        assert_eq!(
            out.len(),
            1,
            "every column holds a bad span: one merged rect"
        );
        assert_eq!(out[0].value, 9);
        assert_eq!(out[0].merged, 36_000);
        // Few spans are drawn exactly.
        let few = [span(0, 1_000, 0), span(1_000, 1_800_000, 9)];
        let out = px_spans(&few, &scale, |v| *v);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].x0, scale.x(1_000));
    }

    #[test]
    fn a_short_bad_state_in_a_dense_lane_is_not_lost() {
        let scale = Scale::new(1_800_000);
        let mut spans: Vec<Span<u8>> = (0..2_000).map(|i| span(i * 10, i * 10 + 10, 0)).collect();
        spans.push(span(20_000, 20_001, 9));
        spans.push(span(20_001, 1_800_000, 0));
        let out = px_spans(&spans, &scale, |v| *v);
        assert!(out.iter().any(|s| s.value == 9), "{out:?}");
        assert!(out.len() <= 3, "{out:?}");
    }

    #[test]
    fn labels_take_the_first_free_row() {
        let rows = label_rows(&[(0.0, 50.0), (20.0, 50.0), (60.0, 10.0), (30.0, 5.0)], 3);
        assert_eq!(rows, vec![0, 1, 0, 2]);
        assert_eq!(label_rows(&[(0.0, 50.0), (1.0, 50.0)], 1), vec![0, 0]);
    }
}
