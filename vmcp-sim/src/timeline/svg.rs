//! Drawing: the SVG document, top to bottom: header, legend, fault labels, time axis, failed
//! expectation windows, the report lane, one lane per backend, the failure list.
//!
//! Every element that a reader (or a test) looks for carries a class (`lane`, `status`,
//! `circuit`, `probe`, `connection`, `report`, `fault`, `failure-window`) and `data-*` attributes
//! with its values; every mark has a `<title>`, which browsers show on hover.

use std::fmt::Write as _;

use vmcp_core::health::{CircuitState, HealthReason, HealthStatus};
use vmcp_core::status::Phase;

use super::Picture;
use super::layout::{self, LaneMode, PxSpan, Scale, label_rows, px_spans, text_w};
use super::palette;
use super::story::{BackendStory, CallMark, Probe, ProbeResult, Story};
use crate::trace::{TimedReport, format_ms};

/// At most this many fault label rows; later labels share the last row.
const FAULT_ROWS: usize = 4;
const FAULT_ROW_H: f64 = 14.0;
const REPORT_LANE_H: f64 = 28.0;
const FAILURE_ROW_H: f64 = 18.0;
/// Backend lines listed in a report dot's title before "… and N more".
const REPORT_TITLE_LINES: usize = 12;
/// Names listed in the collapsed lane's title.
const FOLDED_TITLE_NAMES: usize = 60;
/// Failure messages longer than this are cut in the SVG text (the `<title>` and the HTML list
/// have them whole).
const FAILURE_TEXT_CHARS: usize = 220;

/// Escape text for XML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal, and no `-0`: the same number always prints the same.
fn n(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 {
        return "0".to_owned();
    }
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// `text` cut to `max` characters, with an ellipsis if it was longer.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn status_label((status, reason): (HealthStatus, HealthReason)) -> String {
    if reason == HealthReason::Ok {
        status.to_string()
    } else {
        format!("{status}/{reason}")
    }
}

fn phase_severity(p: Phase) -> u8 {
    match p {
        Phase::Ready => 0,
        Phase::Pending => 1,
        Phase::Degraded => 2,
        Phase::Failed => 3,
    }
}

fn span_time(from_ms: u64, to_ms: u64) -> String {
    format!(
        "{} – {} ({})",
        format_ms(from_ms),
        format_ms(to_ms),
        format_ms(to_ms.saturating_sub(from_ms))
    )
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The SVG document for `picture`.
pub(crate) fn render(picture: &Picture<'_>) -> String {
    let story = Story::read(picture.trace, picture.end_ms);
    let scale = Scale::new(picture.end_ms);
    let mode = LaneMode::for_count(story.backends.len());
    let mentioned: Vec<&str> = picture
        .failures
        .iter()
        .filter_map(|f| f.backend.as_deref())
        .collect();
    let (lanes, folded) = layout::partition(&story, mode, &mentioned);

    let mut body = String::new();
    let width = scale.width();
    let mut legend = String::new();
    let legend_h = draw_legend(&mut legend, 46.0, width);

    // Fault labels: rows above the axis.
    let fault_top = 46.0 + legend_h + 8.0;
    let fault_labels: Vec<String> = story
        .faults
        .iter()
        .map(|f| cut(&format!("{} {}", f.action, f.detail), 48))
        .collect();
    let fault_rows = label_rows(
        &story
            .faults
            .iter()
            .zip(&fault_labels)
            .map(|(f, l)| (scale.x(f.at_ms), text_w(l, 10.0) + 4.0))
            .collect::<Vec<_>>(),
        FAULT_ROWS,
    );
    let used_rows = fault_rows.iter().max().map_or(0, |r| r + 1);
    let axis_y = fault_top + used_rows as f64 * FAULT_ROW_H + 18.0;

    // Failed expectation bars: rows below the axis.
    let failure_labels: Vec<String> = picture
        .failures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let about = f
                .backend
                .as_deref()
                .map(|b| format!(" {b}"))
                .unwrap_or_default();
            format!("✗{} {}{about}", i + 1, f.kind)
        })
        .collect();
    let failure_rows = label_rows(
        &picture
            .failures
            .iter()
            .zip(&failure_labels)
            .map(|(f, l)| {
                let x0 = scale.x(f.window_ms.0);
                let bar = (scale.x(f.window_ms.1) - x0).max(2.0);
                let w = if bar >= text_w(l, 10.0) + 6.0 {
                    bar
                } else {
                    bar + text_w(l, 10.0) + 6.0
                };
                (x0, w)
            })
            .collect::<Vec<_>>(),
        picture.failures.len().max(1),
    );
    let failure_row_count = failure_rows.iter().max().map_or(0, |r| r + 1);
    let failures_top = axis_y + 6.0;
    let report_top = failures_top + failure_row_count as f64 * FAILURE_ROW_H;
    let lanes_top = report_top + REPORT_LANE_H;
    let lane_h = mode.lane_h();
    let folded_h = if folded.is_empty() { 0.0 } else { lane_h };
    // The client-calls lane (DESIGN §4.7), below the backend lanes, when the run had clients.
    let calls_h = if story.calls.is_empty() {
        0.0
    } else {
        CALLS_LANE_H
    };
    let plot_bottom = lanes_top + lanes.len() as f64 * lane_h + folded_h + calls_h;

    draw_axis(&mut body, &scale, axis_y, plot_bottom);
    draw_report_lane(&mut body, &scale, picture.reports, report_top);
    for (i, (name, lane)) in lanes.iter().enumerate() {
        let y = lanes_top + i as f64 * lane_h;
        draw_backend_lane(&mut body, &scale, mode, name, lane, picture.reports, y, i);
    }
    if !folded.is_empty() {
        draw_folded_lane(
            &mut body,
            &scale,
            &folded,
            plot_bottom - calls_h - folded_h,
            lane_h,
        );
    }
    if !story.calls.is_empty() {
        draw_calls_lane(&mut body, &scale, &story.calls, plot_bottom - calls_h);
    }
    draw_faults(
        &mut body,
        &scale,
        &story,
        &fault_labels,
        &fault_rows,
        fault_top,
        plot_bottom,
    );
    let lane_top_of = |backend: &str| {
        lanes
            .iter()
            .position(|(name, _)| *name == backend)
            .map(|i| lanes_top + i as f64 * lane_h)
    };
    draw_failure_windows(
        &mut body,
        &scale,
        picture,
        &failure_labels,
        &failure_rows,
        failures_top,
        plot_bottom,
        lane_h,
        &lane_top_of,
    );
    let list_top = plot_bottom + 26.0;
    let list_h = draw_failure_list(&mut body, picture, list_top);
    let height = list_top + list_h + 12.0;

    let mut svg = String::with_capacity(body.len() + 4096);
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Liberation Sans, \
         Arial, Helvetica, sans-serif\" font-size=\"11\">",
        w = n(width),
        h = n(height)
    );
    let _ = writeln!(
        svg,
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        n(width),
        n(height)
    );
    draw_header(&mut svg, picture, &story, mode, folded.len(), width);
    svg.push_str(&legend);
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

