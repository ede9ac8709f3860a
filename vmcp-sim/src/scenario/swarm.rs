//! The `[swarm]` table: which perturbations `explore --swarm` may enable on this scenario and at
//! which rates (DESIGN §4.5), validated like every other table (`file:line:column` errors that
//! say what is allowed). The CLI flags of `explore --swarm` override it
//! ([`SwarmSettings::overridden`]).
//!
//! The perturbation vocabulary lives here, not in [`crate::swarm`], because the scenario format
//! names it; the swarm module schedules what the settings allow.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::error::ScenarioError;

/// One kind of perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Perturbation {
    /// A fixed one-way latency on the link to a pod for a while (`latency` … `latency = 0s`).
    LatencySpike,
    /// The pod answers slowly for a while (`set_behaviour { slow } for`).
    SlowReplies,
    /// The pod accepts requests and never answers for a while (`set_behaviour "hang" for`).
    HangingReplies,
    /// The pod's host crashes at an arbitrary instant, cutting the responses in flight (peers see
    /// the connection end mid-exchange), and is back within a second.
    ResetMidResponse,
    /// The pod crashes and restarts seconds later.
    PodRestart,
    /// A short partition between vMCP and the pod.
    Partition,
    /// The backend leaves the registry and comes back.
    RegistryChurn,
}

/// Every perturbation with its name (as printed, in `[swarm]` and on the command line), in the
/// order seeds draw them.
pub const CATALOGUE: &[(&str, Perturbation)] = &[
    ("latency_spike", Perturbation::LatencySpike),
    ("slow_replies", Perturbation::SlowReplies),
    ("hanging_replies", Perturbation::HangingReplies),
    ("reset_mid_response", Perturbation::ResetMidResponse),
    ("pod_restart", Perturbation::PodRestart),
    ("partition", Perturbation::Partition),
    ("registry_churn", Perturbation::RegistryChurn),
];

impl Perturbation {
    /// The catalogue name.
    pub fn name(self) -> &'static str {
        CATALOGUE
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(n, _)| n)
    }

    /// The perturbation called `name`; the error lists the names there are.
    pub fn from_name(name: &str) -> Result<Self, String> {
        CATALOGUE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                format!(
                    "unknown perturbation \"{name}\" (expected one of {})",
                    names()
                )
            })
    }
}

impl fmt::Display for Perturbation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `latency_spike, slow_replies, ...`: what error messages offer.
fn names() -> String {
    CATALOGUE
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a swarm seed may do to the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmSettings {
    /// The perturbations a seed may enable (each seed enables a random subset), catalogue
    /// order, no duplicates, never empty.
    pub perturbations: Vec<Perturbation>,
    /// An enabled perturbation's rate (the chance it fires per backend and time slot) is drawn
    /// uniformly from `[min_rate, max_rate]` ⊆ [0, 1].
    pub min_rate: f64,
    /// See `min_rate`.
    pub max_rate: f64,
    /// Perturbations enabled on every seed at exactly this rate (each one of `perturbations`).
    pub fixed_rates: BTreeMap<Perturbation, f64>,
}

impl Default for SwarmSettings {
    /// The whole catalogue, rates from [0.05, 0.6], nothing fixed.
    fn default() -> Self {
        Self {
            perturbations: CATALOGUE.iter().map(|(_, p)| *p).collect(),
            min_rate: 0.05,
            max_rate: 0.6,
            fixed_rates: BTreeMap::new(),
        }
    }
}

/// What the command line asks of the swarm; every field given replaces the file's value
/// (`rates` entries replace the file's entry for the same perturbation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwarmOverrides {
    /// `--perturbations a,b`.
    pub perturbations: Option<Vec<Perturbation>>,
    /// `--min-rate`.
    pub min_rate: Option<f64>,
    /// `--max-rate`.
    pub max_rate: Option<f64>,
    /// `--rate NAME=R`, repeatable.
    pub rates: Vec<(Perturbation, f64)>,
}

