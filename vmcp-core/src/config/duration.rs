//! Duration strings: `500ms`, `30s`, `1m30s`, `2m`, `1h`.
//!
//! Why a strict parser of our own rather than `humantime`: configs are pasted from ToolHive, whose Go
//! loader accepts exactly `([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+` (`time.ParseDuration`), while
//! humantime also accepts spaces, `min`, `d`, `M` (months) and `y`, so a value could load here and
//! be rejected by ToolHive (or mean something else). This parser accepts the ToolHive pattern, with
//! one extra rule that catches typos: units go from largest to smallest, each at most once
//! (`1m30s`, not `30s1m`). Bare numbers are rejected because `30` could mean seconds or
//! milliseconds depending on who wrote the file.
//!
//! Use the serde helpers with `#[serde(with = "vmcp_core::config::duration")]` (or
//! `duration::option` for `Option<Duration>`). Deserialization goes through `deserialize_any`, so
//! it works the same with YAML, TOML and JSON, and it turns a bare number into a message that says
//! to add a unit. Serialization writes the compact form produced by [`format()`], which [`parse`]
//! reads back exactly.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The units, largest first, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 MICRO SIGN, as Go accepts
    ("μs", 1_000), // U+03BC GREEK SMALL LETTER MU, as Go accepts
    ("ns", 1),
];

/// The unit list shown in error messages.
const UNIT_HELP: &str = "units: h, m, s, ms, us, ns";

/// Why a string is not a duration. Every message quotes the offending input and shows a valid form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("empty duration: write e.g. \"30s\", \"500ms\" or \"1m30s\"")]
    Empty,
    /// A leading minus sign: no setting here accepts negative durations.
    #[error("negative duration \"{input}\" is not allowed")]
    Negative {
        /// The whole input.
        input: String,
    },
    /// A number without a unit, e.g. `30` or the `30` in `1m30`.
    #[error(
        "\"{input}\" has a number without a unit: write e.g. \"30s\", \"500ms\" or \"1m30s\" ({UNIT_HELP})"
    )]
    MissingUnit {
        /// The whole input.
        input: String,
    },
    /// A unit this parser does not know, e.g. `sec`, `min` or `d`.
    #[error("unknown unit \"{unit}\" in \"{input}\" ({UNIT_HELP})")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unrecognised unit.
        unit: String,
    },
    /// Units out of order or repeated, e.g. `30s1m` or `1s1s` (usually a typo).
    #[error(
        "units in \"{input}\" must go from largest to smallest, each at most once (e.g. \"1m30s\")"
    )]
    UnitOrder {
        /// The whole input.
        input: String,
    },
    /// Anything else that does not match `<number><unit>...`: spaces, signs, stray characters.
    #[error(
        "\"{input}\" is not a duration: write e.g. \"30s\", \"500ms\" or \"1m30s\" ({UNIT_HELP})"
    )]
    Malformed {
        /// The whole input.
        input: String,
    },
    /// The value does not fit a `std::time::Duration`.
    #[error("duration \"{input}\" is too large")]
    TooLarge {
        /// The whole input.
        input: String,
    },
}

