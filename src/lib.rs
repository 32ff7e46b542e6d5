#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod backend;
mod error;
mod functional;
pub mod mode;
mod module;

pub use backend::{Backend, BackendError};
pub use error::ConvolveError;
pub use functional::{Convolve1dOptions, convolve, convolve1d, correlate};
pub use mode::{Mode, Operation};
pub use module::{NpConvolve1d, NpConvolve1dConfig};