impl SwarmSettings {
    /// The settings with the command line's `overrides` applied, checked again as a whole (the
    /// error names the flag).
    pub fn overridden(&self, overrides: &SwarmOverrides) -> Result<Self, String> {
        let mut out = self.clone();
        if let Some(list) = &overrides.perturbations {
            out.perturbations = in_catalogue_order(list);
            if out.perturbations.is_empty() {
                return Err("--perturbations: name at least one perturbation".to_owned());
            }
            // A fixed rate of the file for a perturbation the command line leaves out goes too.
            out.fixed_rates.retain(|p, _| out.perturbations.contains(p));
        }
        if let Some(min) = overrides.min_rate {
            out.min_rate = check_rate("--min-rate", min)?;
        }
        if let Some(max) = overrides.max_rate {
            out.max_rate = check_rate("--max-rate", max)?;
        }
        if out.min_rate > out.max_rate {
            return Err(format!(
                "--min-rate/--max-rate: the minimum rate ({}) is above the maximum ({})",
                out.min_rate, out.max_rate
            ));
        }
        for (p, rate) in &overrides.rates {
            let rate = check_rate(&format!("--rate {p}"), *rate)?;
            if !out.perturbations.contains(p) {
                return Err(format!(
                    "--rate {p}: not among the allowed perturbations ({})",
                    list(&out.perturbations)
                ));
            }
            out.fixed_rates.insert(*p, rate);
        }
        Ok(out)
    }
}

/// Parses `--rate NAME=R`.
pub fn parse_rate_flag(text: &str) -> Result<(Perturbation, f64), String> {
    let (name, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected NAME=RATE, e.g. partition=0.2"))?;
    let p = Perturbation::from_name(name.trim())?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: the rate is not a number"))?;
    Ok((p, check_rate(&format!("--rate {p}"), rate)?))
}

fn check_rate(what: &str, rate: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "{what}: rate {rate} is outside [0, 1] (a probability per backend and time slot)"
        ))
    }
}

fn in_catalogue_order(list: &[Perturbation]) -> Vec<Perturbation> {
    CATALOGUE
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| list.contains(p))
        .collect()
}

fn list(ps: &[Perturbation]) -> String {
    ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

/// `[swarm]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSwarm {
    perturbations: Option<Spanned<Vec<Spanned<String>>>>,
    min_rate: Option<Spanned<Rate>>,
    max_rate: Option<Spanned<Rate>>,
    #[serde(default)]
    rates: BTreeMap<String, Spanned<Rate>>,
}

