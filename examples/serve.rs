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
//!   from every client (`RemoteHost::with_credential`). Without either, `serve` generates a
//!   random token, writes it to a file only the user can read
//!   (`burn_npconv::remote::token_path`, under `$XDG_RUNTIME_DIR` or `~/.local/share`), prints
//!   its path, and removes it when it stops; clients on this machine find it there
//!   (`burn_npconv::remote::client_token`, used by the examples' `--device ws://..`). A server
//!   never listens without a token, on loopback too.
//! - `--max-request-bytes N`: refuse any op whose output and workspace would take more than N
//!   bytes (default: a quarter of this machine's memory). A refused op ends that client's
//!   connection, with the reason in this server's log; the other clients go on.
//!
//! Prints `listening on ws://HOST:PORT` once it accepts connections; stops on Ctrl-C or SIGTERM.
//! WebSocket is not encrypted: for traffic that leaves a trusted network, use Burn's Iroh
//! transport (docs/SCALING.md).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};

use burn::server::{TokenAuthorizer, WebSocketTransport};
use burn_npconv::BackendKind;
use burn_npconv::remote::{
    default_max_request_bytes, new_token_file, server_with_limit, token, token_path,
};
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
    let max_request_bytes: u64 = match std::env::args().position(|a| a == "--max-request-bytes") {
        Some(_) => flag("--max-request-bytes", "")
            .parse()
            .map_err(|e| format!("--max-request-bytes must be a number of bytes: {e}"))?,
        None => default_max_request_bytes(),
    };
    let given = token(token_file.as_deref())?;
    // Everything that can fail is checked before `listening` is printed: then the server is up.
    let device = backend.device()?;
    let served = server_with_limit(vec![device; count.max(1)], max_request_bytes)?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let port = listener.local_addr()?.port();
    // Without a token given, a new one in a file only this user can read.
    let (token, generated) = match given {
        Some(token) => (token, None),
        None => {
            let path = token_path(port)?;
            (new_token_file(&path)?, Some(path))
        }
    };
    let served = served.with_authorizer(TokenAuthorizer::new(token.as_str())?);
    if let Some(path) = &generated {
        println!("token written to {}", path.display());
    }
    println!(
        "listening on ws://{} ({} {backend} device(s), token required, requests up to {max_request_bytes} bytes)",
        listener.local_addr()?,
        count.max(1),
    );
    std::io::stdout().flush()?;
    let result = served.serve(WebSocketTransport::from_listener(listener));
    if let Some(path) = &generated {
        let _ = std::fs::remove_file(path);
    }
    result?;
    println!("stopped");
    Ok(())
}