/// Parse a duration string such as `500ms`, `30s`, `1m30s`, `1.5s`, `2h`.
///
/// Grammar: one or more `<digits>[.<digits>]<unit>` with units `h`, `m`, `s`, `ms`, `us` (or `µs`),
/// `ns`, largest first, no spaces, no sign. Fractions are truncated to whole nanoseconds.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    if input.starts_with('-') {
        return Err(DurationError::Negative {
            input: input.to_owned(),
        });
    }
    let malformed = || DurationError::Malformed {
        input: input.to_owned(),
    };
    let too_large = || DurationError::TooLarge {
        input: input.to_owned(),
    };

    let mut rest = input;
    let mut total: u128 = 0;
    // Index into UNITS of the previous component's unit; the next one must come strictly later.
    let mut previous_rank: Option<usize> = None;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        if whole.is_empty() {
            return Err(malformed());
        }
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => {
                let (fraction, after_fraction) = split_digits(after_dot);
                if fraction.is_empty() {
                    return Err(malformed());
                }
                (fraction, after_fraction)
            }
            None => ("", after_whole),
        };
        let unit_len = after_number
            .char_indices()
            .find(|&(_, c)| !(c.is_alphabetic()))
            .map_or(after_number.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(if after_number.is_empty() {
                DurationError::MissingUnit {
                    input: input.to_owned(),
                }
            } else {
                malformed()
            });
        }
        let unit = &after_number[..unit_len];
        rest = &after_number[unit_len..];

        let Some(rank) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            });
        };
        // `us`, `µs` and `μs` share a rank: compare unit lengths, not table positions.
        let nanos_per_unit = UNITS[rank].1;
        let rank = UNITS
            .iter()
            .position(|&(_, n)| n == nanos_per_unit)
            .unwrap_or(rank);
        if previous_rank.is_some_and(|previous| rank <= previous) {
            return Err(DurationError::UnitOrder {
                input: input.to_owned(),
            });
        }
        previous_rank = Some(rank);

        let whole_value = parse_u128(whole).ok_or_else(too_large)?;
        let mut component = whole_value
            .checked_mul(nanos_per_unit)
            .ok_or_else(too_large)?;
        // Digits beyond the 18th cannot change a value truncated to nanoseconds (units ≤ 1 h).
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let numerator = parse_u128(fraction).ok_or_else(too_large)?;
            let denominator = 10u128.pow(fraction.len() as u32);
            component = component
                .checked_add(numerator * nanos_per_unit / denominator)
                .ok_or_else(too_large)?;
        }
        total = total.checked_add(component).ok_or_else(too_large)?;
    }

    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_large())?;
    // The remainder is < 1e9, so it fits u32.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Format a duration in the compact form [`parse`] reads back: `0s`, `500ms`, `30s`, `1m30s`,
/// `1h`, `1s500ms`. Components are whole numbers, largest unit first, zero components left out.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let parts: [(u64, &str); 6] = [
        (secs / 3600, "h"),
        ((secs % 3600) / 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from((nanos / 1_000) % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    let mut out = String::new();
    for (value, unit) in parts {
        if value != 0 {
            out.push_str(&value.to_string());
            out.push_str(unit);
        }
    }
    out
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

fn parse_u128(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
    })
}

/// Serialize a `Duration` as a duration string (for `#[serde(with = "...::duration")]`).
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*duration))
}

/// Deserialize a `Duration` from a duration string (for `#[serde(with = "...::duration")]`).
///
/// Bare numbers (`30`, `1.5`) are rejected with a message that asks for a unit.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// The serde visitor behind [`deserialize`]: strings are parsed, numbers get a helpful error.
struct DurationVisitor;

