#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod backend_kind;
mod boundary;
mod buffers;
mod cost;
#[cfg(cpu_kernels)]
mod cpu;
mod device;
mod dtype;
mod error;
mod exec;
mod fft_plans;
mod functional;
mod geometry;
mod guard;
mod init_check;
#[cfg(feature = "internals")]
pub mod internals;
mod layer;
mod method;
pub mod mode;
mod names;
mod nonfinite;
mod op;
mod operation;
mod plan;
#[cfg(feature = "remote")]
pub mod remote;
pub mod signal;
mod spectra;
mod stream;

pub use backend_kind::{BackendKind, BackendKindError};
pub use boundary::Boundary;
pub use error::ConvolveError;
pub use functional::{Convolve1dOptions, convolve, convolve1d, correlate};
pub use init_check::MAX_WEIGHT_ELEMENTS;
pub use layer::{NpConvolve1d, NpConvolve1dConfig};
pub use method::Method;
pub use mode::{Mode, Operation};
pub use stream::Convolve1dStream;
