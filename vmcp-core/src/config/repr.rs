//! The on-disk shapes of [`FailureHandling`] and [`CircuitBreakerConfig`].
//!
//! Why separate types: the public structs are built by hand all over the code base, so they hold
//! exactly the settings the core uses. The file shape adds what only the file needs: camelCase
//! aliases, duration and size syntax, unknown-key rejection, and ToolHive's `partialFailureMode`,
//! which is accepted for paste compatibility but has no field of its own. Conversion into the
//! public types validates, so every deserialized config is runnable.
//!
//! The validation runs inside the map visitor (see [`ValidatingVisitor`]) rather than through
//! `#[serde(try_from)]`, because only there does the parser still know where the block is: a YAML
//! error then reads `operational.failure_handling: health_check_timeout (30s) must be ...` with
//! the block's line and column, and a TOML error points at the table.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{CircuitBreakerConfig, ConfigError, FailureHandling, PoolPolicy, byte_size, duration};

/// File shape of [`CircuitBreakerConfig`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerRepr {
    enabled: bool,
    #[serde(alias = "failureThreshold")]
    failure_threshold: u32,
    #[serde(with = "duration")]
    timeout: Duration,
    #[serde(alias = "halfOpenMaxProbes")]
    half_open_max_probes: u32,
    #[serde(alias = "timeoutMultiplier")]
    timeout_multiplier: f64,
    #[serde(
        alias = "maxTimeout",
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    max_timeout: Option<Duration>,
    #[serde(alias = "timeoutJitter")]
    timeout_jitter: f64,
}

impl Default for CircuitBreakerRepr {
    fn default() -> Self {
        CircuitBreakerConfig::default().into()
    }
}

impl From<CircuitBreakerConfig> for CircuitBreakerRepr {
    fn from(c: CircuitBreakerConfig) -> Self {
        Self {
            enabled: c.enabled,
            failure_threshold: c.failure_threshold,
            timeout: c.timeout,
            half_open_max_probes: c.half_open_max_probes,
            timeout_multiplier: c.timeout_multiplier,
            max_timeout: c.max_timeout,
            timeout_jitter: c.timeout_jitter,
        }
    }
}

impl TryFrom<CircuitBreakerRepr> for CircuitBreakerConfig {
    type Error = ConfigError;

    fn try_from(r: CircuitBreakerRepr) -> Result<Self, ConfigError> {
        let config = Self {
            enabled: r.enabled,
            failure_threshold: r.failure_threshold,
            timeout: r.timeout,
            half_open_max_probes: r.half_open_max_probes,
            timeout_multiplier: r.timeout_multiplier,
            max_timeout: r.max_timeout,
            timeout_jitter: r.timeout_jitter,
        };
        config.validate()?;
        Ok(config)
    }
}

/// ToolHive's `partialFailureMode`: how a client request is answered when some backends are down.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum PartialFailureMode {
    /// Fail the whole request.
    Fail,
    /// Answer from the backends that are up.
    BestEffort,
}

/// File shape of [`FailureHandling`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureHandlingRepr {
    #[serde(alias = "healthCheckInterval", with = "duration")]
    health_check_interval: Duration,
    #[serde(alias = "healthCheckTimeout", with = "duration")]
    health_check_timeout: Duration,
    #[serde(alias = "unhealthyThreshold")]
    unhealthy_threshold: u32,
    #[serde(alias = "healthyThreshold")]
    healthy_threshold: u32,
    #[serde(alias = "degradedThreshold", with = "duration")]
    degraded_threshold: Duration,
    #[serde(alias = "statusReportingInterval", with = "duration")]
    status_reporting_interval: Duration,
    #[serde(alias = "registryPollInterval", with = "duration")]
    registry_poll_interval: Duration,
    #[serde(alias = "initialJitter", with = "duration")]
    initial_jitter: Duration,
    pool: PoolPolicy,
    #[serde(alias = "connectTimeout", with = "duration")]
    connect_timeout: Duration,
    #[serde(alias = "maxBodyBytes", with = "byte_size")]
    max_body_bytes: u64,
    #[serde(alias = "circuitBreaker")]
    circuit_breaker: CircuitBreakerConfig,
    /// Accepted and validated for ToolHive paste compatibility; never written back.
    #[serde(alias = "partialFailureMode", skip_serializing)]
    partial_failure_mode: Option<PartialFailureMode>,
}

