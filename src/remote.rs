//! The layer on Burn's remote backend (feature `remote`): a server that runs this crate's op on
//! its own host kernels, for clients that connect with Burn's own API.
//!
//! On a remote device (`Device::remote_options(&RemoteHost::websocket(url)).init()`), the
//! functions and [`NpConvolve1d`](crate::NpConvolve1d) ship the convolution and its two
//! gradients to the server as Burn custom ops, and the server runs them on flex or ndarray
//! with the same kernels as a local CPU device: every [`Method`](crate::Method), NumPy's NaN
//! and infinities, `Auto`'s accuracy guard. The client plans each call (the kernel `Auto` picks,
//! with its FFT lengths) and the server runs that plan as it is. Everything else (padding by a [`Boundary`](crate::Boundary),
//! the bias, casts) runs as Burn's ordinary ops, also on the server.
//!
//! **The server must be this crate's**: [`server`] (or the `serve` example, which calls it).
//! A plain Burn `RemoteServer` does not know the op: it closes the client's connection when the
//! first convolution arrives, and the client's next read fails.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use burn::server::WebSocketTransport;
//! use burn::tensor::Device;
//!
//! // The server: one flex device, on loopback only.
//! let listener = std::net::TcpListener::bind("127.0.0.1:3000")?;
//! burn_npconv::remote::server([Device::flex()])?.serve(WebSocketTransport::from_listener(listener))?;
//! # Ok(())
//! # }
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use burn::remote::RemoteHost;
//! use burn::tensor::{Device, Tensor};
//! use burn_npconv::{Mode, convolve};
//!
//! // The client, in another process or on another machine.
//! let device = Device::remote_options(&RemoteHost::websocket("ws://127.0.0.1:3000")).init()?;
//! let a = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
//! let v = Tensor::<1>::from_floats([0.0, 1.0, 0.5], &device);
//! println!("{}", convolve(a, v, Mode::Full)?); // computed by the server
//! # Ok(())
//! # }
//! ```

use burn::tensor::Device;

/// Why [`server`] could not build a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteServerError {
    /// No device was given.
    #[error("a server needs at least one device to serve")]
    NoDevices,
    /// A device whose backend has no host kernels (or is not enabled in this build).
    #[error(
        "cannot serve {device}: this crate's server runs its op on flex or ndarray devices (enabled in this build: {enabled})"
    )]
    UnsupportedDevice {
        /// The device, as Burn prints it.
        device: String,
        /// The CPU backends this build has.
        enabled: String,
    },
    /// A server would listen beyond loopback without a token.
    #[error(
        "refusing to serve on {addr} without a token: anyone who can reach it could run ops on this machine. Give a token (--token-file PATH or the {TOKEN_ENV} environment variable; clients present it with RemoteHost::with_credential), or listen on a loopback address such as 127.0.0.1"
    )]
    OpenDoor {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },
    /// The token could not be had.
    #[error("no usable token: {why}")]
    Token {
        /// Why.
        why: String,
    },
    /// Devices of two backends: Burn serves one backend per server.
    #[error(
        "cannot serve {first} and {other} together: Burn serves one backend per server (run one server per backend)"
    )]
    MixedBackends {
        /// The first device.
        first: String,
        /// A device of another backend.
        other: String,
    },
}

/// The environment variable the `serve` example and the examples' `--device ws://..` read the
/// token from, when no `--token-file` is given.
pub const TOKEN_ENV: &str = "BURN_NPCONV_TOKEN";

/// The token a server requires or a client presents: the first line of `token_file` when given,
/// else the environment variable [`TOKEN_ENV`] when set; `None` when neither is.
///
/// # Errors
/// [`RemoteServerError::Token`] when the file cannot be read or the token is empty.
pub fn token(token_file: Option<&std::path::Path>) -> Result<Option<String>, RemoteServerError> {
    let (token, source) = match token_file {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| RemoteServerError::Token {
                why: format!("cannot read token file {}: {e}", path.display()),
            })?,
            format!("token file {}", path.display()),
        ),
        None => match std::env::var(TOKEN_ENV) {
            Ok(token) => (token, format!("environment variable {TOKEN_ENV}")),
            Err(_) => return Ok(None),
        },
    };
    let token = token.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(RemoteServerError::Token {
            why: format!("the {source} holds an empty token"),
        });
    }
    Ok(Some(token))
}