fn draw_header(
    out: &mut String,
    picture: &Picture<'_>,
    story: &Story,
    mode: LaneMode,
    folded: usize,
    width: f64,
) {
    let verdict = if picture.failures.is_empty() {
        "all expectations held".to_owned()
    } else {
        format!("{} expectation(s) FAILED", picture.failures.len())
    };
    let colour = if picture.failures.is_empty() {
        "#2b8a3e"
    } else {
        palette::FAILURE
    };
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"12\" y=\"22\" font-size=\"16\" font-weight=\"bold\" \
         fill=\"#212529\">{} <tspan font-weight=\"normal\" fill=\"#495057\" font-size=\"12\">\
         seed {} · {} · {} simulated</tspan> <tspan fill=\"{colour}\" font-size=\"12\">{}</tspan></text>",
        esc(picture.scenario),
        picture.seed,
        esc(picture.file),
        esc(&format_ms(picture.end_ms)),
        esc(&verdict)
    );
    let lanes_note = match mode {
        LaneMode::Full => format!("{} backend lanes", story.backends.len()),
        LaneMode::Compact => format!(
            "{} backends: compact lanes (status and circuit only); {folded} uneventful backends \
             folded into the last lane",
            story.backends.len()
        ),
    };
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"22\" text-anchor=\"end\" fill=\"#868e96\" font-size=\"10\">{}</text>",
        n(width - 12.0),
        esc(&lanes_note)
    );
}

