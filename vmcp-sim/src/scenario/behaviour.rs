//! [`Behaviour`]: how a simulated backend pod answers.
//!
//! In a scenario file a behaviour is either a name (`"healthy"`, `"hang"`, ...) or an inline table
//! for the parameterised ones (`{ status = 503, only_initialize = true }`, `{ slow = "6s" }`,
//! `{ starting_for = "20s" }`). The enum is what the simulated world switches on, so every
//! variant is one concrete, checkable way a pod can (mis)behave and nothing is left as a string.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use vmcp_core::config::duration::{self, HumanDuration};

/// How a simulated pod answers requests (DESIGN §4.1, "Simulated pods").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// A working MCP Streamable-HTTP server answering with JSON bodies.
    #[default]
    Healthy,
    /// A working server that answers with SSE streams (`text/event-stream`).
    Sse,
    /// Accepts connections and requests, never answers (probes hit their deadline).
    Hang,
    /// Accepts a connection, then closes it without answering (EOF before a response).
    Close,
    /// Not listening: connections are refused, as for a container that has not bound its port.
    Refuse,
    /// A legacy HTTP+SSE (pre-Streamable) server: `POST` of `initialize` is answered with a 4xx.
    LegacySse,
    /// Forgets sessions: requests carrying a session id get `404` (session terminated).
    ForgetSessions,
    /// Answers every request (or only `initialize`) with this HTTP error status.
    Status {
        /// The HTTP status, 400..=599.
        code: u16,
        /// Only the `initialize` request gets the status; the rest of the session works.
        only_initialize: bool,
    },
    /// Healthy, but each response is delayed by this long.
    Slow(Duration),
    /// Refuses connections until this long after the pod started, then healthy (a pod still
    /// starting behind a service that already routes to it).
    StartingFor(Duration),
}

/// The behaviours written as a plain name, in documentation order.
const NAMED: &[(&str, Behaviour)] = &[
    ("healthy", Behaviour::Healthy),
    ("sse", Behaviour::Sse),
    ("hang", Behaviour::Hang),
    ("close", Behaviour::Close),
    ("refuse", Behaviour::Refuse),
    ("legacy_sse", Behaviour::LegacySse),
    ("forget_sessions", Behaviour::ForgetSessions),
];

/// What a behaviour value may look like, for error messages.
const EXPECTED: &str = "a behaviour: \"healthy\", \"sse\", \"hang\", \"close\", \"refuse\", \
     \"legacy_sse\", \"forget_sessions\", { status = 503 }, { status = 401, only_initialize = true }, \
     { slow = \"6s\" } or { starting_for = \"20s\" }";

impl Behaviour {
    /// The behaviour written as `name`, if it is one of the plain names.
    pub fn from_name(name: &str) -> Option<Self> {
        NAMED
            .iter()
            .find(|(candidate, _)| *candidate == name)
            .map(|(_, behaviour)| *behaviour)
    }
}

/// Writes the behaviour as it would appear in a scenario file, so traces and failure messages
/// can be pasted back into one.
impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Status {
                code,
                only_initialize: false,
            } => write!(f, "{{ status = {code} }}"),
            Behaviour::Status {
                code,
                only_initialize: true,
            } => write!(f, "{{ status = {code}, only_initialize = true }}"),
            Behaviour::Slow(delay) => write!(f, "{{ slow = \"{}\" }}", duration::format(*delay)),
            Behaviour::StartingFor(delay) => {
                write!(f, "{{ starting_for = \"{}\" }}", duration::format(*delay))
            }
            named => {
                let name = NAMED
                    .iter()
                    .find(|(_, behaviour)| behaviour == named)
                    .map_or("?", |(name, _)| *name);
                write!(f, "\"{name}\"")
            }
        }
    }
}

/// Accepts a plain name or one of the inline tables; anything else is an error that lists the
/// valid forms.
impl<'de> Deserialize<'de> for Behaviour {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BehaviourVisitor)
    }
}

/// The keys of the table form. Deserialized as identifiers so an unknown key is reported at the
/// key itself, with the list of valid ones.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Status,
    OnlyInitialize,
    Slow,
    StartingFor,
}

/// An HTTP status a failing pod may answer with. Validated while deserializing so the error
/// points at the number.
struct ErrorStatus(u16);

impl<'de> Deserialize<'de> for ErrorStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = u16::deserialize(deserializer)?;
        if (400..=599).contains(&code) {
            Ok(Self(code))
        } else {
            Err(de::Error::custom(format_args!(
                "status {code} is not an HTTP error status: use 400..=599 (e.g. 401, 403, 404, 503); \
                 a working pod is \"healthy\""
            )))
        }
    }
}

struct BehaviourVisitor;

