//! `vmcp`: the virtual MCP server's health core against real backends on a real network.
//!
//! Loads a YAML config, probes every backend, writes each status report as one JSON line (stdout
//! or `--report-file`), serves `/health`, `/status`, `/api/backends/health` and `/metrics`, re-reads the
//! backends on SIGHUP and exits cleanly on SIGINT/SIGTERM. A bad config exits with status 2 and a
//! message naming the key; an unreachable backend never stops the process.

mod http;
mod load;
mod signals;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use vmcp_core::client::{McpClient, ProductionConnector};
use vmcp_core::clock::{SharedClock, SystemClock};
use vmcp_core::config::{ServerConfig, VmcpConfig};
use vmcp_core::metrics::Metrics;
use vmcp_core::registry::DynamicRegistry;
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};
use vmcp_core::status::{LineQueue, LogReporter, QueuedJsonLinesReporter, Reporter};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "vmcp",
    version,
    about = "Virtual MCP server health core: probes MCP backends and publishes status reports"
)]
struct Args {
    /// The YAML config file (see examples/vmcp.yaml).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Address for the HTTP status endpoints; overrides `status.listen` in the config.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Append status reports (one JSON line each) to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    report_file: Option<PathBuf>,
    /// Report lines queued for stdout (or `--report-file`) before the oldest is dropped, when
    /// the reader does not keep up.
    #[arg(long, value_name = "LINES", default_value_t = LineQueue::DEFAULT_CAPACITY)]
    report_queue: usize,
    /// Seed for breaker and initial jitter (reproducible runs); defaults to 0.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Exit status for an invalid config or arguments.
const EXIT_INVALID_INPUT: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("vmcp: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Off the runtime thread and bounded, as every reload: a FIFO or a hung file system must not
    // hang the start either.
    let loader = load::Loader::new(&args.config);
    let config = match runtime.block_on(loader.load()) {
        Ok(config) => config,
        Err(err) => {
            let shown = vmcp_core::redact::redact(&err.to_string());
            eprintln!("vmcp: invalid config: {shown}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    // Built outside `block_on`, before anything is spawned: with TLS and no `ca_file` this reads
    // the platform trust store (file I/O), which must not run while the runtime probes.
    let connector = match vmcp_core::client::production_connector(&config.tls) {
        Ok(connector) => connector,
        Err(err) => {
            eprintln!("vmcp: invalid config: operational.tls: {err}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    match runtime.block_on(run(args, config, loader, connector)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::InvalidInput(message)) => {
            eprintln!("vmcp: {message}");
            ExitCode::from(EXIT_INVALID_INPUT)
        }
        Err(RunError::Fatal(message)) => {
            eprintln!("vmcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why `run` stopped early.
enum RunError {
    /// Bad input (exit 2).
    InvalidInput(String),
    /// Could not start (exit 1).
    Fatal(String),
}

async fn run(
    args: Args,
    config: VmcpConfig,
    loader: load::Loader,
    connector: ProductionConnector,
) -> Result<(), RunError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let registry = Arc::new(
        DynamicRegistry::new(config.backends.clone())
            .map_err(|e| RunError::InvalidInput(format!("invalid config: {e}")))?,
    );
    // Report lines go through a bounded queue to a writer thread: a stalled reader of stdout
    // (a full pipe) then costs dropped lines, never a blocked runtime (DESIGN §3.7).
    let mut out: Box<dyn std::io::Write + Send> = match &args.report_file {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    RunError::Fatal(format!("cannot open --report-file {}: {e}", path.display()))
                })?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let queue = Arc::new(LineQueue::new(args.report_queue));
    let writer_queue = Arc::clone(&queue);
    std::thread::Builder::new()
        .name("report-writer".into())
        .spawn(move || writer_queue.drain_into(&mut *out))
        .map_err(|e| RunError::Fatal(format!("cannot start the report writer: {e}")))?;
    let json: Arc<dyn Reporter> = Arc::new(QueuedJsonLinesReporter::new(Arc::clone(&queue)));
    let listen = args.listen.or(config.status.as_ref().map(|s| s.listen));
    let listener = match listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| RunError::Fatal(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    let probe = Arc::new(McpClient::new(connector, &config.failure_handling));
    // With a front end, even the very first probes fill the capability cache.
    probe.set_list_catalog(config.frontend.is_some());
    // The front end's listener, bound before anything starts so a taken port fails fast.
    let frontend_listener = match &config.frontend {
        Some(frontend) => {
            let addr = frontend.server.listen;
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| RunError::Fatal(format!("cannot listen on {addr}: {e}")))?,
            )
        }
        None => None,
    };
    // Counted where the events happen: the monitor's observer and one more reporter.
    let metrics = Arc::new(Metrics::new());
    let mut vmcp = VmcpRuntime::start(RuntimeParts {
        config: config.failure_handling.clone(),
        probe: Arc::clone(&probe),
        registry: Arc::clone(&registry),
        clock: Arc::clone(&clock),
        observer: Some(Arc::clone(&metrics) as _),
        rng_seed: args.seed,
        reporters: vec![json, Arc::new(LogReporter), Arc::clone(&metrics) as _],
    })
    .map_err(|e| RunError::InvalidInput(format!("invalid config: {e}")))?;
    let frontend = match &config.frontend {
        Some(frontend) => {
            let frontend = vmcp
                .start_frontend(frontend.clone(), Arc::clone(&probe), args.seed)
                .map_err(|e| RunError::InvalidInput(format!("invalid config: {e}")))?;
            // Calls, backend sessions and list_changed are counted as they happen.
            frontend.observe(Arc::clone(&metrics) as _);
            Some(frontend)
        }
        None => None,
    };

    let state = http::StatusState {
        registry: Arc::clone(&registry),
        monitor: Arc::clone(vmcp.monitor()),
        clock: Arc::clone(&clock),
        frontend,
        output: Arc::clone(&queue),
        metrics,
    };
    let server = listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "status endpoints listening");
        }
        let limits = config.status.clone().unwrap_or_default().limits();
        tokio::spawn(http::serve(listener, state.clone(), limits))
    });
    let frontend_server = frontend_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "MCP front end listening on /mcp (and the status endpoints)");
        }
        let limits = config
            .frontend
            .as_ref()
            .map_or_else(|| ServerConfig::default().limits(), |f| f.server.limits());
        tokio::spawn(http::serve(listener, state.clone(), limits))
    });

    signals::run_until_shutdown(&loader, &registry, &config)
        .await
        .map_err(|e| RunError::Fatal(format!("cannot install signal handlers: {e}")))?;

    tracing::info!("shutting down");
    for server in [server, frontend_server].into_iter().flatten() {
        server.abort();
    }
    vmcp.stop().await;
    // Queued lines are written if the reader keeps up; a stalled reader cannot hold up the exit
    // (the writer thread is not joined).
    queue.close();
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