/// How a legend entry's swatch looks.
#[derive(Clone, Copy)]
enum Swatch {
    Fill(&'static str),
    Hollow(&'static str),
    Dashed(&'static str),
    Window(&'static str),
    Diamond(&'static str),
}

/// A legend heading and its entries.
struct LegendGroup {
    heading: &'static str,
    items: Vec<(Swatch, String)>,
}

impl LegendGroup {
    fn width(&self) -> f64 {
        text_w(self.heading, 10.0)
            + 6.0
            + self
                .items
                .iter()
                .map(|(_, label)| 15.0 + text_w(label, 10.0) + 10.0)
                .sum::<f64>()
            + 14.0
    }
}

fn swatch(out: &mut String, x: f64, y: f64, swatch: Swatch) {
    let (x, top) = (n(x), n(y - 9.0));
    let _ = match swatch {
        Swatch::Fill(c) => write!(
            out,
            "<rect x=\"{x}\" y=\"{top}\" width=\"12\" height=\"10\" fill=\"{c}\"/>"
        ),
        Swatch::Hollow(c) => write!(
            out,
            "<rect x=\"{x}\" y=\"{top}\" width=\"12\" height=\"10\" fill=\"#ffffff\" \
             stroke=\"{c}\" stroke-width=\"1.5\"/>"
        ),
        Swatch::Dashed(c) => write!(
            out,
            "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{}\" stroke=\"{c}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"3 2\" transform=\"translate(6 0)\"/>",
            n(y + 1.0)
        ),
        Swatch::Window(c) => write!(
            out,
            "<rect x=\"{x}\" y=\"{top}\" width=\"12\" height=\"10\" fill=\"{c}\" \
             fill-opacity=\"0.18\" stroke=\"{c}\"/>"
        ),
        Swatch::Diamond(c) => write!(
            out,
            "<path d=\"M{x} {top}m6 0l5 5l-5 5l-5-5z\" fill=\"{c}\"/>"
        ),
    };
}

/// The legend, its groups flowing into rows no wider than `width`; returns its height.
fn draw_legend(out: &mut String, base: f64, width: f64) -> f64 {
    let fill = |c: &'static str, label: &str| (Swatch::Fill(c), label.to_owned());
    let groups = [
        LegendGroup {
            heading: "status",
            items: palette::STATUSES
                .iter()
                .map(|s| fill(palette::status(*s), &s.to_string()))
                .collect(),
        },
        LegendGroup {
            heading: "circuit (band below status)",
            items: palette::CIRCUITS
                .iter()
                .map(|c| fill(palette::circuit(*c), &c.to_string()))
                .collect(),
        },
        LegendGroup {
            heading: "probes (row above status)",
            items: [
                fill(palette::PROBE_OK, "ok"),
                (Swatch::Hollow(palette::PROBE_SKIPPED), "skipped".to_owned()),
            ]
            .into_iter()
            .chain(palette::CATEGORIES.iter().map(|c| {
                fill(
                    palette::category(Some(*c)),
                    &format!("failed: {}", c.as_str()),
                )
            }))
            .collect(),
        },
        LegendGroup {
            heading: "connections (row below circuit)",
            items: vec![
                fill(palette::PODS[0], "opened (colour = pod)"),
                (
                    Swatch::Hollow(palette::CONNECTION_FAILED),
                    "not opened".to_owned(),
                ),
            ],
        },
        LegendGroup {
            heading: "reported status (bottom row)",
            items: vec![(
                Swatch::Diamond(palette::status(HealthStatus::Healthy)),
                "the backend in each report".to_owned(),
            )],
        },
        LegendGroup {
            heading: "report dot = phase",
            items: [Phase::Ready, Phase::Degraded, Phase::Failed, Phase::Pending]
                .iter()
                .map(|p| fill(palette::phase(*p), &p.to_string()))
                .collect(),
        },
        LegendGroup {
            heading: "marks",
            items: vec![
                (Swatch::Dashed(palette::FAULT), "fault".to_owned()),
                (
                    Swatch::Window(palette::FAILURE),
                    "failed expectation window".to_owned(),
                ),
            ],
        },
    ];
    out.push_str("<g class=\"legend\">\n");
    let (left, right) = (12.0, width - 12.0);
    let (mut x, mut row) = (left, 0);
    for group in &groups {
        if x > left && x + group.width() > right {
            row += 1;
            x = left;
        }
        let y = base + row as f64 * 16.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"#212529\" font-size=\"10\" \
             font-weight=\"bold\">{}</text>",
            n(x),
            n(y),
            esc(group.heading)
        );
        x += text_w(group.heading, 10.0) + 6.0;
        for (kind, label) in &group.items {
            let item_w = 15.0 + text_w(label, 10.0) + 10.0;
            if x + item_w > right {
                // A group wider than the picture continues on the next row, indented.
                row += 1;
                x = left + 24.0;
            }
            let y = base + row as f64 * 16.0;
            swatch(out, x, y, *kind);
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" fill=\"#343a40\" font-size=\"10\">{}</text>",
                n(x + 15.0),
                n(y),
                esc(label)
            );
            x += item_w;
        }
        out.push('\n');
        x += 14.0;
    }
    out.push_str("</g>\n");
    (row + 1) as f64 * 16.0
}

fn draw_axis(out: &mut String, scale: &Scale, axis_y: f64, plot_bottom: f64) {
    out.push_str("<g class=\"axis\">\n");
    let step = scale.tick_ms();
    let mut t = 0;
    while t <= scale.end_ms {
        let x = scale.x(t);
        let label = if step % 1000 == 0 && t % 60_000 == 0 && t > 0 && step >= 60_000 {
            format!("{}m", t / 60_000)
        } else {
            format!("{}s", t / 1000)
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#e9ecef\"/>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#495057\" font-size=\"10\">{label}</text>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#495057\" font-size=\"10\">{label}</text>",
            n(axis_y),
            n(plot_bottom),
            n(axis_y - 3.0),
            n(plot_bottom + 12.0),
            x = n(x)
        );
        t += step;
    }
    let _ = writeln!(
        out,
        "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#adb5bd\"/>\
         <text x=\"12\" y=\"{}\" fill=\"#495057\" font-size=\"10\">simulated time</text>",
        n(scale.plot_x),
        n(scale.plot_x + scale.plot_w),
        n(axis_y - 3.0),
        y = n(axis_y)
    );
    out.push_str("</g>\n");
}

/// The title of a report: its phase, then its backends, troubled ones first.
fn report_title(r: &TimedReport) -> String {
    let at = millis(r.at);
    let mut text = format!(
        "report at {}: phase {} ({})",
        format_ms(at),
        r.report.phase,
        r.report.message
    );
    let (troubled, fine): (Vec<_>, Vec<_>) = r.report.discovered_backends.iter().partition(|b| {
        b.health != HealthStatus::Healthy || b.circuit_breaker_state != CircuitState::Closed
    });
    for b in troubled.iter().chain(fine.iter()).take(REPORT_TITLE_LINES) {
        let _ = write!(
            text,
            "\n{}: {} ({}), circuit {}",
            b.name,
            status_label((b.health, b.reason)),
            b.status,
            b.circuit_breaker_state
        );
        if let Some(c) = b.error_category {
            let _ = write!(text, ", last error {c}");
        }
    }
    let total = r.report.discovered_backends.len();
    if total > REPORT_TITLE_LINES {
        let _ = write!(
            text,
            "\n… and {} more ({} healthy with a closed circuit)",
            total - REPORT_TITLE_LINES,
            fine.len().min(total - REPORT_TITLE_LINES)
        );
    }
    text
}

/// Height of the client-calls lane.
const CALLS_LANE_H: f64 = 28.0;

/// Colour of a call outcome: ok green, refusals and errors orange/red, timeouts purple.
fn call_colour(outcome: crate::trace::CallOutcome) -> &'static str {
    use crate::trace::CallOutcome;
    match outcome {
        CallOutcome::Ok => "#2f9e44",
        CallOutcome::ToolError => "#f08c00",
        CallOutcome::RpcError => "#e03131",
        CallOutcome::Timeout => "#7048e8",
        CallOutcome::TransportError => "#862e9c",
    }
}

/// One mark per pixel bucket of finished calls, coloured by the worst outcome in it.
fn draw_calls_lane(out: &mut String, scale: &Scale, calls: &[CallMark], top: f64) {
    let mid = top + CALLS_LANE_H / 2.0;
    let _ = writeln!(
        out,
        "<g class=\"lane calls-lane\"><rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" \
         fill=\"#f8f9fa\"/><text x=\"12\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" \
         fill=\"#212529\">client calls</text><text x=\"100\" y=\"{}\" font-size=\"10\" \
         fill=\"#868e96\">{} finished</text>",
        n(top),
        n(scale.width()),
        n(CALLS_LANE_H),
        n(mid + 4.0),
        n(mid + 4.0),
        calls.len()
    );
    for bucket in layout::buckets(calls, scale, |c| c.at_ms) {
        let Some(worst) = bucket.iter().map(|&i| &calls[i]).max_by_key(|c| c.outcome) else {
            continue;
        };
        let first = &calls[bucket[0]];
        let mut title = format!(
            "{} {} {} ({} ms)",
            format_ms(worst.at_ms),
            worst.label,
            worst.outcome,
            worst.latency_ms
        );
        if bucket.len() > 1 {
            title = format!(
                "{} calls from {} (the worst shown)\n{title}",
                bucket.len(),
                format_ms(first.at_ms)
            );
        }
        let _ = writeln!(
            out,
            "<rect class=\"call\" data-outcome=\"{}\" data-at-ms=\"{}\" x=\"{}\" y=\"{}\" \
             width=\"2\" height=\"12\" fill=\"{}\"><title>{}</title></rect>",
            worst.outcome,
            worst.at_ms,
            n(scale.x(first.at_ms)),
            n(mid - 6.0),
            call_colour(worst.outcome),
            esc(&title)
        );
    }
    out.push_str("</g>\n");
}

fn draw_report_lane(out: &mut String, scale: &Scale, reports: &[TimedReport], top: f64) {
    let mid = top + REPORT_LANE_H / 2.0;
    let _ = writeln!(
        out,
        "<g class=\"lane report-lane\"><rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" \
         fill=\"#f1f3f5\"/><text x=\"12\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" \
         fill=\"#212529\">reports</text><text x=\"70\" y=\"{}\" font-size=\"10\" \
         fill=\"#868e96\">{} published</text>",
        n(top),
        n(scale.width()),
        n(REPORT_LANE_H),
        n(mid + 4.0),
        n(mid + 4.0),
        reports.len()
    );
    for bucket in layout::buckets(reports, scale, |r| millis(r.at)) {
        let Some(worst) = bucket
            .iter()
            .map(|&i| &reports[i])
            .max_by_key(|r| phase_severity(r.report.phase))
        else {
            continue;
        };
        let first = &reports[bucket[0]];
        let mut title = report_title(worst);
        if bucket.len() > 1 {
            title = format!(
                "{} reports from {} (the worst shown)\n{title}",
                bucket.len(),
                format_ms(millis(first.at))
            );
        }
        let _ = writeln!(
            out,
            "<circle class=\"report\" data-phase=\"{}\" data-at-ms=\"{}\" cx=\"{}\" cy=\"{}\" \
             r=\"5\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></circle>",
            worst.report.phase,
            millis(worst.at),
            n(scale.x(millis(first.at))),
            n(mid),
            palette::phase(worst.report.phase),
            esc(&title)
        );
    }
    out.push_str("</g>\n");
}

fn probe_title(name: &str, probes: &[&Probe]) -> String {
    let describe = |p: &Probe| match &p.result {
        ProbeResult::Ok => format!("{name}: probe ok {}", span_time(p.start_ms, p.end_ms)),
        ProbeResult::Failed(category, message) => format!(
            "{name}: probe failed {}: {}: {message}",
            span_time(p.start_ms, p.end_ms),
            category.map_or("?", |c| c.as_str())
        ),
        ProbeResult::Skipped(c) => format!(
            "{name}: probe skipped at {} (circuit {c}: no traffic)",
            format_ms(p.start_ms)
        ),
    };
    match probes {
        [one] => describe(one),
        many => {
            let failed = many
                .iter()
                .filter(|p| matches!(p.result, ProbeResult::Failed(..)))
                .count();
            let skipped = many
                .iter()
                .filter(|p| matches!(p.result, ProbeResult::Skipped(_)))
                .count();
            let worst = many.iter().max_by_key(|p| p.result.severity()).copied();
            format!(
                "{} probes here: {} ok, {failed} failed, {skipped} skipped; the worst:\n{}",
                many.len(),
                many.len() - failed - skipped,
                worst.map(describe).unwrap_or_default()
            )
        }
    }
}

fn draw_probes(out: &mut String, scale: &Scale, name: &str, lane: &BackendStory, y: f64) {
    for bucket in layout::buckets(&lane.probes, scale, |p| p.start_ms) {
        let probes: Vec<&Probe> = bucket.iter().map(|&i| &lane.probes[i]).collect();
        let Some(worst) = probes.iter().max_by_key(|p| p.result.severity()) else {
            continue;
        };
        let first = probes[0];
        let last_end = probes
            .iter()
            .map(|p| p.end_ms)
            .max()
            .unwrap_or(first.end_ms);
        let x0 = scale.x(first.start_ms);
        let title = esc(&probe_title(name, &probes));
        match &worst.result {
            ProbeResult::Skipped(_) => {
                let _ = writeln!(
                    out,
                    "<rect class=\"probe skipped\" x=\"{}\" y=\"{}\" width=\"3\" height=\"7\" \
                     fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.2\"><title>{title}</title></rect>",
                    n(x0 - 1.5),
                    n(y),
                    palette::PROBE_SKIPPED
                );
            }
            result => {
                let (class, fill) = match result {
                    ProbeResult::Failed(c, _) => (
                        format!("probe failed cat-{}", c.map_or("unknown", |c| c.as_str())),
                        palette::category(*c),
                    ),
                    _ => ("probe ok".to_owned(), palette::PROBE_OK),
                };
                let w = (scale.x(last_end) - x0).max(3.0);
                // A failure stands taller than a success: it reaches into the status bar.
                let h = if matches!(result, ProbeResult::Failed(..)) {
                    11.0
                } else {
                    7.0
                };
                let _ = writeln!(
                    out,
                    "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                     fill=\"{fill}\"><title>{title}</title></rect>",
                    n(x0),
                    n(y),
                    n(w),
                    n(h)
                );
            }
        }
    }
}

fn draw_spans<T: Copy + PartialEq>(
    out: &mut String,
    spans: &[PxSpan<T>],
    y: f64,
    h: f64,
    what: impl Fn(&T) -> (String, &'static str, &'static str, String),
    name: &str,
) {
    for s in spans {
        let (class, fill, text_fill, label) = what(&s.value);
        let w = (s.x1 - s.x0).max(0.5);
        let merged = if s.merged > 1 {
            format!(
                " ({} changes within; the worst state of each pixel shown)",
                s.merged
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<rect class=\"{class}\" data-from-ms=\"{}\" data-to-ms=\"{}\" x=\"{}\" y=\"{}\" \
             width=\"{}\" height=\"{}\" fill=\"{fill}\"><title>{}</title></rect>",
            s.from_ms,
            s.to_ms,
            n(s.x0),
            n(y),
            n(w),
            n(h),
            esc(&format!(
                "{name}: {label} {}{merged}",
                span_time(s.from_ms, s.to_ms)
            ))
        );
        let font = if h >= 14.0 { 10.0 } else { 8.0 };
        // The whole label if it fits, else its last part (`half_open` of
        // `degraded/half_open`), else nothing: the title still says it all.
        let short = label.rsplit('/').next().unwrap_or_default().to_owned();
        let label = [label, short]
            .into_iter()
            .find(|l| !l.is_empty() && w >= text_w(l, font) + 6.0)
            .unwrap_or_default();
        if h >= 8.0 && !label.is_empty() {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{text_fill}\" \
                 pointer-events=\"none\">{}</text>",
                n(s.x0 + 3.0),
                n(y + h / 2.0 + font * 0.35),
                n(font),
                esc(&label)
            );
        }
        out.push('\n');
    }
}

fn draw_status_and_circuit(
    out: &mut String,
    scale: &Scale,
    name: &str,
    lane: &BackendStory,
    status_y: f64,
    status_h: f64,
    circuit_h: f64,
) {
    let status = px_spans(&lane.status, scale, |s| palette::status_severity(s.0));
    draw_spans(
        out,
        &status,
        status_y,
        status_h,
        |s| {
            (
                format!("status s-{}", s.0),
                palette::status(s.0),
                palette::status_text(s.0),
                status_label(*s),
            )
        },
        name,
    );
    let circuit = px_spans(&lane.circuit, scale, |c| palette::circuit_severity(*c));
    draw_spans(
        out,
        &circuit,
        status_y + status_h,
        circuit_h,
        |c| {
            let label = if *c == CircuitState::Closed {
                String::new()
            } else {
                format!("circuit {c}")
            };
            (
                format!("circuit c-{c}"),
                palette::circuit(*c),
                "#ffffff",
                label,
            )
        },
        name,
    );
}

fn draw_connections(out: &mut String, scale: &Scale, name: &str, lane: &BackendStory, y: f64) {
    let mut last_pod: Option<&str> = None;
    let mut label_end = f64::NEG_INFINITY;
    for bucket in layout::buckets(&lane.connections, scale, |c| c.at_ms) {
        let conns: Vec<_> = bucket.iter().map(|&i| &lane.connections[i]).collect();
        let first = conns[0];
        let x = scale.x(first.at_ms);
        let failed = conns.iter().find(|c| c.outcome != "opened");
        let mut title: Vec<String> = conns
            .iter()
            .take(6)
            .map(|c| {
                format!(
                    "{name}: connection {} at {}{}",
                    c.outcome,
                    format_ms(c.at_ms),
                    c.pod
                        .as_deref()
                        .map(|p| format!(" -> {p}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        if conns.len() > 6 {
            title.push(format!("… {} more", conns.len() - 6));
        }
        let title = esc(&title.join("\n"));
        if let Some(c) = failed {
            let _ = writeln!(
                out,
                "<circle class=\"connection not-opened\" data-outcome=\"{}\" cx=\"{}\" cy=\"{}\" \
                 r=\"3\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.5\"><title>{title}</title></circle>",
                esc(&c.outcome),
                n(x),
                n(y + 4.0),
                palette::CONNECTION_FAILED
            );
            continue;
        }
        let pod = conns
            .iter()
            .rev()
            .find_map(|c| c.pod.as_deref())
            .unwrap_or("");
        let index = lane.pods.iter().position(|p| p == pod).unwrap_or(0);
        let _ = writeln!(
            out,
            "<circle class=\"connection opened\" data-pod=\"{}\" cx=\"{}\" cy=\"{}\" r=\"3\" \
             fill=\"{}\"><title>{title}</title></circle>",
            esc(pod),
            n(x),
            n(y + 4.0),
            palette::PODS[index % palette::PODS.len()]
        );
        if last_pod != Some(pod) && x > label_end {
            // Label the pod where the lane's connections move to it (first use or a switch).
            let short = pod
                .strip_prefix(name)
                .and_then(|p| p.strip_prefix('-'))
                .unwrap_or(pod);
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"9\" fill=\"#343a40\">{}</text>",
                n(x + 5.0),
                n(y + 7.5),
                esc(short)
            );
            label_end = x + 5.0 + text_w(short, 9.0);
        }
        last_pod = Some(pod);
    }
}

fn draw_reported(out: &mut String, scale: &Scale, name: &str, reports: &[TimedReport], y: f64) {
    let lines: Vec<(u64, &vmcp_core::status::DiscoveredBackend)> = reports
        .iter()
        .filter_map(|r| {
            r.report
                .discovered_backends
                .iter()
                .find(|b| b.name == name)
                .map(|b| (millis(r.at), b))
        })
        .collect();
    for bucket in layout::buckets(&lines, scale, |(at, _)| *at) {
        let Some(&(at, b)) = bucket
            .iter()
            .map(|&i| &lines[i])
            .max_by_key(|(_, b)| palette::status_severity(b.health))
        else {
            continue;
        };
        let x = scale.x(lines[bucket[0]].0);
        let mut title = format!(
            "{name} in the report at {}: {} ({}), circuit {}",
            format_ms(at),
            status_label((b.health, b.reason)),
            b.status,
            b.circuit_breaker_state
        );
        if let Some(c) = b.error_category {
            let _ = write!(title, ", last error {c}");
        }
        let _ = writeln!(
            out,
            "<path class=\"reported\" data-health=\"{}\" d=\"M{} {}l3 3l-3 3l-3-3z\" \
             fill=\"{}\"><title>{}</title></path>",
            b.health,
            n(x),
            n(y - 3.0),
            palette::status(b.health),
            esc(&title)
        );
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one drawing step: the geometry it needs, passed explicitly"
)]
fn draw_backend_lane(
    out: &mut String,
    scale: &Scale,
    mode: LaneMode,
    name: &str,
    lane: &BackendStory,
    reports: &[TimedReport],
    y: f64,
    index: usize,
) {
    let h = mode.lane_h();
    let shade = if index % 2 == 0 { "#ffffff" } else { "#f8f9fa" };
    let _ = writeln!(
        out,
        "<g class=\"lane backend-lane\" data-backend=\"{}\"><rect x=\"0\" y=\"{}\" width=\"{}\" \
         height=\"{}\" fill=\"{shade}\"/>",
        esc(name),
        n(y),
        n(scale.width()),
        n(h)
    );
    match mode {
        LaneMode::Full => {
            let failed = lane
                .probes
                .iter()
                .filter(|p| matches!(p.result, ProbeResult::Failed(..)))
                .count();
            let skipped = lane
                .probes
                .iter()
                .filter(|p| matches!(p.result, ProbeResult::Skipped(_)))
                .count();
            let opened = lane
                .connections
                .iter()
                .filter(|c| c.outcome == "opened")
                .count();
            let _ = writeln!(
                out,
                "<text x=\"12\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"#212529\">{}</text>\
                 <text x=\"12\" y=\"{}\" font-size=\"9.5\" fill=\"#6c757d\">{} probes · {failed} failed · {skipped} skipped</text>\
                 <text x=\"12\" y=\"{}\" font-size=\"9.5\" fill=\"#6c757d\">{opened} connections · {} pod(s)</text>",
                n(y + 18.0),
                esc(&cut(name, 26)),
                n(y + 32.0),
                lane.probes.len() - skipped,
                n(y + 45.0),
                lane.pods.len()
            );
            draw_status_and_circuit(out, scale, name, lane, y + 11.0, 20.0, 11.0);
            draw_probes(out, scale, name, lane, y + 3.0);
            for &(at, generation) in &lane.endpoint_changes {
                let x = scale.x(at);
                let _ = writeln!(
                    out,
                    "<line class=\"endpoint-change\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" \
                     stroke=\"#212529\" stroke-width=\"2\"><title>{}</title></line>",
                    n(y + 9.0),
                    n(y + 44.0),
                    esc(&format!(
                        "{name}: endpoint changed at {} (generation {generation})",
                        format_ms(at)
                    )),
                    x = n(x)
                );
            }
            draw_connections(out, scale, name, lane, y + 43.0);
            draw_reported(out, scale, name, reports, y + 56.0);
        }
        LaneMode::Compact => {
            let _ = writeln!(
                out,
                "<text x=\"12\" y=\"{}\" font-size=\"10\" fill=\"#212529\">{}</text>",
                n(y + 10.5),
                esc(&cut(name, 30))
            );
            draw_status_and_circuit(out, scale, name, lane, y + 1.0, 9.0, 3.0);
        }
    }
    out.push_str("</g>\n");
}

fn draw_folded_lane(out: &mut String, scale: &Scale, folded: &[&str], y: f64, h: f64) {
    let mut names: Vec<&str> = folded.iter().take(FOLDED_TITLE_NAMES).copied().collect();
    let more = folded.len().saturating_sub(FOLDED_TITLE_NAMES);
    let more = if more > 0 {
        format!(", … and {more} more")
    } else {
        String::new()
    };
    names.dedup();
    let _ = writeln!(
        out,
        "<g class=\"lane folded-lane\" data-backends=\"{}\"><rect x=\"0\" y=\"{}\" width=\"{}\" \
         height=\"{}\" fill=\"#f1f3f5\"/><text x=\"12\" y=\"{}\" font-size=\"10\" \
         fill=\"#212529\">+{} uneventful</text><rect x=\"{}\" y=\"{}\" width=\"{}\" \
         height=\"{}\" fill=\"{}\" fill-opacity=\"0.5\"><title>{}</title></rect></g>",
        folded.len(),
        n(y),
        n(scale.width()),
        n(h),
        n(y + 10.5),
        folded.len(),
        n(scale.plot_x),
        n(y + 1.0),
        n(scale.plot_w),
        n(h - 2.0),
        palette::status(HealthStatus::Healthy),
        esc(&format!(
            "{} backends only ever unknown/pending or healthy, circuit closed, no failed or \
             skipped probe: {}{more}",
            folded.len(),
            names.join(", ")
        ))
    );
}

fn draw_faults(
    out: &mut String,
    scale: &Scale,
    story: &Story,
    labels: &[String],
    rows: &[usize],
    top: f64,
    plot_bottom: f64,
) {
    out.push_str("<g class=\"faults\">\n");
    for ((fault, label), row) in story.faults.iter().zip(labels).zip(rows) {
        let x = scale.x(fault.at_ms);
        let label_y = top + *row as f64 * FAULT_ROW_H + 10.0;
        let title = esc(&format!(
            "{}: {} {}",
            format_ms(fault.at_ms),
            fault.action,
            fault.detail
        ));
        let _ = writeln!(
            out,
            "<g class=\"fault\" data-action=\"{}\" data-at-ms=\"{}\"><title>{title}</title>\
             <line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{c}\" stroke-width=\"1.2\" \
             stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{c}\">{}</text></g>",
            esc(&fault.action),
            fault.at_ms,
            n(label_y - 9.0),
            n(plot_bottom),
            n(x + 3.0),
            n(label_y),
            esc(label),
            x = n(x),
            c = palette::FAULT
        );
    }
    out.push_str("</g>\n");
}

#[allow(
    clippy::too_many_arguments,
    reason = "one drawing step: the geometry it needs, passed explicitly"
)]
fn draw_failure_windows(
    out: &mut String,
    scale: &Scale,
    picture: &Picture<'_>,
    labels: &[String],
    rows: &[usize],
    top: f64,
    plot_bottom: f64,
    lane_h: f64,
    lane_top_of: &dyn Fn(&str) -> Option<f64>,
) {
    out.push_str("<g class=\"failures\">\n");
    for ((i, f), (label, row)) in picture
        .failures
        .iter()
        .enumerate()
        .zip(labels.iter().zip(rows))
    {
        let x0 = scale.x(f.window_ms.0);
        let w = (scale.x(f.window_ms.1) - x0).max(2.0);
        let bar_y = top + *row as f64 * FAILURE_ROW_H;
        let label_inside = w >= text_w(label, 10.0) + 6.0;
        let mut title = format!(
            "✗{} {} {} expectation failed, window {}",
            i + 1,
            f.location,
            f.kind,
            span_time(f.window_ms.0, f.window_ms.1)
        );
        if let Some(d) = &f.description {
            let _ = write!(title, "\n{d}");
        }
        let _ = write!(title, "\n{}", f.message);
        let title = esc(&title);
        let _ = writeln!(
            out,
            "<g class=\"failure-window\" data-index=\"{}\" data-from-ms=\"{}\" data-to-ms=\"{}\" \
             data-location=\"{}\"><title>{title}</title>\
             <rect class=\"failure-band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{c}\" \
             fill-opacity=\"0.13\" stroke=\"{c}\" stroke-width=\"1\" stroke-dasharray=\"5 3\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{c}\" rx=\"2\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" font-weight=\"bold\" fill=\"{}\">{}</text>",
            i + 1,
            f.window_ms.0,
            f.window_ms.1,
            esc(&f.location),
            n(x0),
            n(bar_y),
            n(w),
            n(plot_bottom - bar_y),
            n(x0),
            n(bar_y + 2.0),
            n(w),
            n(FAILURE_ROW_H - 4.0),
            // The label sits inside the bar when it fits, else right of it (the bar is the
            // window: it must not look longer than it is).
            n(if label_inside { x0 + 3.0 } else { x0 + w + 3.0 }),
            n(bar_y + 13.0),
            if label_inside {
                "#ffffff"
            } else {
                palette::FAILURE
            },
            esc(label),
            c = palette::FAILURE
        );
        if let Some(lane_y) = f.backend.as_deref().and_then(lane_top_of) {
            let _ = writeln!(
                out,
                "<rect class=\"failure-lane\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                 fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\"/>",
                n(x0),
                n(lane_y + 1.0),
                n(w),
                n(lane_h - 2.0),
                palette::FAILURE
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");
}

/// The numbered list of failed expectations under the plot; returns its height.
fn draw_failure_list(out: &mut String, picture: &Picture<'_>, top: f64) -> f64 {
    if picture.failures.is_empty() {
        return 0.0;
    }
    out.push_str("<g class=\"failure-list\">\n");
    let mut y = top;
    let _ = writeln!(
        out,
        "<text x=\"12\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"{}\">Failed \
         expectations</text>",
        n(y),
        palette::FAILURE
    );
    for (i, f) in picture.failures.iter().enumerate() {
        y += 18.0;
        let head = format!(
            "✗{} {} · {} · window {} – {}{}",
            i + 1,
            f.location,
            f.kind,
            format_ms(f.window_ms.0),
            format_ms(f.window_ms.1),
            f.description
                .as_deref()
                .map(|d| format!(" · {d}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "<text x=\"12\" y=\"{}\" font-size=\"11\" font-weight=\"bold\" fill=\"#212529\">{}</text>",
            n(y),
            esc(&cut(&head, FAILURE_TEXT_CHARS))
        );
        y += 14.0;
        let _ = writeln!(
            out,
            "<text x=\"26\" y=\"{}\" font-size=\"10.5\" fill=\"#495057\">{}<title>{}</title></text>",
            n(y),
            esc(&cut(&f.message, FAILURE_TEXT_CHARS)),
            esc(&f.message)
        );
    }
    out.push_str("</g>\n");
    y - top + 6.0
}
