//! One name for each condition the CPU code is gated by:
//! - `cfg(cpu_kernels)` when the `flex` or the `ndarray` feature is on: the CPU kernels;
//! - `cfg(cpu_grads)` when, in addition, `autodiff` or `remote` is on: their gradients (a
//!   server serves the gradient ops of autodiff clients, with or without autodiff itself).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cpu_kernels)");
    println!("cargo::rustc-check-cfg=cfg(cpu_grads)");
    let on = |feature: &str| std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some();
    if on("FLEX") || on("NDARRAY") {
        println!("cargo::rustc-cfg=cpu_kernels");
        if on("AUTODIFF") || on("REMOTE") {
            println!("cargo::rustc-cfg=cpu_grads");
        }
    }
}
