//! efm-sandbox: local, strict, stateful stand-ins for Maskinporten, the Service Registry, the
//! Altinn 3 broker (with Altinn's token exchange) and the Altinn 2 SOAP broker, on loopback.
//!
//! Start it in-process with [`Sandbox::start`] (the HTTP server runs on its own background
//! threads) or as the `efm-sandbox` binary ([`run_cli`]). It writes a test PKI and a ready client
//! configuration per organisation under the chosen directory; see sandbox/README.md.

// Handlers return a ready HTTP answer as their error; boxing every one buys nothing here.
#![allow(clippy::result_large_err)]
#![forbid(unsafe_code)]

mod admin;
mod altinn2;
mod broker3;
mod faults;
mod http;
mod jwt;
mod maskinporten;
mod orgs;
mod persist;
mod pki;
mod registry;
mod soapxml;
mod state;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use orgs::DEFAULT_ORGANISATIONS;

/// What went wrong starting or running the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxError(pub String);

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SandboxError {}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Where the PKI, client configurations, stored files and state live (created if missing).
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// Virus-scan delay after an Altinn 3 upload, in milliseconds (None = default 1000).
    pub virus_scan_delay_ms: Option<u64>,
    /// Extra organisations (9-digit numbers with a valid check digit) besides the defaults.
    pub extra_organisations: Vec<String>,
    /// The largest file the brokers accept, in bytes (None = 1 GiB, or what a restarted
    /// sandbox had; a broker resource has such a limit, and a bigger upload gets BRO-00016).
    pub max_file_size: Option<u64>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            dir: PathBuf::from("efm-sandbox"),
            port: 0,
            virus_scan_delay_ms: None,
            extra_organisations: Vec::new(),
            max_file_size: None,
        }
    }
}

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub base_url: String,
    pub pki: pki::ServicePki,
    pub state: Mutex<state::State>,
    pub store_dir: PathBuf,
    /// Requests served outside `/admin` since the start (`/admin/state` shows it), so a
    /// benchmark can tell how many calls a flow costs.
    pub requests: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub fn maskinporten_issuer(&self) -> String {
        format!("{}/maskinporten/", self.base_url)
    }
    pub fn altinn_issuer(&self) -> String {
        format!("{}/authentication/api/v1/openid/", self.base_url)
    }
    pub fn lock(&self) -> std::sync::MutexGuard<'_, state::State> {
        // A handler that panicked leaves consistent data behind (every change is one step).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running sandbox. Stops when dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sandbox {
    /// Create or reuse the PKI and configurations in `options.dir`, bind 127.0.0.1 and serve in
    /// the background.
    pub fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        std::fs::create_dir_all(&options.dir).map_err(|e| {
            SandboxError(format!(
                "cannot create sandbox directory {}: {e}",
                options.dir.display()
            ))
        })?;
        let dir = options
            .dir
            .canonicalize()
            .map_err(|e| SandboxError(format!("cannot resolve {}: {e}", options.dir.display())))?;
        let std_listener =
            std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).map_err(
                |e| SandboxError(format!("cannot listen on 127.0.0.1:{}: {e}", options.port)),
            )?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| SandboxError(format!("listener: {e}")))?;
        let port = std_listener
            .local_addr()
            .map_err(|e| SandboxError(format!("listener: {e}")))?
            .port();
        let base_url = format!("http://127.0.0.1:{port}");

        let pki = pki::ServicePki::load_or_create(&dir)?;
        let store_dir = dir.join("store");
        std::fs::create_dir_all(&store_dir)
            .map_err(|e| SandboxError(format!("cannot create {}: {e}", store_dir.display())))?;
        let mut st = state::State::default();
        if let Some(ms) = options.virus_scan_delay_ms {
            st.settings.virus_scan_delay_ms = ms;
        }
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            base_url,
            pki,
            state: Mutex::new(st),
            store_dir,
            requests: std::sync::atomic::AtomicU64::new(0),
        });
        orgs::setup_all(&shared, &options.extra_organisations)?;
        let fresh_settings = shared.lock().settings.clone();
        persist::restore(
            &shared,
            &fresh_settings,
            options.virus_scan_delay_ms.is_some(),
        );
        if let Some(bytes) = options.max_file_size {
            shared.lock().settings.max_file_size = bytes;
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("efm-sandbox")
            .enable_all()
            .build()
            .map_err(|e| SandboxError(format!("cannot start the async runtime: {e}")))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), SandboxError>>();
        let app = router(shared.clone());
        let saver = shared.clone();
        let thread = std::thread::Builder::new()
            .name("efm-sandbox-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(SandboxError(format!("listener: {e}"))));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let periodic = tokio::spawn(save_periodically(saver.clone()));
                    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
                    // TCP_NODELAY, as Altinn's servers (Kestrel) have it: without it a response
                    // whose head and body go out in two writes waits for the client's delayed ACK
                    // (40 ms on Linux) before the body, which capped a client at about 20
                    // downloads a second.
                    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                        if let Err(e) = tcp.set_nodelay(true) {
                            log::warn!("efm-sandbox: setting TCP_NODELAY: {e}");
                        }
                    });
                    let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = rx.await;
                        let _ = stopping_tx.send(true);
                    });
                    // Requests still running two seconds after stop (a slow client mid-download,
                    // an injected slow answer) are cut off rather than holding up stop().
                    let deadline = async move {
                        let _ = stopping_rx.wait_for(|s| *s).await;
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    };
                    tokio::select! {
                        served = served => {
                            if let Err(e) = served {
                                log::error!("efm-sandbox server stopped: {e}");
                            }
                        }
                        _ = deadline => log::info!("efm-sandbox: open requests cut off at stop"),
                    }
                    periodic.abort();
                    save_now(&saver, &mut String::new());
                });
                // Don't wait for open connections (a client mid-download) when stopping.
                runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            })
            .map_err(|e| SandboxError(format!("cannot start the server thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| SandboxError("the server thread ended before it was ready".into()))??;
        log::info!("efm-sandbox listening on {}", shared.base_url);
        Ok(Sandbox {
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, the one base URL every service lives under.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The directory the sandbox writes to.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The ready client configuration of an organisation (`DIR/<orgnr>/config.json`).
    pub fn config_path(&self, orgnr: &str) -> PathBuf {
        pki::OrgFiles::new(&self.shared.dir, orgnr).config
    }

    /// The organisation numbers registered (each has a configuration).
    pub fn organisations(&self) -> Vec<String> {
        self.shared.lock().orgs.keys().cloned().collect()
    }

    /// Stop serving and wait for the server thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Write `DIR/state.json` when the state changed since `last`.
fn save_now(shared: &Shared, last: &mut String) {
    let snapshot = persist::snapshot(&shared.lock());
    if snapshot != *last {
        if let Err(e) = persist::write(&shared.dir, &snapshot) {
            log::warn!(
                "cannot save the sandbox state to {}: {e}",
                shared.dir.display()
            );
        }
        *last = snapshot;
    }
}

async fn save_periodically(shared: Arc<Shared>) {
    let mut last = String::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let s = shared.clone();
        let mut l = std::mem::take(&mut last);
        last = tokio::task::spawn_blocking(move || {
            save_now(&s, &mut l);
            l
        })
        .await
        .unwrap_or_default();
    }
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .merge(maskinporten::routes())
        .merge(registry::routes())
        .merge(broker3::routes())
        .merge(altinn2::routes())
        .merge(admin::routes())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::inject,
        ))
        .with_state(shared)
}

/// The sandbox's command-line options, shared by `efm-sandbox` and `efm sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Where the PKI, client configurations, stored files and state live (created if missing)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1; 0 picks any free port
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Virus-scan delay after an Altinn 3 upload (default 1000)
    #[arg(long, value_name = "MS")]
    pub virus_scan_delay_ms: Option<u64>,
    /// An extra organisation besides the defaults (repeatable)
    #[arg(long = "org", value_name = "ORGNR")]
    pub extra_organisations: Vec<String>,
    /// The largest file the brokers accept (default 1 GiB)
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Ignore standard input (by default a closed stdin pipe stops the sandbox)
    #[arg(long)]
    pub no_stdin: bool,
}

/// Serve local Maskinporten, Service Registry, Altinn 3 broker and Altinn 2 SOAP broker on
/// 127.0.0.1.
///
/// Writes a test PKI and a client configuration per organisation to DIR/<orgnr>/config.json,
/// prints `efm-sandbox listening on http://127.0.0.1:PORT` and serves until SIGINT/SIGTERM or,
/// when standard input is a pipe, until it is closed (--no-stdin: ignore stdin).
#[derive(Debug, clap::Parser)]
#[command(name = "efm-sandbox", version)]
struct SandboxCli {
    #[command(flatten)]
    args: SandboxArgs,
}

/// The command line of the `efm-sandbox` binary. `args` are the arguments without the program
/// name (`--dir DIR [--port N] ...`). Blocks until stopped and returns the exit code (0 after a
/// clean stop or `--help`, 1 when the sandbox cannot start, 2 for bad usage).
pub fn run_cli(args: &[String]) -> i32 {
    use clap::Parser;
    let argv = std::iter::once("efm-sandbox".to_string()).chain(args.iter().cloned());
    match SandboxCli::try_parse_from(argv) {
        Ok(cli) => run(cli.args),
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
    }
}

/// Run the sandbox as `efm-sandbox` and `efm sandbox` do; see [`run_cli`] for the exit codes.
pub fn run(args: SandboxArgs) -> i32 {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .try_init();
    // Stdin is watched only when it is a pipe: a parent process holding the other end stops us by
    // closing it, while `efm-sandbox ... &` with stdin on /dev/null keeps running.
    let stdin_watch = stdin_is_pipe() && !args.no_stdin;
    let options = SandboxOptions {
        dir: args.dir,
        port: args.port,
        virus_scan_delay_ms: args.virus_scan_delay_ms,
        extra_organisations: args.extra_organisations,
        max_file_size: args.max_file_size,
    };
    let sandbox = match Sandbox::start(options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("efm-sandbox: {e}");
            return 1;
        }
    };
    {
        // Write errors are ignored: a parent that read the first line and closed the pipe must
        // not stop the server.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "efm-sandbox listening on {}", sandbox.base_url());
        for org in sandbox.organisations() {
            let _ = writeln!(
                out,
                "organisation {org}: {}",
                sandbox.config_path(&org).display()
            );
        }
        let _ = out.flush();
    }
    wait_for_stop(stdin_watch);
    sandbox.stop();
    0
}

fn stdin_is_pipe() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata("/dev/stdin")
            .map(|m| m.file_type().is_fifo())
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Block until SIGINT/SIGTERM, or until stdin reaches end of file (when watched).
fn wait_for_stop(stdin_watch: bool) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    if stdin_watch {
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
            let _ = tx.send(());
        });
    }
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(_) => return,
        };
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = match signal(SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        });
        let _ = tx.send(());
    });
    let _ = rx.recv();
}
