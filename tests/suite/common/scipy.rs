//! The SciPy-generated expected values in `tests/fixtures/scipy_cases.json` (made by
//! `tests/fixtures/generate_scipy.py`; its SciPy and NumPy versions are recorded in the file).

use std::sync::OnceLock;

use burn_npconv::{Boundary, Mode};
use serde_json::Value;

/// An array: shape and row-major values (non-finite values included).
#[derive(Clone, Debug)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// One call of a `scipy.signal` function and what SciPy answered.
#[derive(Clone, Debug)]
pub struct Case {
    /// `convolve`, `correlate`, `convolve2d` or `correlate2d`.
    pub func: String,
    pub mode: Mode,
    /// The boundary of `convolve2d` / `correlate2d` (zeros otherwise).
    pub boundary: Boundary,
    pub in1: Array,
    pub in2: Array,
    /// The kernel's factors, one per axis, when `in2` is their outer product (empty
    /// otherwise).
    pub factors: Vec<Array>,
    /// SciPy's result, or its error message.
    pub out: Result<Array, String>,
}

pub struct ScipyFixtures {
    pub scipy_version: String,
    /// `convolve` / `correlate`, f32-exact inputs, ranks 1 to 3.
    pub nd: Vec<Case>,
    /// The same on full float64 inputs.
    pub f64: Vec<Case>,
    /// `convolve2d` / `correlate2d` with every boundary.
    pub two_d: Vec<Case>,
    /// NaN and infinities in either input.
    pub nonfinite: Vec<Case>,
    /// The `valid` rule's errors, and SciPy's answers on empty inputs.
    pub errors: Vec<Case>,
    /// `convolve` / `correlate` with a kernel given as one factor per axis.
    pub separable: Vec<Case>,
}

pub fn get() -> &'static ScipyFixtures {
    static FIXTURES: OnceLock<ScipyFixtures> = OnceLock::new();
    FIXTURES.get_or_init(load)
}

fn load() -> ScipyFixtures {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scipy_cases.json"
    );
    let text = std::fs::read_to_string(path).expect("read the SciPy fixtures");
    let doc: Value = serde_json::from_str(&text).expect("parse the SciPy fixtures");
    let cases = |key: &str| doc[key].as_array().expect(key).iter().map(case).collect();
    ScipyFixtures {
        scipy_version: doc["scipy_version"].as_str().unwrap().to_string(),
        nd: cases("nd"),
        f64: cases("f64"),
        two_d: cases("2d"),
        nonfinite: cases("nonfinite"),
        errors: cases("errors"),
        separable: cases("separable"),
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().expect("a number"),
    }
}

fn array(v: &Value) -> Array {
    Array {
        shape: v["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap() as usize)
            .collect(),
        data: v["data"].as_array().unwrap().iter().map(number).collect(),
    }
}

fn case(v: &Value) -> Case {
    let boundary = match v["boundary"].as_str() {
        None => Boundary::Zeros,
        Some("fill") => Boundary::Constant(v["fillvalue"].as_f64().unwrap()),
        Some("wrap") => Boundary::Wrap,
        Some("symm") => Boundary::Symmetric,
        Some(other) => panic!("unknown boundary {other}"),
    };
    Case {
        func: v["fn"].as_str().unwrap().to_string(),
        mode: v["mode"].as_str().unwrap().parse().unwrap(),
        boundary,
        in1: array(&v["in1"]),
        in2: array(&v["in2"]),
        factors: v["factors"]
            .as_array()
            .map(|f| f.iter().map(array).collect())
            .unwrap_or_default(),
        out: match v.get("error") {
            Some(e) => Err(e.as_str().unwrap().to_string()),
            None => Ok(array(&v["out"])),
        },
    }
}
