//! The timeline picture of a run (DESIGN §4.7): one self-contained HTML file with an SVG
//! timeline, drawn from the trace, the reports and the failed expectations.
//!
//! Rendering is a pure function of its input ([`Picture`]): no clock, no randomness, no map with
//! a random order, numbers printed with a fixed precision, so the same run gives a byte-identical
//! file (snapshot-testable) on any machine.
//!
//! What is drawn, top to bottom: a legend; faults as labelled vertical markers; the time axis in
//! simulated seconds; every failed expectation's window (a numbered bar, a band across all lanes,
//! its backend's lane outlined; description, `file:line:column` and message in the list below
//! the plot and on hover); a report lane (a dot per report, coloured by phase; hover: the phase
//! and every backend's status in it); one lane per backend: probes (ok, failed coloured by
//! category, skipped), the monitor's status over time, the circuit state as a band beneath,
//! connections opened (colour = pod, the pod named where it changes), and the backend's status as
//! each report published it.
//!
//! Size stays bounded whatever the run: spans come from transitions (one rectangle per state,
//! not per probe), a lane denser than its pixels is drawn per pixel column (the worst state of the
//! column wins, so a short outage never disappears), marks closer than 3 px are merged (the worst
//! shown, the count in its title), and the plot is at most 2400 px wide (zoom with the page's
//! buttons). Above [`FULL_LANES_UP_TO`] backends the lanes are compact (status and circuit only,
//! 14 px) and the backends with nothing to show are folded into one lane; the page scrolls.
//!
//! Client calls (DESIGN §4.6) get their own lanes once the trace records them; the place is
//! marked in `svg::render` (no clients exist yet, so nothing is drawn for them).

mod html;
mod layout;
mod palette;
mod story;
mod svg;

use crate::runner::{ExpectationFailure, RunOutcome};
use crate::trace::{TimedReport, Trace};

pub use layout::FULL_LANES_UP_TO;

/// Everything a picture is drawn from.
#[derive(Clone, Debug)]
pub struct Picture<'a> {
    /// Scenario name (the heading).
    pub scenario: &'a str,
    /// Scenario file, as given to the runner.
    pub file: &'a str,
    /// The seed of the run.
    pub seed: u64,
    /// End of the time axis: the simulated time the run covered, in milliseconds.
    pub end_ms: u64,
    /// The run's trace.
    pub trace: &'a Trace,
    /// Every published report.
    pub reports: &'a [TimedReport],
    /// The expectations that did not hold.
    pub failures: &'a [ExpectationFailure],
    /// The command that reproduces the run, shown in the page header.
    pub reproduce: String,
}

impl<'a> Picture<'a> {
    /// The picture of a finished run; `reproduce` defaults to a plain `vmcp-sim run` command.
    pub fn of(outcome: &'a RunOutcome) -> Self {
        let last_entry = outcome.trace.entries.last().map_or(0, |e| e.at_ms);
        let elapsed = u64::try_from(outcome.sim_elapsed.as_millis()).unwrap_or(u64::MAX);
        Self {
            scenario: &outcome.scenario,
            file: &outcome.file,
            seed: outcome.seed,
            end_ms: elapsed.max(last_entry),
            trace: &outcome.trace,
            reports: &outcome.reports,
            failures: &outcome.failures,
            reproduce: format!("vmcp-sim run {} --seed {}", outcome.file, outcome.seed),
        }
    }
}

/// The SVG timeline alone (what the snapshot tests compare).
pub fn render_svg(picture: &Picture<'_>) -> String {
    svg::render(picture)
}

/// The self-contained HTML page: the SVG inline, CSS inline, a small inline zoom script, no
/// network resource of any kind.
pub fn render_html(picture: &Picture<'_>) -> String {
    html::page(picture, &svg::render(picture))
}
