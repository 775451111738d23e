//! The C library's `pow`, defined here so that an SDK function needs no `libm.so`.
//!
//! `aws-smithy-runtime` computes a cube root with `f64::powf` in its adaptive retry mode (which
//! this project never selects, but which is linked all the same). `powf` compiles to a call to
//! the C symbol `pow`, and `pow` is the only symbol an SDK function takes from `libm.so.6`, so
//! the dynamic loader opens, maps and relocates that library at every cold start for it: about
//! 0.05 ms, 0.05 x the floor (docs/performance.md). Defining `pow` in the executable resolves the
//! call at link time, and with `--as-needed` (rustc's default, and zig's in the arm64 build) the
//! library is no longer a dependency.
//!
//! The body is the `libm` crate's: the rust-lang port of musl's `pow`, correctly rounded in the
//! cases C requires and the one Rust's own `core` uses on targets without a C library. It does
//! not set `errno`, which no Rust caller reads.
//!
//! A crate links this by naming it (`use no_libm as _;`): the shared crate does so with its `aws`
//! feature. Where `libm.so` is loaded anyway (another library needing it), the executable's own
//! definition still serves the executable's calls.

#![cfg_attr(not(test), no_std)]

/// `double pow(double x, double y)`.
#[allow(unsafe_code)]
// Declaring an unmangled symbol is `unsafe` since Rust 2024: this one
// has exactly the C signature and semantics of the symbol it stands for.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::pow;

    #[test]
    fn agrees_with_the_c_library_on_ordinary_and_special_values() {
        // Exact cases, the cube root the SDK takes, and C99 Annex F's special cases.
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert!((pow(10.0, -2.0) - 0.01).abs() < 1e-17);
        assert!((pow(27.0, 1.0 / 3.0) - 3.0).abs() < 1e-15);
        assert!((pow(0.5, 1.0 / 3.0) - 0.793_700_525_984_099_7).abs() < 1e-15);
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert_eq!(pow(1.0, f64::NAN), 1.0);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert_eq!(pow(f64::INFINITY, -1.0), 0.0);
        assert_eq!(pow(-2.0, 3.0), -8.0);
    }
}
