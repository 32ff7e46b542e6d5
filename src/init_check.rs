//! What a layer's config is checked against before anything is allocated: the sizes of the
//! weight, and the parameters of its initializer, which Burn checks only when it draws the
//! values (by panicking, at the layer's first use).

use burn::nn::Initializer;

use crate::error::ConvolveError;

/// The largest weight a config may ask for, in elements: `channels_out × channels_in / groups ×
/// kernel_size` and each of those fields at most `2^31` (a weight of this many f32 elements
/// takes 8 GiB; CubeCL's kernels index a tensor with 32-bit integers).
pub const MAX_WEIGHT_ELEMENTS: usize = 1 << 31;

/// Checks that each size is at most [`MAX_WEIGHT_ELEMENTS`], then that the weight
/// `[channels_out, channels_in / groups, kernel_size]` has at most that many elements.
///
/// # Errors
/// [`ConvolveError::ConfigTooLarge`] naming the field (or the product) and its value.
pub(crate) fn check_sizes(
    channels_in: usize,
    channels_out: usize,
    kernel_size: usize,
    groups: usize,
) -> Result<(), ConvolveError> {
    let too_large = |field, value: u128| ConvolveError::ConfigTooLarge {
        field,
        value,
        limit: MAX_WEIGHT_ELEMENTS,
    };
    for (field, value) in [
        ("channels_in", channels_in),
        ("channels_out", channels_out),
        ("kernel_size", kernel_size),
    ] {
        if value > MAX_WEIGHT_ELEMENTS {
            return Err(too_large(field, value as u128));
        }
    }
    // Each factor is at most 2^31: the product fits in 93 bits.
    let elements = channels_out as u128 * (channels_in / groups) as u128 * kernel_size as u128;
    if elements > MAX_WEIGHT_ELEMENTS as u128 {
        return Err(too_large(
            "channels_out × channels_in / groups × kernel_size",
            elements,
        ));
    }
    Ok(())
}

/// Checks that `init` can draw the weight (with fans `fan_in`, `fan_out`) and, when `bias`,
/// the bias (as Burn's `Conv1d` draws it: `fan_in` only, a 1-D shape), in f32 and in f64.
///
/// # Errors
/// [`ConvolveError::Initializer`] saying which parameter Burn's draw would reject.
pub(crate) fn check_initializer(
    init: &Initializer,
    fan_in: usize,
    fan_out: usize,
    bias: bool,
) -> Result<(), ConvolveError> {
    draw(init, Some(fan_in), Some(fan_out), 3).map_err(|why| error(init, "weight", why))?;
    if bias {
        draw(init, Some(fan_in), None, 1).map_err(|why| error(init, "bias", why))?;
    }
    Ok(())
}

fn error(init: &Initializer, what: &'static str, why: String) -> ConvolveError {
    ConvolveError::Initializer {
        initializer: format!("{init:?}"),
        what,
        why,
    }
}

/// The distribution Burn's `Initializer::init_with` would draw from, checked as `rand` checks
/// it (`Uniform::new`, `Normal::new`), with Burn's formulas for the bounds.
fn draw(
    init: &Initializer,
    fan_in: Option<usize>,
    fan_out: Option<usize>,
    rank: usize,
) -> Result<(), String> {
    let fan = |fan: Option<usize>, name: &str| {
        fan.map(|f| f as f64).ok_or_else(|| {
            format!(
                "it needs the tensor's {name}, which a bias has none of (use bias = false, or another initializer)"
            )
        })
    };
    match *init {
        Initializer::Constant { value } => finite("value", value),
        Initializer::Ones | Initializer::Zeros => Ok(()),
        Initializer::Uniform { min, max } => uniform(min, max),
        Initializer::Normal { mean, std } => normal(mean, std),
        Initializer::KaimingUniform { gain, fan_out_only } => {
            let f = if fan_out_only {
                fan(fan_out, "fan-out")?
            } else {
                fan(fan_in, "fan-in")?
            };
            let a = 3f64.sqrt() * gain / f.sqrt();
            uniform(-a, a).map_err(|why| format!("with gain = {gain}: {why}"))
        }
        Initializer::KaimingNormal { gain, fan_out_only } => {
            let f = if fan_out_only {
                fan(fan_out, "fan-out")?
            } else {
                fan(fan_in, "fan-in")?
            };
            normal(0.0, gain / f.sqrt()).map_err(|why| format!("with gain = {gain}: {why}"))
        }
        Initializer::XavierUniform { gain } => {
            let std = (2.0 / (fan(fan_in, "fan-in")? + fan(fan_out, "fan-out")?)).sqrt();
            let a = 3f64.sqrt() * gain * std;
            uniform(-a, a).map_err(|why| format!("with gain = {gain}: {why}"))
        }
        Initializer::XavierNormal { gain } => {
            let std = (2.0 / (fan(fan_in, "fan-in")? + fan(fan_out, "fan-out")?)).sqrt();
            normal(0.0, gain * std).map_err(|why| format!("with gain = {gain}: {why}"))
        }
        Initializer::Orthogonal { gain } => {
            if rank < 2 {
                return Err(
                    "an orthogonal matrix needs a tensor of rank 2 or more, and a bias has rank 1 (use bias = false, or another initializer)"
                        .into(),
                );
            }
            finite("gain", gain)
        }
    }
}

