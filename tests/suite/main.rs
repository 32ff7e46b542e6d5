//! Every integration test, in one binary: one link for the whole suite instead of one per file.
//! Each module holds the tests of one subject; `common` runs one test body on every enabled
//! backend and holds the NumPy fixtures and the naive oracle.

#[macro_use]
mod common;

mod accuracy;
mod configs;
mod errors;
mod gradients;
mod gradients_fd;
mod module;
mod nonfinite;
mod numpy_parity;
mod properties;
#[cfg(feature = "remote")]
mod remote;
mod save_load;
mod separable;
mod signal;
mod streaming;
mod training;
