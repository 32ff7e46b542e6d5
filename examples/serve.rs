//! Serves this machine's CPU devices to remote clients over WebSocket, with this crate's op
//! (and Burn's FFT ops) registered, so that layers on a remote device run on this server's
//! host kernels.
//!
//! ```text
//! cargo run --release --features remote --example serve -- --addr 127.0.0.1:3000
//! cargo run --release --features remote,ndarray --example serve -- --backend ndarray
//! BURN_NPCONV_TOKEN=secret cargo run --release --features remote --example serve -- --addr 0.0.0.0:3000
//! ```
//! Flags:
//! - `--addr HOST:PORT`: the one address to listen on (default `127.0.0.1:3000`; port 0 picks
//!   a free one, printed).
//! - `--backend flex|ndarray`: the devices' backend (default flex). Burn serves one backend per
//!   server: run one `serve` per backend.
//! - `--devices N`: serve N devices of the backend (default 1), e.g. for multi-device training
//!   on one server.
//! - `--token-file PATH` (or the `BURN_NPCONV_TOKEN` environment variable): require this token
//!   from every client (`RemoteHost::with_credential`). Without a token, only a loopback address
//!   is accepted.
//!
//! Prints `listening on ws://HOST:PORT` once it accepts connections; stops on Ctrl-C or SIGTERM.
//! WebSocket is not encrypted: for traffic that leaves a trusted network, use Burn's Iroh
//! transport (docs/SCALING.md).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};

use burn::server::{TokenAuthorizer, WebSocketTransport};
use burn_npconv::BackendKind;
use burn_npconv::remote::{check_exposure, server, token};
use common::{Error, flag};

fn main() {
    common::main_with(run);
}

fn run() -> Result<(), Error> {
    let addr: SocketAddr = flag("--addr", "127.0.0.1:3000")
        .parse()
        .map_err(|e| format!("--addr must be HOST:PORT with an IP address: {e}"))?;
    let backend: BackendKind = flag("--backend", "flex").parse()?;
    let count: usize = flag("--devices", "1")
        .parse()
        .map_err(|e| format!("--devices must be a number: {e}"))?;
    let token_file = std::env::args()
        .position(|a| a == "--token-file")
        .map(|_| std::path::PathBuf::from(flag("--token-file", "")));
    let token = token(token_file.as_deref())?;
    // Everything that can fail is checked before binding: once `listening` is printed, the
    // server is up.
    check_exposure(addr, token.is_some())?;
    let device = backend.device()?;
    let mut served = server(vec![device; count.max(1)])?;
    if let Some(token) = &token {
        served = served.with_authorizer(TokenAuthorizer::new(token.as_str())?);
    }
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!(
        "listening on ws://{} ({} {backend} device(s), {})",
        listener.local_addr()?,
        count.max(1),
        if token.is_some() {
            "token required"
        } else {
            "loopback only, no token"
        }
    );
    std::io::stdout().flush()?;
    served.serve(WebSocketTransport::from_listener(listener))?;
    println!("stopped");
    Ok(())
}