fn finite(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "{name} = {value} would make every value non-finite"
        ))
    }
}

/// `rand`'s `Uniform::new(low, high)`: `low < high` and a finite `high - low`, in f64 and in
/// f32 (Burn draws in the device's float dtype).
fn uniform(low: f64, high: f64) -> Result<(), String> {
    let (l32, h32) = (low as f32, high as f32);
    if !(low < high && (high - low).is_finite()) {
        return Err(format!(
            "a uniform draw needs finite bounds min < max, got min = {low}, max = {high}"
        ));
    }
    if !(l32 < h32 && (h32 - l32).is_finite()) {
        return Err(format!(
            "a uniform draw needs finite bounds min < max in f32 too, got min = {l32}, max = {h32} there (from {low} and {high})"
        ));
    }
    Ok(())
}

/// `rand_distr`'s `Normal::new(mean, std)`: a finite `std >= 0`; and a finite mean.
fn normal(mean: f64, std: f64) -> Result<(), String> {
    finite("mean", mean)?;
    if std.is_finite() && std >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "a normal draw needs a finite standard deviation std >= 0, got std = {std}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burns_default_draws_pass() {
        for init in [
            Initializer::KaimingUniform {
                gain: 1.0 / 3f64.sqrt(),
                fan_out_only: false,
            },
            Initializer::Uniform {
                min: -1.0,
                max: 1.0,
            },
            Initializer::Normal {
                mean: 0.0,
                std: 0.0,
            },
            Initializer::Constant { value: 0.5 },
            Initializer::Zeros,
        ] {
            assert_eq!(check_initializer(&init, 15, 15, true), Ok(()), "{init:?}");
        }
    }

    #[test]
    fn rejected_draws_name_the_parameter() {
        let cases: [(Initializer, bool, &str); 9] = [
            (
                Initializer::Uniform { min: 1.0, max: 0.0 },
                false,
                "min = 1, max = 0",
            ),
            (
                Initializer::Uniform {
                    min: 0.0,
                    max: 1e-50,
                },
                false,
                "in f32",
            ),
            (
                Initializer::Uniform {
                    min: f64::NAN,
                    max: 1.0,
                },
                false,
                "min = NaN",
            ),
            (
                Initializer::Normal {
                    mean: 0.0,
                    std: -1.0,
                },
                false,
                "std = -1",
            ),
            (Initializer::Orthogonal { gain: 1.0 }, true, "rank 2"),
            (Initializer::XavierUniform { gain: 1.0 }, true, "fan-out"),
            (
                Initializer::KaimingUniform {
                    gain: 0.0,
                    fan_out_only: false,
                },
                false,
                "gain = 0",
            ),
            (
                Initializer::KaimingNormal {
                    gain: -1.0,
                    fan_out_only: false,
                },
                false,
                "gain = -1",
            ),
            (
                Initializer::Constant {
                    value: f64::INFINITY,
                },
                false,
                "value = inf",
            ),
        ];
        for (init, bias, needle) in cases {
            let err = check_initializer(&init, 4, 4, bias).expect_err(needle);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn sizes_are_bounded_field_by_field_then_as_a_product() {
        assert_eq!(check_sizes(16, 16, 255, 1), Ok(()));
        let err = check_sizes(1, 1, 1 << 40, 1).unwrap_err();
        assert_eq!(
            err,
            ConvolveError::ConfigTooLarge {
                field: "kernel_size",
                value: 1 << 40,
                limit: MAX_WEIGHT_ELEMENTS
            }
        );
        let err = check_sizes(1 << 31, 1 << 31, 1 << 31, 1).unwrap_err();
        assert!(matches!(err, ConvolveError::ConfigTooLarge { value, .. } if value == 1u128 << 93));
        // Depthwise: the groups divide the input channels out of the product.
        assert_eq!(check_sizes(1 << 20, 1 << 20, 1 << 10, 1 << 20), Ok(()));
    }
}
