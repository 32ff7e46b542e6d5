//! Dtypes: NumPy's promotion rule, the dtype the kernels compute in, and the one dispatch from
//! a runtime dtype to the host kernels' float type.

use burn::tensor::{DType, Tensor};

/// NumPy's `np.result_type` of two float dtypes: the wider one. NumPy has no bfloat16; f16
/// with bf16 gives f32, the narrowest float that holds both exactly.
pub(crate) fn result_type(a: DType, b: DType) -> DType {
    match (a, b) {
        _ if a == b => a,
        (DType::F64, _) | (_, DType::F64) => DType::F64,
        _ => DType::F32,
    }
}

/// The dtype a call whose result has `dtype` computes in: half precision accumulates in f32
/// (and is returned in its own dtype); f32 and f64 compute in themselves.
pub(crate) fn compute_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        other => other,
    }
}

/// `t` in `dtype`, without an op when it already is.
pub(crate) fn cast<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// Runs `$body` with `$t` the host float type of `$dtype` (f32 or f64): the one dispatch from
/// a runtime dtype to the host kernels' generic code.
///
/// # Panics
/// For any other dtype (a plan sends only f32 and f64 to the host kernels).
#[cfg(cpu_kernels)]
macro_rules! with_real {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            burn::tensor::DType::F64 => {
                type $t = f64;
                $body
            }
            burn::tensor::DType::F32 => {
                type $t = f32;
                $body
            }
            other => panic!("the host kernels take f32 and f64, got {other:?}"),
        }
    };
}
#[cfg(cpu_kernels)]
pub(crate) use with_real;
