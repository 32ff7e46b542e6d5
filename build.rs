//! One name for "a CPU backend is enabled", so that the CPU kernels' code is gated by a single
//! condition: `cfg(cpu_kernels)` when the `flex` or the `ndarray` feature is on.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cpu_kernels)");
    if std::env::var_os("CARGO_FEATURE_FLEX").is_some()
        || std::env::var_os("CARGO_FEATURE_NDARRAY").is_some()
    {
        println!("cargo::rustc-cfg=cpu_kernels");
    }
}
