//! Byte sizes: a plain integer (`10485760`) or an integer with a binary unit (`10MiB`, `512KiB`).
//!
//! Only binary units (`B`, `KiB`, `MiB`, `GiB`) are accepted, because `MB` is ambiguous (10^6 for
//! some tools, 2^20 for others) and a body limit off by 5 % is the kind of surprise a config should
//! not hold. Use with `#[serde(with = "vmcp_core::config::byte_size")]` on a `u64` field.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The units, largest first.
const UNITS: &[(&str, u64)] = &[("GiB", GIB), ("MiB", MIB), ("KiB", KIB), ("B", 1)];

/// Why a string is not a byte size.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    /// Not `<digits>[unit]`.
    #[error(
        "\"{input}\" is not a byte size: write a number of bytes or e.g. \"512KiB\", \"10MiB\" (units: B, KiB, MiB, GiB)"
    )]
    Malformed {
        /// The whole input.
        input: String,
    },
    /// A unit other than `B`, `KiB`, `MiB`, `GiB`.
    #[error("unknown unit \"{unit}\" in \"{input}\" (units: B, KiB, MiB, GiB; 1KiB = 1024 bytes)")]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unrecognised unit.
        unit: String,
    },
    /// The value does not fit in a `u64`.
    #[error("byte size \"{input}\" is too large")]
    TooLarge {
        /// The whole input.
        input: String,
    },
}

/// Parse `1048576`, `1024B`, `512KiB`, `10MiB` or `1GiB` into a number of bytes.
pub fn parse(input: &str) -> Result<u64, ByteSizeError> {
    let digits_end = input
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_digit())
        .map_or(input.len(), |(i, _)| i);
    let (digits, unit) = input.split_at(digits_end);
    if digits.is_empty() || !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ByteSizeError::Malformed {
            input: input.to_owned(),
        });
    }
    let too_large = || ByteSizeError::TooLarge {
        input: input.to_owned(),
    };
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, m)| m)
            .ok_or_else(|| ByteSizeError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            })?
    };
    number.checked_mul(multiplier).ok_or_else(too_large)
}

/// Format with the largest binary unit that divides the value exactly (`10MiB`, `1536KiB`), or as
/// plain bytes (`1000B`). [`parse`] reads the result back exactly.
pub fn format(bytes: u64) -> String {
    for &(unit, size) in UNITS {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// Serialize a byte count as a size string such as `10MiB`.
pub fn serialize<S: Serializer>(bytes: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*bytes))
}

/// Deserialize a byte count from a non-negative integer or a size string such as `10MiB`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(ByteSizeVisitor)
}

struct ByteSizeVisitor;

impl Visitor<'_> for ByteSizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number of bytes or a size string such as \"10MiB\"")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format_args!("byte size {value} must not be negative")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        Err(E::custom(format_args!(
            "byte size {value} must be a whole number of bytes or a size string such as \"10MiB\""
        )))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
        parse(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_binary_units() {
        assert_eq!(parse("1048576"), Ok(1_048_576));
        assert_eq!(parse("100B"), Ok(100));
        assert_eq!(parse("512KiB"), Ok(512 * 1024));
        assert_eq!(parse("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse("1GiB"), Ok(1 << 30));
    }

    #[test]
    fn rejects_decimal_and_unknown_units() {
        assert_eq!(
            parse("10MB").unwrap_err().to_string(),
            "unknown unit \"MB\" in \"10MB\" (units: B, KiB, MiB, GiB; 1KiB = 1024 bytes)"
        );
        assert!(matches!(
            parse("1kib"),
            Err(ByteSizeError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn rejects_malformed_and_overflowing_input() {
        for input in ["", "MiB", "10 MiB", "1.5MiB", "-1", "10MiB "] {
            assert!(
                matches!(parse(input), Err(ByteSizeError::Malformed { .. })),
                "{input:?}"
            );
        }
        assert!(matches!(
            parse("18446744073709551616"),
            Err(ByteSizeError::TooLarge { .. })
        ));
        assert!(matches!(
            parse("17179869184GiB"),
            Err(ByteSizeError::TooLarge { .. })
        ));
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format(0), "0B");
        assert_eq!(format(1000), "1000B");
        assert_eq!(format(1536 * 1024), "1536KiB");
        assert_eq!(format(10 * 1024 * 1024), "10MiB");
        assert_eq!(format(1 << 30), "1GiB");
        for bytes in [0, 1, 1000, 1024, 1536 * 1024, 10 << 20, u64::MAX] {
            assert_eq!(parse(&format(bytes)), Ok(bytes));
        }
    }
}