/// Whether a server may listen on `addr`: without a token, only on a loopback address, so that
/// a server which runs ops for whoever connects is never reachable from another machine by
/// accident.
///
/// # Errors
/// [`RemoteServerError::OpenDoor`] for an address other than loopback without a token.
pub fn check_exposure(
    addr: std::net::SocketAddr,
    has_token: bool,
) -> Result<(), RemoteServerError> {
    if has_token || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(RemoteServerError::OpenDoor { addr })
    }
}

/// Where the `serve` example writes the token it generates for a server listening on `port`,
/// and where [`client_token`] looks for it: `$XDG_RUNTIME_DIR/burn-npconv/token-PORT`, else
/// `$HOME/.local/share/burn-npconv/runtime/token-PORT` (as Jupyter keeps its runtime files).
///
/// # Errors
/// [`RemoteServerError::Token`] when neither `XDG_RUNTIME_DIR` nor `HOME` is set.
pub fn token_path(port: u16) -> Result<std::path::PathBuf, RemoteServerError> {
    let dir = match (
        std::env::var_os("XDG_RUNTIME_DIR"),
        std::env::var_os("HOME"),
    ) {
        (Some(runtime), _) if !runtime.is_empty() => {
            std::path::Path::new(&runtime).join("burn-npconv")
        }
        (_, Some(home)) if !home.is_empty() => {
            std::path::Path::new(&home).join(".local/share/burn-npconv/runtime")
        }
        _ => {
            return Err(RemoteServerError::Token {
                why: format!(
                    "neither XDG_RUNTIME_DIR nor HOME is set: give a token (--token-file PATH or the {TOKEN_ENV} environment variable)"
                ),
            });
        }
    };
    Ok(dir.join(format!("token-{port}")))
}

/// A new random token (256 bits from the operating system, in hex) written to `path`, which
/// only the user can read (a new file of mode 0600 in a directory of mode 0700 on Unix). A
/// file already at `path` is replaced.
///
/// # Errors
/// [`RemoteServerError::Token`] when the system has no randomness to give or the file cannot
/// be written.
pub fn new_token_file(path: &std::path::Path) -> Result<String, RemoteServerError> {
    use std::io::Write;
    let why = |what: &str, e: &dyn std::fmt::Display| RemoteServerError::Token {
        why: format!("{what} {}: {e}", path.display()),
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RemoteServerError::Token {
        why: format!("no randomness from the operating system: {e}"),
    })?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| why("cannot create the directory of", &e))?;
    }
    // A new file, so that its mode is the one given here (an old one may have been readable).
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(why("cannot replace", &e));
        }
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| why("cannot create", &e))?;
    writeln!(file, "{token}").map_err(|e| why("cannot write", &e))?;
    Ok(token)
}

/// The token a client presents to the server at `url` (`ws://HOST:PORT`): [`token`]'s (the
/// first line of `token_file`, else [`TOKEN_ENV`]), else, for a server on this machine, the
/// token its `serve` generated ([`token_path`] of the URL's port) when that file exists.
///
/// # Errors
/// As [`token`]; [`RemoteServerError::Token`] when the generated token's file exists but
/// cannot be read.
pub fn client_token(
    token_file: Option<&std::path::Path>,
    url: &str,
) -> Result<Option<String>, RemoteServerError> {
    if let Some(token) = token(token_file)? {
        return Ok(Some(token));
    }
    let Some(port) = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
    else {
        return Ok(None);
    };
    let Ok(path) = token_path(port) else {
        return Ok(None);
    };
    if path.exists() {
        token(Some(&path))
    } else {
        Ok(None)
    }
}

/// The default per-request limit of [`server`]: a quarter of this machine's memory
/// (`MemTotal` in `/proc/meminfo`), 4 GiB where that cannot be read.
pub fn default_max_request_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024) / 4)
        })
        .unwrap_or(4 << 30)
}