impl Default for FailureHandlingRepr {
    fn default() -> Self {
        FailureHandling::default().into()
    }
}

impl From<FailureHandling> for FailureHandlingRepr {
    fn from(f: FailureHandling) -> Self {
        Self {
            health_check_interval: f.health_check_interval,
            health_check_timeout: f.health_check_timeout,
            unhealthy_threshold: f.unhealthy_threshold,
            healthy_threshold: f.healthy_threshold,
            degraded_threshold: f.degraded_threshold,
            status_reporting_interval: f.status_reporting_interval,
            registry_poll_interval: f.registry_poll_interval,
            initial_jitter: f.initial_jitter,
            pool: f.pool,
            connect_timeout: f.connect_timeout,
            max_body_bytes: f.max_body_bytes,
            circuit_breaker: f.circuit_breaker,
            partial_failure_mode: None,
        }
    }
}

impl TryFrom<FailureHandlingRepr> for FailureHandling {
    type Error = ConfigError;

    fn try_from(r: FailureHandlingRepr) -> Result<Self, ConfigError> {
        if let Some(mode) = r.partial_failure_mode {
            tracing::warn!(
                partial_failure_mode = ?mode,
                "partial_failure_mode is accepted for ToolHive compatibility but has no effect: \
                 vmcp-core monitors backends and does not route client requests"
            );
        }
        let config = Self {
            health_check_interval: r.health_check_interval,
            health_check_timeout: r.health_check_timeout,
            unhealthy_threshold: r.unhealthy_threshold,
            healthy_threshold: r.healthy_threshold,
            degraded_threshold: r.degraded_threshold,
            status_reporting_interval: r.status_reporting_interval,
            registry_poll_interval: r.registry_poll_interval,
            initial_jitter: r.initial_jitter,
            pool: r.pool,
            connect_timeout: r.connect_timeout,
            max_body_bytes: r.max_body_bytes,
            circuit_breaker: r.circuit_breaker,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Deserializes the file shape `R` from a map (or an empty value, meaning all defaults) and
/// converts it into the validated type `T` while the parser is still positioned in the block.
struct ValidatingVisitor<R, T> {
    expecting: &'static str,
    marker: PhantomData<fn() -> (R, T)>,
}

impl<'de, R, T> Visitor<'de> for ValidatingVisitor<R, T>
where
    R: Deserialize<'de> + Default,
    T: TryFrom<R, Error = ConfigError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let repr = R::deserialize(MapAccessDeserializer::new(map))?;
        T::try_from(repr).map_err(de::Error::custom)
    }

    /// `circuit_breaker:` with nothing after it (YAML null): every key takes its default.
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::try_from(R::default()).map_err(E::custom)
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        self.visit_unit()
    }
}

fn deserialize_validated<'de, D, R, T>(
    deserializer: D,
    expecting: &'static str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    R: Deserialize<'de> + Default,
    T: TryFrom<R, Error = ConfigError>,
{
    deserializer.deserialize_map(ValidatingVisitor::<R, T> {
        expecting,
        marker: PhantomData,
    })
}

/// Accepts the snake_case keys and their camelCase aliases, rejects unknown keys, validates.
impl<'de> Deserialize<'de> for CircuitBreakerConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_validated::<D, CircuitBreakerRepr, Self>(
            deserializer,
            "a circuit_breaker table",
        )
    }
}

/// Accepts the snake_case keys and their camelCase aliases, rejects unknown keys, validates.
impl<'de> Deserialize<'de> for FailureHandling {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_validated::<D, FailureHandlingRepr, Self>(
            deserializer,
            "a failure_handling table",
        )
    }
}