impl<'de> Visitor<'de> for BehaviourVisitor {
    type Value = Behaviour;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Behaviour, E> {
        Behaviour::from_name(name).ok_or_else(|| {
            E::custom(format_args!(
                "unknown behaviour \"{name}\": expected {EXPECTED}"
            ))
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Behaviour, A::Error> {
        let mut status: Option<u16> = None;
        let mut only_initialize: Option<bool> = None;
        let mut slow: Option<Duration> = None;
        let mut starting_for: Option<Duration> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Status => status = Some(map.next_value::<ErrorStatus>()?.0),
                Field::OnlyInitialize => only_initialize = Some(map.next_value()?),
                Field::Slow => slow = Some(map.next_value::<HumanDuration>()?.0),
                Field::StartingFor => starting_for = Some(map.next_value::<HumanDuration>()?.0),
            }
        }
        let given = [status.is_some(), slow.is_some(), starting_for.is_some()]
            .iter()
            .filter(|given| **given)
            .count();
        if given != 1 {
            return Err(de::Error::custom(
                "a behaviour table needs exactly one of `status`, `slow` or `starting_for`",
            ));
        }
        if only_initialize.is_some() && status.is_none() {
            return Err(de::Error::custom(
                "`only_initialize` is only used together with `status`",
            ));
        }
        let positive = |key: &str, delay: Duration| {
            if delay.is_zero() {
                Err(de::Error::custom(format_args!(
                    "{key} ({}) must be greater than 0",
                    duration::format(delay)
                )))
            } else {
                Ok(delay)
            }
        };
        match (status, slow, starting_for) {
            (Some(code), _, _) => Ok(Behaviour::Status {
                code,
                only_initialize: only_initialize.unwrap_or(false),
            }),
            (_, Some(delay), _) => Ok(Behaviour::Slow(positive("slow", delay)?)),
            (_, _, Some(delay)) => Ok(Behaviour::StartingFor(positive("starting_for", delay)?)),
            (None, None, None) => Err(de::Error::custom(EXPECTED)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        b: Behaviour,
    }

    fn parse(value: &str) -> Result<Behaviour, String> {
        toml::from_str::<Holder>(&format!("b = {value}"))
            .map(|h| h.b)
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn every_form_parses_and_displays_back() {
        let cases = [
            ("\"healthy\"", Behaviour::Healthy),
            ("\"sse\"", Behaviour::Sse),
            ("\"hang\"", Behaviour::Hang),
            ("\"close\"", Behaviour::Close),
            ("\"refuse\"", Behaviour::Refuse),
            ("\"legacy_sse\"", Behaviour::LegacySse),
            ("\"forget_sessions\"", Behaviour::ForgetSessions),
            (
                "{ status = 401 }",
                Behaviour::Status {
                    code: 401,
                    only_initialize: false,
                },
            ),
            (
                "{ status = 503, only_initialize = true }",
                Behaviour::Status {
                    code: 503,
                    only_initialize: true,
                },
            ),
            ("{ slow = \"6s\" }", Behaviour::Slow(Duration::from_secs(6))),
            (
                "{ starting_for = \"20s\" }",
                Behaviour::StartingFor(Duration::from_secs(20)),
            ),
        ];
        for (text, behaviour) in cases {
            assert_eq!(parse(text), Ok(behaviour), "{text}");
            assert_eq!(behaviour.to_string(), text);
        }
    }

    #[test]
    fn bad_forms_are_refused_with_the_valid_ones_listed() {
        let err = parse("\"sleepy\"").unwrap_err();
        assert!(
            err.starts_with("unknown behaviour \"sleepy\": expected a behaviour: \"healthy\""),
            "{err}"
        );
        assert!(
            parse("{ status = 200 }")
                .unwrap_err()
                .starts_with("status 200 is not an HTTP error status")
        );
        assert!(parse("{ status = 70000 }").is_err());
        assert_eq!(
            parse("{ status = 503, slow = \"1s\" }").unwrap_err(),
            "a behaviour table needs exactly one of `status`, `slow` or `starting_for`"
        );
        assert_eq!(
            parse("{}").unwrap_err(),
            "a behaviour table needs exactly one of `status`, `slow` or `starting_for`"
        );
        assert_eq!(
            parse("{ slow = \"1s\", only_initialize = true }").unwrap_err(),
            "`only_initialize` is only used together with `status`"
        );
        assert_eq!(
            parse("{ slow = \"0s\" }").unwrap_err(),
            "slow (0s) must be greater than 0"
        );
        assert!(
            parse("{ slow = 5 }")
                .unwrap_err()
                .starts_with("bare number 5 is not a duration")
        );
        assert!(
            parse("{ fast = \"1s\" }")
                .unwrap_err()
                .starts_with("unknown field `fast`")
        );
        assert!(parse("7").unwrap_err().contains("expected a behaviour"));
    }
}
