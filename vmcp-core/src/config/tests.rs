//! Tests of the config types as a user meets them: YAML and TOML text in, values or messages out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::registry::OutgoingAuth;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn yaml_fh(body: &str) -> Result<FailureHandling, ConfigError> {
    let text = format!("operational:\n  failure_handling:\n{body}");
    VmcpConfigFile::from_yaml_str(&text, "t.yaml").map(|f| f.operational.failure_handling)
}

fn yaml_err(text: &str) -> String {
    VmcpConfigFile::from_yaml_str(text, "t.yaml")
        .unwrap_err()
        .to_string()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_with(text: &str, secrets: &BTreeMap<String, String>) -> Result<VmcpConfig, ConfigError> {
    VmcpConfig::from_yaml_str_with(text, "t.yaml", secrets)
}

/// A directory under the system temp dir, removed on drop; unique per test and process.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vmcp-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults

#[test]
fn defaults_match_the_design() {
    let d = FailureHandling::default();
    assert_eq!(d.health_check_interval, secs(30));
    assert_eq!(d.health_check_timeout, secs(10));
    assert_eq!(d.unhealthy_threshold, 3);
    assert_eq!(d.healthy_threshold, 2);
    assert_eq!(d.degraded_threshold, secs(5));
    assert_eq!(d.status_reporting_interval, secs(30));
    assert_eq!(d.registry_poll_interval, secs(2));
    assert_eq!(d.initial_jitter, Duration::ZERO);
    assert_eq!(d.pool, PoolPolicy::PerBackend);
    assert_eq!(d.connect_timeout, secs(5));
    assert_eq!(d.max_body_bytes, 10 * 1024 * 1024);
    let b = &d.circuit_breaker;
    assert!(!b.enabled);
    assert_eq!(b.failure_threshold, 5);
    assert_eq!(b.timeout, secs(60));
    assert_eq!(b.half_open_max_probes, 1);
    assert_eq!(b.timeout_multiplier, 1.0);
    assert_eq!(b.max_timeout, None);
    assert_eq!(b.timeout_jitter, 0.0);
    d.validate().unwrap();
    let enabled = CircuitBreakerConfig {
        enabled: true,
        ..CircuitBreakerConfig::default()
    };
    enabled.validate().unwrap();
}

#[test]
fn missing_keys_take_the_defaults() {
    assert_eq!(yaml_fh("").unwrap(), FailureHandling::default());
    assert_eq!(yaml_fh("    {}\n").unwrap(), FailureHandling::default());
    assert_eq!(
        yaml_fh("    circuit_breaker:\n").unwrap(),
        FailureHandling::default()
    );
    let only_one = yaml_fh("    unhealthy_threshold: 7\n").unwrap();
    assert_eq!(
        only_one,
        FailureHandling {
            unhealthy_threshold: 7,
            ..FailureHandling::default()
        }
    );
    let empty = VmcpConfigFile::from_yaml_str("", "t.yaml").unwrap();
    assert_eq!(empty, VmcpConfigFile::default());
    let toml_empty: FailureHandling = toml::from_str("").unwrap();
    assert_eq!(toml_empty, FailureHandling::default());
}

// ---------------------------------------------------------------------------------------------
// Durations and sizes inside the config

#[test]
fn every_duration_format_loads() {
    for (text, expected) in [
        ("500ms", Duration::from_millis(500)),
        ("30s", secs(30)),
        ("1m30s", secs(90)),
        ("2m", secs(120)),
        ("1h", secs(3600)),
        ("1.5s", Duration::from_millis(1500)),
    ] {
        let fh = yaml_fh(&format!(
            "    initial_jitter: {text}\n    health_check_interval: 2h\n"
        ))
        .unwrap();
        assert_eq!(fh.initial_jitter, expected, "{text}");
    }
}

#[test]
fn bad_durations_are_refused_with_key_location_and_hint() {
    assert_eq!(
        yaml_fh("    health_check_interval: 30\n")
            .unwrap_err()
            .to_string(),
        "t.yaml:3:28: operational.failure_handling.health_check_interval: bare number 30 is not a \
         duration: add a unit, e.g. \"30s\" or \"30ms\" (units: h, m, s, ms, us, ns)"
    );
    assert_eq!(
        yaml_fh("    health_check_interval: \"30\"\n")
            .unwrap_err()
            .to_string(),
        "t.yaml:3:28: operational.failure_handling.health_check_interval: \"30\" has a number \
         without a unit: write e.g. \"30s\", \"500ms\" or \"1m30s\" (units: h, m, s, ms, us, ns)"
    );
    assert_eq!(
        yaml_fh("    degraded_threshold: 2.5\n")
            .unwrap_err()
            .to_string(),
        "t.yaml:3:25: operational.failure_handling.degraded_threshold: bare number 2.5 is not a \
         duration: add a unit, e.g. \"2.5s\" or \"2.5ms\" (units: h, m, s, ms, us, ns)"
    );
    for (text, needle) in [
        ("30sec", "unknown unit \"sec\" in \"30sec\""),
        ("1d", "unknown unit \"d\" in \"1d\""),
        ("-5s", "negative duration \"-5s\" is not allowed"),
        (
            "30s1m",
            "units in \"30s1m\" must go from largest to smallest",
        ),
        ("\"1m 30s\"", "\"1m 30s\" is not a duration"),
        ("\"\"", "empty duration"),
        (
            "true",
            "invalid type: boolean `true`, expected a duration string",
        ),
    ] {
        let err = yaml_fh(&format!("    connect_timeout: {text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yaml:3:22: operational.failure_handling.connect_timeout: "),
            "{err}"
        );
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn max_timeout_is_optional() {
    let fh = yaml_fh("    circuit_breaker:\n      max_timeout: 5m\n").unwrap();
    assert_eq!(fh.circuit_breaker.max_timeout, Some(secs(300)));
    let fh = yaml_fh("    circuit_breaker:\n      max_timeout: null\n").unwrap();
    assert_eq!(fh.circuit_breaker.max_timeout, None);
    let fh: FailureHandling = toml::from_str("[circuit_breaker]\nmax_timeout = \"90s\"\n").unwrap();
    assert_eq!(fh.circuit_breaker.max_timeout, Some(secs(90)));
}

#[test]
fn max_body_bytes_accepts_integers_and_binary_sizes() {
    assert_eq!(
        yaml_fh("    max_body_bytes: 65536\n")
            .unwrap()
            .max_body_bytes,
        65536
    );
    assert_eq!(
        yaml_fh("    max_body_bytes: 512KiB\n")
            .unwrap()
            .max_body_bytes,
        512 * 1024
    );
    let toml_fh: FailureHandling = toml::from_str("max_body_bytes = \"2MiB\"\n").unwrap();
    assert_eq!(toml_fh.max_body_bytes, 2 << 20);
    let err = yaml_fh("    max_body_bytes: 10MB\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "t.yaml:3:21: operational.failure_handling.max_body_bytes: unknown unit \"MB\" in \
         \"10MB\" (units: B, KiB, MiB, GiB; 1KiB = 1024 bytes)"
    );
    let err = yaml_fh("    max_body_bytes: -1\n").unwrap_err().to_string();
    assert!(err.ends_with("byte size -1 must not be negative"), "{err}");
}

#[test]
fn pool_policy_names() {
    for (text, policy) in [
        ("per_backend", PoolPolicy::PerBackend),
        ("perBackend", PoolPolicy::PerBackend),
        ("per_probe", PoolPolicy::PerProbe),
        ("perProbe", PoolPolicy::PerProbe),
        ("shared", PoolPolicy::Shared),
    ] {
        assert_eq!(
            yaml_fh(&format!("    pool: {text}\n")).unwrap().pool,
            policy
        );
    }
    let err = yaml_fh("    pool: pooled\n").unwrap_err().to_string();
    assert!(
        err.starts_with("t.yaml:3:11: operational.failure_handling.pool: unknown variant `pooled`"),
        "{err}"
    );
    assert_eq!(
        serde_yaml_ng::to_string(&PoolPolicy::PerProbe).unwrap(),
        "per_probe\n"
    );
}

// ---------------------------------------------------------------------------------------------
// ToolHive compatibility and unknown keys

/// A block in the shape of ToolHive's `operational.failureHandling` (key names from
/// stacklok/toolhive `pkg/vmcp/config`), plus our own keys in camelCase.
const TOOLHIVE_BLOCK: &str = "\
backends:
  - name: github
    url: http://127.0.0.1:8081/mcp
operational:
  failureHandling:
    healthCheckInterval: 15s
    healthCheckTimeout: 5s
    unhealthyThreshold: 5
    statusReportingInterval: 10s
    partialFailureMode: best_effort
    circuitBreaker:
      enabled: true
      failureThreshold: 3
      timeout: 2m
    healthyThreshold: 4
    degradedThreshold: 2s
    registryPollInterval: 500ms
    initialJitter: 1s
    pool: perProbe
    connectTimeout: 3s
    maxBodyBytes: 1MiB
";

#[test]
fn a_toolhive_camel_case_block_pastes_in() {
    let config = load_with(TOOLHIVE_BLOCK, &env(&[])).unwrap();
    assert_eq!(
        config.failure_handling,
        FailureHandling {
            health_check_interval: secs(15),
            health_check_timeout: secs(5),
            unhealthy_threshold: 5,
            healthy_threshold: 4,
            degraded_threshold: secs(2),
            status_reporting_interval: secs(10),
            registry_poll_interval: Duration::from_millis(500),
            initial_jitter: secs(1),
            pool: PoolPolicy::PerProbe,
            connect_timeout: secs(3),
            max_body_bytes: 1 << 20,
            circuit_breaker: CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 3,
                timeout: secs(120),
                ..CircuitBreakerConfig::default()
            },
        }
    );
}

/// A `failureHandling` block as ToolHive documents it: no `connectTimeout`, a sub-second probe
/// timeout. It must load as is (DESIGN §3.5), with the unwritten keys derived from the written.
const TOOLHIVE_SUBSECOND_BLOCK: &str = "\
operational:
  failureHandling:
    healthCheckInterval: 5s
    healthCheckTimeout: 500ms
    unhealthyThreshold: 3
    partialFailureMode: fail
    circuitBreaker:
      enabled: true
      failureThreshold: 5
      timeout: 60s
";

#[test]
fn a_pasted_toolhive_block_with_a_subsecond_timeout_loads_with_derived_defaults() {
    let fh = load_with(TOOLHIVE_SUBSECOND_BLOCK, &env(&[]))
        .unwrap()
        .failure_handling;
    assert_eq!(fh.health_check_timeout, Duration::from_millis(500));
    assert_eq!(fh.connect_timeout, Duration::from_millis(500));
    assert_eq!(fh.health_check_interval, secs(5));
}

#[test]
fn unwritten_timing_keys_are_derived_from_the_written_ones() {
    let d = FailureHandling::derive_defaults;
    let ms = Duration::from_millis;
    // Nothing written: the DESIGN defaults.
    assert_eq!(d(None, None, None), (secs(30), secs(10), secs(5)));
    // A short interval alone: the timeout stays below it, the connect timeout within it.
    assert_eq!(d(Some(secs(4)), None, None), (secs(4), secs(2), secs(2)));
    assert_eq!(d(Some(secs(60)), None, None), (secs(60), secs(10), secs(5)));
    // A long timeout alone: the interval grows past it.
    assert_eq!(d(None, Some(secs(45)), None), (secs(90), secs(45), secs(5)));
    assert_eq!(d(None, Some(ms(500)), None), (secs(30), ms(500), ms(500)));
    // Written values are kept as written, even when validation will refuse them.
    assert_eq!(
        d(Some(secs(1)), Some(secs(2)), Some(secs(3))),
        (secs(1), secs(2), secs(3))
    );
    // Through the parser: each of these loads although only one key of a coupled pair is set.
    for body in [
        "    health_check_timeout: 45s\n",
        "    health_check_timeout: 20ms\n",
        "    health_check_interval: 200ms\n",
        "    healthCheckInterval: 1s\n",
    ] {
        let fh = yaml_fh(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(fh.health_check_timeout < fh.health_check_interval, "{body}");
        assert!(fh.connect_timeout <= fh.health_check_timeout, "{body}");
    }
    // A written connect_timeout above the (derived) probe timeout is the user's value: refused.
    let err = yaml_fh("    health_check_interval: 4s\n    connect_timeout: 3s\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("connect_timeout (3s) must not exceed health_check_timeout (2s)"),
        "{err}"
    );
}

#[test]
fn camel_case_aliases_cover_breaker_extensions() {
    let fh = yaml_fh(
        "    circuitBreaker:\n      enabled: true\n      halfOpenMaxProbes: 2\n      \
         timeoutMultiplier: 2.0\n      maxTimeout: 10m\n      timeoutJitter: 0.25\n",
    )
    .unwrap();
    let b = fh.circuit_breaker;
    assert_eq!(b.half_open_max_probes, 2);
    assert_eq!(b.timeout_multiplier, 2.0);
    assert_eq!(b.max_timeout, Some(secs(600)));
    assert_eq!(b.timeout_jitter, 0.25);
}

#[test]
fn partial_failure_mode_is_validated_not_kept() {
    for mode in ["fail", "best_effort"] {
        let fh = yaml_fh(&format!("    partialFailureMode: {mode}\n")).unwrap();
        assert_eq!(fh, FailureHandling::default());
        assert!(!serde_yaml_ng::to_string(&fh).unwrap().contains("partial"));
    }
    let err = yaml_fh("    partial_failure_mode: sometimes\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "t.yaml:3:27: operational.failure_handling.partial_failure_mode: unknown variant \
         `sometimes`, expected `fail` or `best_effort`"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    for (text, prefix) in [
        (
            "backends: []\nbogus: 1\n",
            "t.yaml:2:1: unknown field `bogus`",
        ),
        (
            "operational:\n  timeouts: {}\n",
            "t.yaml:2:3: operational: unknown field `timeouts`",
        ),
        (
            "operational:\n  failure_handling:\n    healthCheckIntervall: 30s\n",
            "t.yaml:3:5: operational.failure_handling: unknown field `healthCheckIntervall`",
        ),
        (
            "operational:\n  failure_handling:\n    circuit_breaker:\n      reset_timeout: 30s\n",
            "t.yaml:4:7: operational.failure_handling.circuit_breaker: unknown field \
             `reset_timeout`",
        ),
        (
            "backends:\n  - name: a\n    url: http://h/\n    transport: sse\n",
            "t.yaml:4:5: backends[0]: unknown field `transport`",
        ),
        (
            "backends:\n  - {name: a, url: http://h/, auth: {type: bearer, token: x}}\n",
            "t.yaml:2:5: backends[0]: unknown field `token`",
        ),
        (
            "status:\n  port: 8080\n",
            "t.yaml:2:3: status: unknown field `port`",
        ),
    ] {
        let err = yaml_err(text);
        assert!(err.starts_with(prefix), "{text:?}\n  got: {err}");
    }
    let toml_err = toml::from_str::<FailureHandling>("bogus = 1\n")
        .unwrap_err()
        .to_string();
    assert!(toml_err.contains("unknown field `bogus`"), "{toml_err}");
}

#[test]
fn a_key_given_twice_is_an_error() {
    let err = yaml_fh("    health_check_interval: 30s\n    healthCheckInterval: 20s\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("operational.failure_handling: duplicate field `health_check_interval`"),
        "{err}"
    );
}

#[test]
fn yaml_syntax_errors_carry_line_and_column() {
    let err = VmcpConfigFile::from_yaml_str("backends: [\n", "vmcp.yaml").unwrap_err();
    match &err {
        ConfigError::Parse {
            source_name,
            line,
            column,
            ..
        } => {
            assert_eq!((source_name.as_str(), *line, *column), ("vmcp.yaml", 2, 1));
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    assert!(err.to_string().starts_with("vmcp.yaml:2:1: "), "{err}");
    assert!(!err.to_string().contains(" at line "), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Validation rules, each with its exact message

fn fh_err(change: impl FnOnce(&mut FailureHandling)) -> String {
    let mut fh = FailureHandling::default();
    change(&mut fh);
    fh.validate().unwrap_err().to_string()
}

fn breaker_err(change: impl FnOnce(&mut CircuitBreakerConfig)) -> String {
    fh_err(|fh| {
        fh.circuit_breaker.enabled = true;
        change(&mut fh.circuit_breaker);
    })
}

#[test]
fn failure_handling_rules_have_exact_messages() {
    let z = Duration::ZERO;
    let cases: Vec<(String, &str)> = vec![
        (
            fh_err(|f| f.health_check_interval = z),
            "health_check_interval (0s) must be at least 100ms",
        ),
        (
            fh_err(|f| f.health_check_timeout = z),
            "health_check_timeout (0s) must be at least 10ms",
        ),
        (
            fh_err(|f| f.health_check_timeout = secs(30)),
            "health_check_timeout (30s) must be less than health_check_interval (30s)",
        ),
        (
            fh_err(|f| f.health_check_timeout = secs(90)),
            "health_check_timeout (1m30s) must be less than health_check_interval (30s)",
        ),
        (
            fh_err(|f| f.unhealthy_threshold = 0),
            "unhealthy_threshold (0) must be at least 1",
        ),
        (
            fh_err(|f| f.healthy_threshold = 0),
            "healthy_threshold (0) must be at least 1",
        ),
        (
            fh_err(|f| f.degraded_threshold = z),
            "degraded_threshold (0s) must be at least 1ms",
        ),
        (
            fh_err(|f| f.status_reporting_interval = z),
            "status_reporting_interval (0s) must be at least 100ms",
        ),
        (
            fh_err(|f| f.registry_poll_interval = z),
            "registry_poll_interval (0s) must be at least 10ms",
        ),
        (
            fh_err(|f| f.connect_timeout = z),
            "connect_timeout (0s) must be at least 10ms",
        ),
        (
            fh_err(|f| f.status_reporting_interval = Duration::from_nanos(1)),
            "status_reporting_interval (1ns) must be at least 100ms",
        ),
        (
            fh_err(|f| f.health_check_interval = Duration::from_millis(99)),
            "health_check_interval (99ms) must be at least 100ms",
        ),
        (
            fh_err(|f| f.registry_poll_interval = Duration::from_millis(9)),
            "registry_poll_interval (9ms) must be at least 10ms",
        ),
        (
            fh_err(|f| f.degraded_threshold = Duration::from_micros(999)),
            "degraded_threshold (999us) must be at least 1ms",
        ),
        (
            fh_err(|f| f.connect_timeout = Duration::from_millis(10_500)),
            "connect_timeout (10s500ms) must not exceed health_check_timeout (10s)",
        ),
        (
            fh_err(|f| f.max_body_bytes = 1023),
            "max_body_bytes (1023) must be at least 1KiB (1024 bytes)",
        ),
        (
            fh_err(|f| f.max_body_bytes = 2 * 1024 * 1024 * 1024),
            "max_body_bytes (2GiB) must be at most 1GiB",
        ),
        (
            fh_err(|f| {
                f.health_check_interval = Duration::from_secs(8 * 24 * 3600);
            }),
            "health_check_interval (192h) must be at most 168h",
        ),
        (
            fh_err(|f| f.status_reporting_interval = Duration::from_secs(4_000_000_000_000_000)),
            "status_reporting_interval (1111111111111h6m40s) must be at most 168h",
        ),
        (
            fh_err(|f| f.initial_jitter = Duration::from_secs(8 * 24 * 3600)),
            "initial_jitter (192h) must be at most 168h",
        ),
        (
            fh_err(|f| {
                f.circuit_breaker.enabled = true;
                f.circuit_breaker.max_timeout = Some(Duration::from_secs(8 * 24 * 3600));
            }),
            "circuit_breaker.max_timeout (192h) must be at most 168h",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn boundary_values_are_accepted() {
    let fh = FailureHandling {
        health_check_interval: Duration::from_millis(100),
        health_check_timeout: Duration::from_millis(99),
        connect_timeout: Duration::from_millis(99),
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        degraded_threshold: Duration::from_millis(1),
        status_reporting_interval: Duration::from_millis(100),
        registry_poll_interval: Duration::from_millis(10),
        max_body_bytes: 1024,
        circuit_breaker: CircuitBreakerConfig {
            enabled: true,
            failure_threshold: 1,
            timeout: secs(1),
            half_open_max_probes: 1,
            timeout_multiplier: 1.0,
            max_timeout: Some(secs(1)),
            timeout_jitter: 0.999,
        },
        ..FailureHandling::default()
    };
    fh.validate().unwrap();
}

#[test]
fn breaker_rules_have_exact_messages_when_enabled() {
    let cases: Vec<(String, &str)> = vec![
        (
            breaker_err(|b| b.failure_threshold = 0),
            "circuit_breaker.failure_threshold (0) must be at least 1",
        ),
        (
            breaker_err(|b| b.timeout = Duration::from_millis(999)),
            "circuit_breaker.timeout (999ms) must be at least 1s",
        ),
        (
            breaker_err(|b| b.half_open_max_probes = 0),
            "circuit_breaker.half_open_max_probes (0) must be at least 1",
        ),
        (
            breaker_err(|b| b.timeout_multiplier = 0.5),
            "circuit_breaker.timeout_multiplier (0.5) must be a finite number of at least 1.0",
        ),
        (
            breaker_err(|b| b.timeout_multiplier = f64::INFINITY),
            "circuit_breaker.timeout_multiplier (inf) must be a finite number of at least 1.0",
        ),
        (
            breaker_err(|b| b.timeout_multiplier = f64::NAN),
            "circuit_breaker.timeout_multiplier (NaN) must be a finite number of at least 1.0",
        ),
        (
            breaker_err(|b| b.max_timeout = Some(secs(30))),
            "circuit_breaker.max_timeout (30s) must be at least timeout (1m)",
        ),
        (
            breaker_err(|b| b.timeout_jitter = 1.0),
            "circuit_breaker.timeout_jitter (1) must be in [0, 1)",
        ),
        (
            breaker_err(|b| b.timeout_jitter = -0.1),
            "circuit_breaker.timeout_jitter (-0.1) must be in [0, 1)",
        ),
        (
            breaker_err(|b| b.timeout_jitter = f64::NAN),
            "circuit_breaker.timeout_jitter (NaN) must be in [0, 1)",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
    // Standalone, keys are relative to the breaker block.
    let standalone = CircuitBreakerConfig {
        enabled: true,
        failure_threshold: 0,
        ..CircuitBreakerConfig::default()
    };
    assert_eq!(
        standalone.validate().unwrap_err().to_string(),
        "failure_threshold (0) must be at least 1"
    );
}

#[test]
fn a_disabled_breaker_is_not_validated() {
    let fh = FailureHandling {
        circuit_breaker: CircuitBreakerConfig {
            enabled: false,
            failure_threshold: 0,
            timeout: Duration::ZERO,
            half_open_max_probes: 0,
            timeout_multiplier: f64::NAN,
            max_timeout: Some(Duration::ZERO),
            timeout_jitter: 7.0,
        },
        ..FailureHandling::default()
    };
    fh.validate().unwrap();
}

#[test]
fn deserializing_validates_and_points_at_the_block() {
    let err = VmcpConfigFile::from_yaml_str(
        "operational:\n  failureHandling:\n    healthCheckInterval: 30s\n    healthCheckTimeout: 30s\n",
        "t.yaml",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.yaml:3:5: operational.failureHandling: health_check_timeout (30s) must be less than \
         health_check_interval (30s)"
    );
    assert_eq!(
        yaml_fh("    circuit_breaker:\n      enabled: true\n      timeout: 500ms\n")
            .unwrap_err()
            .to_string(),
        "t.yaml:4:7: operational.failure_handling.circuit_breaker: timeout (500ms) must be at \
         least 1s"
    );
    let toml_err = toml::from_str::<FailureHandling>(
        "health_check_interval = \"30s\"\nhealth_check_timeout = \"45s\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        toml_err
            .contains("health_check_timeout (45s) must be less than health_check_interval (30s)"),
        "{toml_err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Backends

#[test]
fn backend_name_rules() {
    let cases = [
        (
            "backends:\n  - {name: '', url: 'http://h/'}\n",
            "t.yaml: backends[0].name (\"\") must not be empty",
        ),
        (
            "backends:\n  - {name: ' api', url: 'http://h/'}\n",
            "t.yaml: backends[0].name (\" api\") must not have leading or trailing whitespace",
        ),
        (
            "backends:\n  - {name: a, url: 'http://h/'}\n  - {name: b, url: 'http://h/'}\n  \
             - {name: a, url: 'http://i/'}\n",
            "t.yaml: backends[2].name (\"a\") duplicates backends[0].name",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(load_with(text, &env(&[])).unwrap_err().to_string(), want);
    }
    let missing_url = yaml_err("backends:\n  - name: a\n");
    assert!(
        missing_url.contains("backends[0]: missing field `url`"),
        "{missing_url}"
    );
}

#[test]
fn backend_url_rules() {
    let scheme = if cfg!(feature = "tls") {
        "must start with http:// or https://"
    } else {
        "must start with http://"
    };
    let mut bad = vec![
        ("ftp://h/mcp", scheme),
        ("h:8080/mcp", scheme),
        (
            "http:///mcp",
            "is not a URL of the form http://host[:port]/path",
        ),
        (
            "http://a b/mcp",
            "is not a URL of the form http://host[:port]/path",
        ),
        (
            "http://h:99999/mcp",
            "has an invalid port (expected 1-65535)",
        ),
        ("http://h:0/mcp", "has an invalid port (expected 1-65535)"),
        ("http://h:/mcp", "has an invalid port (expected 1-65535)"),
        ("http://h/mcp#frag", "must not contain a fragment (#...)"),
        ("https://h/mcp#frag", "must not contain a fragment (#...)"),
        ("https://h:0/mcp", "has an invalid port (expected 1-65535)"),
    ];
    if !cfg!(feature = "tls") {
        bad.retain(|(url, _)| !url.starts_with("https:"));
        bad.push((
            "https://mcp.example.com/mcp?api_key=LEAK1",
            "uses https, but this vmcp was built without TLS support (cargo feature `tls` of \
             vmcp-core); rebuild with it, or terminate TLS in front of vmcp (e.g. in a sidecar)",
        ));
    }
    for (url, reason) in bad {
        let text = format!("backends:\n  - name: a\n    url: '{url}'\n");
        assert_eq!(
            load_with(&text, &env(&[])).unwrap_err().to_string(),
            format!(
                "t.yaml: backends[0].url ({:?}) {reason}",
                crate::redact::redact_url(url)
            ),
        );
    }
    // A bad URL's secrets never reach the message: the query values and fragment are gone.
    for url in [
        "https://h:1/mcp?api_key=LEAK1#LEAK2",
        "ftp://h/mcp?token=LEAK1",
        "http://h:99999/mcp?auth=LEAK1",
        "http://a b/mcp?jwt=LEAK1",
        "http:///mcp?session=LEAK1",
    ] {
        let text = format!("backends:\n  - name: a\n    url: '{url}'\n");
        let err = load_with(&text, &env(&[])).unwrap_err().to_string();
        assert!(!err.contains("LEAK"), "{err}");
        assert!(err.contains("backends[0].url"), "{err}");
    }
    let mut good = vec![
        "http://127.0.0.1:8080/mcp",
        "http://[::1]:8080/mcp",
        "http://github-mcp:8080",
        "http://h/mcp?tenant=a",
    ];
    if cfg!(feature = "tls") {
        good.extend([
            "https://mcp.example.com/mcp",
            "https://[::1]:8443/mcp?tenant=a",
        ]);
    }
    for url in good {
        let text = format!("backends:\n  - name: a\n    url: '{url}'\n");
        let config = load_with(&text, &env(&[])).unwrap();
        assert_eq!(config.backends[0].url, url);
    }
}

#[test]
fn credentials_in_a_url_are_refused_without_echoing_them() {
    let text = "backends:\n  - name: a\n    url: 'http://user:hunter2@h:8080/mcp'\n";
    let err = load_with(text, &env(&[])).unwrap_err().to_string();
    assert_eq!(
        err,
        "t.yaml: backends[0].url (<redacted>) must not contain credentials \
         (user:password@host); use the backend's auth block"
    );
    assert!(!err.contains("hunter2"));
}

// ---------------------------------------------------------------------------------------------
// Credentials

const SECRET: &str = "s3cr3t-T0ken";

#[test]
fn bearer_token_from_the_environment() {
    let text = "backends:\n  - name: gh\n    url: http://127.0.0.1:8081/mcp\n    auth: {type: \
                bearer, token_env: GH_TOKEN}\n";
    let config = load_with(text, &env(&[("GH_TOKEN", SECRET)])).unwrap();
    assert_eq!(
        config.backends[0].auth,
        Some(OutgoingAuth::Bearer {
            token: crate::registry::Secret::new(SECRET)
        })
    );
    assert!(!format!("{config:?}").contains(SECRET));
    // camelCase alias.
    let camel = text.replace("token_env", "tokenEnv");
    assert_eq!(
        load_with(&camel, &env(&[("GH_TOKEN", SECRET)])).unwrap(),
        config
    );
}

#[test]
fn header_value_from_a_file_relative_to_the_config_file() {
    let dir = TempDir::new("header-file");
    dir.write("api-key", &format!("  {SECRET}\n"));
    let config_path = dir.write(
        "vmcp.yaml",
        "backends:\n  - name: api\n    url: http://127.0.0.1:8082/mcp\n    auth:\n      \
         type: header\n      name: X-API-Key\n      value_file: api-key\n",
    );
    let config = VmcpConfig::from_yaml_file_with(&config_path, &env(&[])).unwrap();
    let Some(OutgoingAuth::Header { name, value }) = &config.backends[0].auth else {
        panic!("expected a header credential: {config:?}");
    };
    assert_eq!(name, "X-API-Key");
    assert_eq!(value.expose(), SECRET);
    assert!(!format!("{config:?}").contains(SECRET));
}

#[test]
fn bearer_token_from_an_absolute_file() {
    let dir = TempDir::new("bearer-file");
    let token = dir.write("token", &format!("{SECRET}\n"));
    let text = format!(
        "backends:\n  - name: gh\n    url: http://h/mcp\n    auth: {{type: bearer, token_file: \
         '{}'}}\n",
        token.display()
    );
    let config = load_with(&text, &env(&[])).unwrap();
    assert_eq!(
        config.backends[0].auth,
        Some(OutgoingAuth::Bearer {
            token: crate::registry::Secret::new(SECRET)
        })
    );
}

#[test]
fn credential_errors_name_the_source_never_the_value() {
    let dir = TempDir::new("secret-errors");
    let empty = dir.write("empty", "\n");
    let bad_chars = dir.write("bad", &format!("{SECRET}\nsecond-line-{SECRET}\n"));
    let missing = dir.0.join("missing");
    let auth = |a: &str| format!("backends:\n  - name: b\n    url: http://h/mcp\n    auth: {a}\n");
    let environment = env(&[("EMPTY", ""), ("CTRL", &format!("{SECRET}\u{7}"))]);
    let cases = [
        (
            auth("{type: bearer, token_env: NOPE}"),
            "t.yaml: backends[0].auth.token_env: environment variable NOPE is not set".to_owned(),
        ),
        (
            auth("{type: bearer, token_env: EMPTY}"),
            "t.yaml: backends[0].auth.token_env: environment variable EMPTY is empty".to_owned(),
        ),
        (
            auth("{type: bearer, token_env: CTRL}"),
            "t.yaml: backends[0].auth.token_env: environment variable CTRL contains characters \
             that cannot be sent in an HTTP header"
                .to_owned(),
        ),
        (
            auth("{type: bearer, token_env: ''}"),
            "t.yaml: backends[0].auth.token_env (\"\") must name an environment variable"
                .to_owned(),
        ),
        (
            auth(&format!(
                "{{type: bearer, token_file: '{}'}}",
                empty.display()
            )),
            format!(
                "t.yaml: backends[0].auth.token_file: file {} is empty",
                empty.display()
            ),
        ),
        (
            auth(&format!(
                "{{type: bearer, token_file: '{}'}}",
                bad_chars.display()
            )),
            format!(
                "t.yaml: backends[0].auth.token_file: file {} contains characters that cannot \
                 be sent in an HTTP header",
                bad_chars.display()
            ),
        ),
        (
            auth("{type: bearer}"),
            "t.yaml: backends[0].auth: set exactly one of token_env or token_file".to_owned(),
        ),
        (
            auth("{type: bearer, token_env: A, token_file: /x}"),
            "t.yaml: backends[0].auth: set exactly one of token_env or token_file".to_owned(),
        ),
        (
            auth("{type: header, name: X-Key}"),
            "t.yaml: backends[0].auth: set exactly one of value_env or value_file".to_owned(),
        ),
        (
            auth("{type: header, name: 'X Key', value_env: A}"),
            "t.yaml: backends[0].auth.name (\"X Key\") is not a valid HTTP header name".to_owned(),
        ),
        (
            auth("{type: header, name: Mcp-Session-Id, value_env: A}"),
            "t.yaml: backends[0].auth.name (\"Mcp-Session-Id\") is set by the MCP client itself \
             and cannot carry credentials"
                .to_owned(),
        ),
    ];
    for (text, want) in cases {
        let err = load_with(&text, &environment).unwrap_err();
        let shown = err.to_string();
        assert_eq!(shown, want);
        assert!(!shown.contains(SECRET) && !format!("{err:?}").contains(SECRET));
    }
    let err = load_with(
        &auth(&format!(
            "{{type: bearer, token_file: '{}'}}",
            missing.display()
        )),
        &environment,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!(
            "t.yaml: backends[0].auth.token_file: cannot read {}: ",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn the_file_form_prints_back_without_secrets() {
    let text = "backends:\n  - name: gh\n    url: http://h/mcp\n    auth: {type: bearer, \
                token_env: GH_TOKEN}\n";
    let file = VmcpConfigFile::from_yaml_str(text, "t.yaml").unwrap();
    let printed = serde_yaml_ng::to_string(&file).unwrap();
    assert!(printed.contains("token_env: GH_TOKEN"), "{printed}");
    assert!(printed.contains("health_check_interval: 30s"), "{printed}");
    assert_eq!(
        VmcpConfigFile::from_yaml_str(&printed, "printed").unwrap(),
        file
    );
}

// ---------------------------------------------------------------------------------------------
// Status endpoint

#[test]
fn status_listen_address() {
    let config = load_with("status: {}\n", &env(&[])).unwrap();
    assert_eq!(config.status.unwrap().listen.to_string(), "127.0.0.1:8080");
    let config = load_with("status:\n  listen: '[::]:9090'\n", &env(&[])).unwrap();
    assert_eq!(config.status.unwrap().listen.to_string(), "[::]:9090");
    assert_eq!(load_with("{}\n", &env(&[])).unwrap().status, None);
    assert_eq!(
        yaml_err("status:\n  listen: localhost:8080\n"),
        "t.yaml:2:3: status: \"localhost:8080\" is not an IP address and port such as \
         \"127.0.0.1:8080\" or \"[::1]:8080\""
    );
}

// ---------------------------------------------------------------------------------------------
// Format agnosticism

#[test]
fn failure_handling_round_trips_through_toml() {
    let fh = FailureHandling {
        health_check_interval: secs(90),
        health_check_timeout: Duration::from_millis(2500),
        unhealthy_threshold: 4,
        healthy_threshold: 3,
        degraded_threshold: Duration::from_millis(750),
        status_reporting_interval: secs(3600),
        registry_poll_interval: Duration::from_millis(500),
        initial_jitter: secs(2),
        pool: PoolPolicy::Shared,
        connect_timeout: secs(1),
        max_body_bytes: 512 * 1024,
        circuit_breaker: CircuitBreakerConfig {
            enabled: true,
            failure_threshold: 2,
            timeout: secs(5),
            half_open_max_probes: 2,
            timeout_multiplier: 1.5,
            max_timeout: Some(secs(60)),
            timeout_jitter: 0.1,
        },
    };
    let text = toml::to_string(&fh).unwrap();
    assert!(text.contains("health_check_interval = \"1m30s\""), "{text}");
    assert!(text.contains("max_body_bytes = \"512KiB\""), "{text}");
    assert!(text.contains("pool = \"shared\""), "{text}");
    assert!(text.contains("[circuit_breaker]"), "{text}");
    assert_eq!(toml::from_str::<FailureHandling>(&text).unwrap(), fh);

    let default_text = toml::to_string(&FailureHandling::default()).unwrap();
    assert!(!default_text.contains("max_timeout"), "{default_text}");
    assert_eq!(
        toml::from_str::<FailureHandling>(&default_text).unwrap(),
        FailureHandling::default()
    );

    let yaml = serde_yaml_ng::to_string(&fh).unwrap();
    assert_eq!(
        serde_yaml_ng::from_str::<FailureHandling>(&yaml).unwrap(),
        fh
    );
}

#[test]
fn toml_camel_case_and_bare_numbers_behave_like_yaml() {
    let fh: FailureHandling = toml::from_str(
        "healthCheckInterval = \"1m\"\nunhealthyThreshold = 2\n[circuitBreaker]\nenabled = \
         true\nfailureThreshold = 2\ntimeout = \"30s\"\n",
    )
    .unwrap();
    assert_eq!(fh.health_check_interval, secs(60));
    assert_eq!(fh.unhealthy_threshold, 2);
    assert_eq!(fh.circuit_breaker.failure_threshold, 2);
    let err = toml::from_str::<FailureHandling>("initial_jitter = 5\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bare number 5 is not a duration: add a unit"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The shipped example

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vmcp.yaml")
}

#[test]
fn the_example_config_loads_validates_and_shows_every_default() {
    let config = VmcpConfig::from_yaml_file_with(example_path(), &env(&[])).unwrap();
    let names: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["fetch", "github"]);
    for backend in &config.backends {
        assert!(
            backend.url.starts_with("http://127.0.0.1:"),
            "{}",
            backend.url
        );
        assert_eq!(backend.auth, None);
    }
    assert_eq!(config.failure_handling, FailureHandling::default());
    assert_eq!(config.status, Some(StatusConfig::default()));

    // Every key the config knows appears in the example, so it documents all of them.
    let text = std::fs::read_to_string(example_path()).unwrap();
    let keys = serde_yaml_ng::to_value(FailureHandling::default()).unwrap();
    let mut count = 0;
    for section in [&keys, &keys["circuit_breaker"]] {
        for key in section.as_mapping().unwrap().keys() {
            let key = key.as_str().unwrap();
            assert!(
                text.contains(&format!("\n    {key}: "))
                    || text.contains(&format!("\n      {key}: "))
                    || text.contains(&format!("\n    {key}:\n")),
                "example lacks {key}"
            );
            count += 1;
        }
    }
    assert_eq!(count, 12 + 6);
    assert!(text.contains("# max_timeout: "));
}

#[test]
fn a_missing_config_file_is_a_read_error() {
    let err = VmcpConfig::from_yaml_file("/nonexistent/vmcp.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot read config file /nonexistent/vmcp.yaml: "),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad files (issue 10): FIFOs, devices, size, nesting, several documents, invalid UTF-8.

#[test]
fn a_config_path_that_is_a_device_or_fifo_is_refused_naming_it() {
    let err = VmcpConfig::from_yaml_file("/dev/zero").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/zero is a character device, not a regular file"
    );
    let dir = TempDir::new("fifo-config");
    let fifo = dir.0.join("vmcp.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Would block forever if the FIFO were opened for reading.
    let err = VmcpConfig::from_yaml_file(&fifo).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is a FIFO, not a regular file", fifo.display())
    );
}

#[test]
fn a_token_file_that_is_a_fifo_or_device_is_refused_naming_key_and_path() {
    let dir = TempDir::new("fifo-token");
    let fifo = dir.0.join("token");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, kind) in [
        (fifo.display().to_string(), "a FIFO"),
        ("/dev/zero".to_owned(), "a character device"),
    ] {
        let text = format!(
            "backends:\n  - name: gh\n    url: http://h/mcp\n    auth: {{type: bearer, \
             token_file: '{path}'}}\n"
        );
        let err = load_with(&text, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("t.yaml: backends[0].auth.token_file: {path} is {kind}, not a regular file")
        );
    }
}

#[test]
fn a_config_or_token_file_over_1_mib_is_refused_stating_the_limit() {
    let dir = TempDir::new("big");
    let big = "#".repeat(1024 * 1024 + 1);
    let config = dir.write("vmcp.yaml", &big);
    let err = VmcpConfig::from_yaml_file(&config).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is larger than 1 MiB (the limit for input files)",
            config.display()
        )
    );
    let token = dir.write("token", &big);
    let text = format!(
        "backends:\n  - name: gh\n    url: http://h/mcp\n    auth: {{type: bearer, token_file: \
         '{}'}}\n",
        token.display()
    );
    let err = load_with(&text, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "t.yaml: backends[0].auth.token_file: {} is larger than 1 MiB (the limit for input \
             files)",
            token.display()
        )
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing_with_its_location() {
    // 50 000 levels in each form the parser is slow on; the guard is one linear pass.
    let flow = format!("backends: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let err = VmcpConfigFile::from_yaml_str(&flow, "t.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.yaml:1:74: nesting deeper than 64 levels (a config nests a handful; refused before \
         parsing)"
    );
    let entries = format!("backends:\n  {}x\n", "- ".repeat(50_000));
    let err = VmcpConfigFile::from_yaml_str(&entries, "t.yaml").unwrap_err();
    assert!(err.to_string().starts_with("t.yaml:2:"), "{err}");
    // Block nesting costs indentation, so a file this deep is large: 1 000 levels is 500 KB.
    let mut block = String::new();
    for level in 0..1_000 {
        block.push_str(&" ".repeat(level));
        block.push_str("k:\n");
    }
    let err = VmcpConfigFile::from_yaml_str(&block, "t.yaml").unwrap_err();
    assert!(
        err.to_string().starts_with("t.yaml:65:65: nesting deeper"),
        "{err}"
    );
}

#[test]
fn a_second_yaml_document_is_named_with_its_line() {
    let text = "backends: []\n---\nbackends: []\n";
    let err = VmcpConfigFile::from_yaml_str(text, "t.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.yaml:2:1: a second YAML document starts here; a config file holds exactly one document"
    );
}

#[test]
fn invalid_utf8_in_the_config_names_line_column_and_offset() {
    let dir = TempDir::new("utf8");
    let path = dir.0.join("vmcp.yaml");
    std::fs::write(&path, b"backends: []\n# caf\xe9\n").unwrap();
    let err = VmcpConfig::from_yaml_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:2:6: invalid UTF-8 (byte offset 18)", path.display())
    );
}

#[test]
fn status_listener_limits_have_defaults_and_bounds() {
    let config = load_with("status:\n  listen: 127.0.0.1:1\n", &BTreeMap::new()).unwrap();
    let limits = config.status.unwrap().limits();
    assert_eq!(limits.max_connections, 256);
    assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(limits.write_timeout, Duration::from_secs(10));
    for (text, want) in [
        (
            "status: {max_connections: 0}\n",
            "t.yaml: status.max_connections (0) must be at least 1",
        ),
        (
            "status: {header_read_timeout: 1ms}\n",
            "t.yaml: status.header_read_timeout (1ms) must be at least 100ms",
        ),
        (
            "status: {writeTimeout: 50ms}\n",
            "t.yaml: status.write_timeout (50ms) must be at least 100ms",
        ),
        (
            "server: {max_connections: 0}\n",
            "t.yaml: server.max_connections (0) must be at least 1",
        ),
    ] {
        assert_eq!(
            load_with(text, &BTreeMap::new()).unwrap_err().to_string(),
            want,
            "{text}"
        );
    }
}
