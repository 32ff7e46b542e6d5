#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend_kind;
mod boundary;
mod buffers;
mod burn_op;
mod burn_path;
mod cost;
mod cpu;
mod error;
mod functional;
#[cfg(feature = "wgpu")]
mod gpu_fft;
#[cfg(feature = "internals")]
pub mod internals;
mod layer;
mod magnitudes;
mod method;
pub mod mode;
mod names;
mod nonfinite;
#[cfg(feature = "remote")]
pub mod remote;
mod stream;

pub use backend_kind::{BackendKind, BackendKindError};
pub use boundary::Boundary;
pub use error::ConvolveError;
pub use functional::{Convolve1dOptions, convolve, convolve1d, correlate};
pub use layer::{NpConvolve1d, NpConvolve1dConfig};
pub use method::Method;
pub use mode::{Mode, Operation};
pub use stream::Convolve1dStream;
