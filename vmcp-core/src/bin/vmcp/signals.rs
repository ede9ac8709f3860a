//! Process signals: SIGHUP reloads the backends, SIGINT/SIGTERM stop the process.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use vmcp_core::config::VmcpConfig;
use vmcp_core::registry::DynamicRegistry;

use crate::load::Loader;

/// Wait for SIGINT or SIGTERM, reloading `backends` from the config file on every SIGHUP.
///
/// A reload that fails (unreadable file, invalid config) or misses its deadline is logged
/// (redacted) and the running backends are kept: a typo in a config edit must not take
/// monitoring down. The file is read off the runtime thread ([`Loader`]), so probing and the
/// status endpoints go on during a reload, and SIGINT/SIGTERM are honoured during one. Only
/// `backends` is reloaded; operational settings need a restart (a warning says so when they
/// changed).
pub(crate) async fn run_until_shutdown(
    loader: &Loader,
    registry: &DynamicRegistry,
    running: &VmcpConfig,
) -> io::Result<()> {
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            biased;
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => {
                tokio::select! {
                    biased;
                    _ = interrupt.recv() => return Ok(()),
                    _ = terminate.recv() => return Ok(()),
                    () = reload(loader, registry, running) => {}
                }
            }
        }
    }
}

async fn reload(loader: &Loader, registry: &DynamicRegistry, running: &VmcpConfig) {
    match loader.load().await {
        Ok(config) => {
            if config.failure_handling != running.failure_handling
                || config.status != running.status
                || config.tls != running.tls
            {
                tracing::warn!(
                    "operational (failure_handling, tls) or status settings changed in the \
                     config; they take effect on restart (SIGHUP reloads backends only)"
                );
            }
            apply(registry, config.backends);
        }
        Err(err) => {
            let err = vmcp_core::redact::redact(&err.to_string());
            tracing::error!(
                %err,
                config = %loader.path().display(),
                "reload failed; keeping the running backends"
            );
        }
    }
}

fn apply(registry: &DynamicRegistry, backends: Vec<vmcp_core::registry::Backend>) {
    match registry.replace_all(backends) {
        Ok(changed) => tracing::info!(
            changed,
            backends = registry.len(),
            version = registry.version(),
            "reloaded backends (SIGHUP)"
        ),
        Err(err) => tracing::error!(%err, "reload rejected; keeping the running backends"),
    }
}