/// A number written as a TOML float or integer (`1` and `1.0` alike).
#[derive(Clone, Copy)]
struct Rate(f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate: a number in [0, 1]")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                Ok(Rate(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Validates `[swarm]` (absent: the defaults).
pub(super) fn settings(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<RawSwarm>>,
) -> Result<SwarmSettings, ScenarioError> {
    let mut out = SwarmSettings::default();
    let Some(raw) = raw else {
        return Ok(out);
    };
    let table = raw.get_ref();
    if let Some(list) = &table.perturbations {
        let mut chosen = Vec::new();
        for name in list.get_ref() {
            let p = Perturbation::from_name(name.get_ref())
                .map_err(|message| ctx.error(&name.span(), message))?;
            if chosen.contains(&p) {
                return Err(ctx.error(
                    &name.span(),
                    format!("perturbation \"{p}\" is listed twice"),
                ));
            }
            chosen.push(p);
        }
        if chosen.is_empty() {
            return Err(ctx.error(
                &list.span(),
                format!(
                    "perturbations must name at least one perturbation (one of {}); leave the \
                     key out to allow all",
                    names()
                ),
            ));
        }
        out.perturbations = in_catalogue_order(&chosen);
    }
    let rate = |key: &str, value: &Spanned<Rate>| -> Result<f64, ScenarioError> {
        check_rate(key, value.get_ref().0).map_err(|message| ctx.error(&value.span(), message))
    };
    if let Some(min) = &table.min_rate {
        out.min_rate = rate("min_rate", min)?;
    }
    if let Some(max) = &table.max_rate {
        out.max_rate = rate("max_rate", max)?;
    }
    if out.min_rate > out.max_rate {
        let span = table
            .min_rate
            .as_ref()
            .or(table.max_rate.as_ref())
            .map_or(raw.span(), Spanned::span);
        return Err(ctx.error(
            &span,
            format!(
                "min_rate ({}) must not be above max_rate ({})",
                out.min_rate, out.max_rate
            ),
        ));
    }
    for (name, value) in &table.rates {
        let p = Perturbation::from_name(name)
            .map_err(|message| ctx.key_error(&value.span(), format!("rates: {message}")))?;
        if !out.perturbations.contains(&p) {
            return Err(ctx.key_error(
                &value.span(),
                format!(
                    "rates: \"{p}\" is not among the allowed perturbations ({})",
                    list(&out.perturbations)
                ),
            ));
        }
        out.fixed_rates
            .insert(p, rate(&format!("rates.{p}"), value)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_the_file_and_are_checked() {
        let file = SwarmSettings {
            perturbations: vec![Perturbation::PodRestart, Perturbation::Partition],
            fixed_rates: [(Perturbation::Partition, 0.5)].into_iter().collect(),
            ..SwarmSettings::default()
        };
        let only_restart = SwarmOverrides {
            perturbations: Some(vec![Perturbation::PodRestart]),
            ..SwarmOverrides::default()
        };
        let out = file.overridden(&only_restart).unwrap();
        assert_eq!(out.perturbations, vec![Perturbation::PodRestart]);
        assert!(
            out.fixed_rates.is_empty(),
            "the partition rate went with it"
        );

        let rates = SwarmOverrides {
            min_rate: Some(0.2),
            max_rate: Some(0.3),
            rates: vec![(Perturbation::Partition, 0.9)],
            ..SwarmOverrides::default()
        };
        let out = file.overridden(&rates).unwrap();
        assert_eq!((out.min_rate, out.max_rate), (0.2, 0.3));
        assert_eq!(out.fixed_rates[&Perturbation::Partition], 0.9);

        let bad = |o: SwarmOverrides| file.overridden(&o).unwrap_err();
        assert!(
            bad(SwarmOverrides {
                min_rate: Some(1.5),
                ..SwarmOverrides::default()
            })
            .contains("--min-rate: rate 1.5 is outside [0, 1]")
        );
        assert!(
            bad(SwarmOverrides {
                min_rate: Some(0.7),
                ..SwarmOverrides::default()
            })
            .contains("above the maximum")
        );
        assert!(
            bad(SwarmOverrides {
                rates: vec![(Perturbation::LatencySpike, 0.1)],
                ..SwarmOverrides::default()
            })
            .contains(
                "--rate latency_spike: not among the allowed perturbations (pod_restart, partition)"
            )
        );
        assert!(
            bad(SwarmOverrides {
                perturbations: Some(vec![]),
                ..SwarmOverrides::default()
            })
            .contains("at least one")
        );
    }

    #[test]
    fn flags_parse_names_and_rates() {
        let e = Perturbation::from_name("latency").unwrap_err();
        assert!(
            e.contains(
                "unknown perturbation \"latency\" (expected one of latency_spike, slow_replies"
            ),
            "{e}"
        );
        assert_eq!(
            parse_rate_flag("partition=0.25").unwrap(),
            (Perturbation::Partition, 0.25)
        );
        assert!(
            parse_rate_flag("partition")
                .unwrap_err()
                .contains("NAME=RATE")
        );
        assert!(
            parse_rate_flag("partition=x")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_rate_flag("partition=-0.1")
                .unwrap_err()
                .contains("outside [0, 1]")
        );
        assert!(
            parse_rate_flag("partition=NaN")
                .unwrap_err()
                .contains("outside [0, 1]")
        );
    }

    #[test]
    fn every_name_round_trips() {
        for (name, p) in CATALOGUE {
            assert_eq!(Perturbation::from_name(name), Ok(*p));
            assert_eq!(p.name(), *name);
        }
    }
}