impl DurationVisitor {
    fn bare_number<E: de::Error>(number: impl fmt::Display) -> E {
        E::custom(format_args!(
            "bare number {number} is not a duration: add a unit, e.g. \"{number}s\" or \"{number}ms\" ({UNIT_HELP})"
        ))
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as \"30s\", \"500ms\" or \"1m30s\"")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
        parse(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
        Err(Self::bare_number(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
        Err(Self::bare_number(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
        Err(Self::bare_number(value))
    }
}

/// Serde helpers for `Option<Duration>` (`#[serde(with = "...::duration::option")]`).
///
/// `None` serializes as a unit/null; pair it with `skip_serializing_if = "Option::is_none"` for
/// TOML, which has no null. A missing key needs `#[serde(default)]` on the field or container.
pub mod option {
    use super::*;

    /// Serialize `Some(d)` as a duration string and `None` as null.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => super::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Deserialize null as `None` and a duration string as `Some`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserializer.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string such as \"30s\", or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// A `Duration` that (de)serializes as a duration string, for places where `#[serde(with)]` is
/// awkward: collections (`Vec<HumanDuration>`), map values, or `FromStr`-based CLI flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl From<Duration> for HumanDuration {
    fn from(duration: Duration) -> Self {
        Self(duration)
    }
}

impl From<HumanDuration> for Duration {
    fn from(duration: HumanDuration) -> Self {
        duration.0
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(Self)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1h2m3s4ms5us6ns"), Ok(Duration::new(3723, 4_005_006)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250μs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn parses_go_style_fractions() {
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("0.25m"), Ok(Duration::from_secs(15)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        // Truncated to whole nanoseconds.
        assert_eq!(parse("1.0000000019s"), Ok(Duration::new(1, 1)));
        assert_eq!(
            parse("0.1234567891234567891234s"),
            Ok(Duration::new(0, 123_456_789))
        );
    }

    #[test]
    fn rejects_bare_numbers_with_a_hint_to_add_a_unit() {
        let err = parse("30").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"30\" has a number without a unit: write e.g. \"30s\", \"500ms\" or \"1m30s\" (units: h, m, s, ms, us, ns)"
        );
        assert_eq!(
            parse("1m30"),
            Err(DurationError::MissingUnit {
                input: "1m30".into()
            })
        );
    }

    #[test]
    fn rejects_unknown_units() {
        for (input, unit) in [
            ("30sec", "sec"),
            ("1d", "d"),
            ("2min", "min"),
            ("1M", "M"),
            ("5S", "S"),
        ] {
            assert_eq!(
                parse(input),
                Err(DurationError::UnknownUnit {
                    input: input.into(),
                    unit: unit.into()
                }),
                "{input}"
            );
        }
        assert_eq!(
            parse("1d").unwrap_err().to_string(),
            "unknown unit \"d\" in \"1d\" (units: h, m, s, ms, us, ns)"
        );
    }

    #[test]
    fn rejects_units_out_of_order_or_repeated() {
        for input in ["30s1m", "1s1s", "500ms1s", "1us1µs"] {
            assert_eq!(
                parse(input),
                Err(DurationError::UnitOrder {
                    input: input.into()
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(
            parse("-1s"),
            Err(DurationError::Negative {
                input: "-1s".into()
            })
        );
        for input in [
            "s", "+1s", " 30s", "30s ", "30 s", "1m 30s", ".5s", "1.s", "1..5s", "1_000ms", "1s,",
            "1/2s",
        ] {
            assert_eq!(
                parse(input),
                Err(DurationError::Malformed {
                    input: input.into()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_values_that_do_not_fit() {
        let huge = "99999999999999999999999999999999999999999h";
        assert_eq!(
            parse(huge),
            Err(DurationError::TooLarge { input: huge.into() })
        );
        assert!(matches!(
            parse("18446744073709551616s"),
            Err(DurationError::TooLarge { .. })
        ));
        assert_eq!(
            parse("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        let cases = [
            (Duration::ZERO, "0s"),
            (ms(500), "500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(3600), "1h"),
            (ms(1500), "1s500ms"),
            (Duration::new(3723, 4_005_006), "1h2m3s4ms5us6ns"),
        ];
        for (duration, text) in cases {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration));
        }
        let max = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(parse(&format(max)), Ok(max));
    }

    #[test]
    fn human_duration_parses_displays_and_serializes() {
        let d: HumanDuration = "1m30s".parse().unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        assert_eq!(d.to_string(), "1m30s");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1m30s\"");
        assert_eq!(
            serde_json::from_str::<HumanDuration>("\"2m\"").unwrap(),
            HumanDuration(Duration::from_secs(120))
        );
        let err = serde_json::from_str::<HumanDuration>("30").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bare number 30 is not a duration: add a unit, e.g. \"30s\""),
            "{err}"
        );
    }
}