/// Which host backend serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HostBackend {
    #[cfg(feature = "flex")]
    Flex,
    #[cfg(feature = "ndarray")]
    NdArray,
}

fn host_backend_of(device: &Device) -> Option<HostBackend> {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return Some(HostBackend::Flex);
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
    if *device == Device::ndarray() {
        return Some(HostBackend::NdArray);
    }
    let _ = device;
    None
}

/// A Burn [`RemoteServer`](burn::server::RemoteServer) for `devices` (all flex or all ndarray)
/// with this crate's op registered, plus Burn's FFT ops (`burn::signal`) on flex.
///
/// Serve it with Burn's own API (`serve` on a transport); add an authorizer first when
/// the server is reachable from other machines (see the `serve` example, which requires a
/// token for any address but loopback).
///
/// # Errors
/// [`RemoteServerError`] when `devices` is empty, holds a device that is not flex or
/// ndarray, or mixes the two.
///
/// Each op is checked before it runs (docs/SCALING.md, "What the server checks"), with
/// [`default_max_request_bytes`] as the per-request limit: [`server_with_limit`] sets another.
pub fn server(
    devices: impl IntoIterator<Item = Device>,
) -> Result<burn::server::RemoteServer, RemoteServerError> {
    server_with_limit(devices, default_max_request_bytes())
}

/// [`server`] with a per-request limit of `max_request_bytes`: an op whose output and
/// workspace would take more is refused (that client's connection ends with the reason in the
/// server's log; every other connection goes on).
///
/// # Errors
/// As [`server`].
pub fn server_with_limit(
    devices: impl IntoIterator<Item = Device>,
    max_request_bytes: u64,
) -> Result<burn::server::RemoteServer, RemoteServerError> {
    let devices: Vec<Device> = devices.into_iter().map(|d| d.inner()).collect();
    let first = devices.first().ok_or(RemoteServerError::NoDevices)?;
    let enabled = [
        (cfg!(feature = "flex"), "flex"),
        (cfg!(feature = "ndarray"), "ndarray"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(", ");
    let unsupported = |d: &Device| RemoteServerError::UnsupportedDevice {
        device: format!("{d:?}"),
        enabled: if enabled.is_empty() {
            "none".into()
        } else {
            enabled.clone()
        },
    };
    let backend = host_backend_of(first).ok_or_else(|| unsupported(first))?;
    for d in &devices {
        match host_backend_of(d) {
            None => return Err(unsupported(d)),
            Some(b) if b != backend => {
                return Err(RemoteServerError::MixedBackends {
                    first: format!("{first:?}"),
                    other: format!("{d:?}"),
                });
            }
            Some(_) => {}
        }
    }
    let server = burn::server::RemoteServer::new(devices);
    Ok(registered(server, backend, max_request_bytes))
}

#[cfg(cpu_kernels)]
fn registered(
    server: burn::server::RemoteServer,
    backend: HostBackend,
    max_request_bytes: u64,
) -> burn::server::RemoteServer {
    use crate::op::wire::{OPS, handler};
    use burn::server::CustomOpRegistry;
    match backend {
        #[cfg(feature = "flex")]
        HostBackend::Flex => {
            use burn::backend::Flex;
            let mut ops = CustomOpRegistry::<Flex>::new();
            burn::signal::register_fft_ops(&mut ops);
            for id in OPS {
                ops.register(id, handler::<Flex>(max_request_bytes));
            }
            server.with_custom_ops(ops)
        }
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // burn-ndarray is deprecated upstream; our users asked for it.
        HostBackend::NdArray => {
            use burn::backend::NdArray;
            let mut ops = CustomOpRegistry::<NdArray>::new();
            for id in OPS {
                ops.register(id, handler::<NdArray>(max_request_bytes));
            }
            server.with_custom_ops(ops)
        }
    }
}

#[cfg(not(cpu_kernels))]
fn registered(
    _server: burn::server::RemoteServer,
    backend: HostBackend,
    _max_request_bytes: u64,
) -> burn::server::RemoteServer {
    match backend {}
}
