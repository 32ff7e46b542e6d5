//! `Method::Auto`'s accuracy guard: the one home of the rule that keeps an FFT within a small
//! multiple of the direct sum's error on each output's own terms, whatever the magnitudes.
//!
//! An FFT's error is spread over a whole block, in proportion to the block's largest values,
//! while the direct sum's error for output `j` is in proportion to its own terms,
//! `S_j = Σ_k |x[j-k]| |w[k]|`. The guard bounds the ratio of the two by the dynamic range
//! `q = (max|x| / min chunk mean|x|) · (max|w| / mean|w|)` and keeps the FFT in the inputs'
//! type while `q` is at most [`FFT_DYNAMIC_RANGE`] (else f64, else the direct sum). The outputs
//! at the signal's edges, whose windows hold fewer terms, are checked one by one from the
//! magnitudes of their own terms ([`edges`]).
//!
//! - [`measure`]: the signal's measurements, in one vectorised pass or inside the FFT's reads;
//! - [`host`]: the decision and the edge repair of the host FFT;
//! - [`edges`]: the magnitudes of the edge outputs' own terms (host and device);
//! - `device`: the device FFT's probe and edge repair (wgpu);
//! - [`nd`]: the N-D host FFT's check, output by output (`burn_npconv::signal`).

#[cfg(feature = "wgpu")]
pub(crate) mod device;
pub(crate) mod edges;
#[cfg(cpu_kernels)]
pub(crate) mod host;
#[cfg(cpu_kernels)]
pub(crate) mod measure;
#[cfg(cpu_kernels)]
pub(crate) mod nd;

/// The accuracy model of the FFT paths under `Method::Auto`: an FFT computing in a type of
/// epsilon `ε_U`, for inputs of epsilon `ε_T`, stays within a small multiple of
/// `ε_T · Σ |x| |w|` per output (the direct sum's error bound) while the inputs' dynamic range
/// `q = (max|x| / min chunk mean|x|) · (max|w| / mean|w|)` is at most
/// `FFT_DYNAMIC_RANGE · ε_T / ε_U` (see [`host::guarded`]). Fitted so that
/// tests/suite/accuracy.rs (noise, a spike in noise, loud and quiet passages, log-uniform
/// magnitudes, silences) stays within 3.2 ε of each output's own terms where an FFT runs (the
/// direct sums reach 22 ε there: sequential sums of 1,023 terms).
pub(crate) const FFT_DYNAMIC_RANGE: f64 = 256.0;
