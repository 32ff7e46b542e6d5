//! The NumPy-generated expected values in `tests/fixtures/numpy_cases.json` (made by
//! `tests/fixtures/generate.py`; its NumPy version is recorded in the file).

use std::sync::OnceLock;

use burn_npconv::{Boundary, Mode, Operation};
use serde_json::Value;

/// One (a, v) pair with NumPy's results for both functions and every mode.
pub struct Pair {
    pub a: Vec<f64>,
    pub v: Vec<f64>,
    /// `(operation, mode, expected)` for the six combinations.
    pub results: Vec<(Operation, Mode, Vec<f64>)>,
}

/// One multi-channel layer case: `expected[b][o] = Σ_i np.convolve(x[b][g·C+i], w[o][i]) + bias[o]`.
pub struct LayerCase {
    pub mode: Mode,
    /// numpy.pad's rule (zeros but in the "boundaries" section).
    pub boundary: Boundary,
    pub groups: usize,
    pub x: Vec<Vec<Vec<f64>>>,
    pub weight: Vec<Vec<Vec<f64>>>,
    pub bias: Option<Vec<f64>>,
    pub expected: Vec<Vec<Vec<f64>>>,
}

pub struct Fixtures {
    pub numpy_version: String,
    /// NumPy's error texts, e.g. `convolve_empty_a` -> `a cannot be empty`.
    pub errors: Value,
    /// Every pair of lengths 1..=9.
    pub small: Vec<Pair>,
    /// Long signals and kernels, some kernels longer than their signals.
    pub long: Vec<Pair>,
    pub layers: Vec<LayerCase>,
    /// Full float64 inputs (not rounded to f32) and NumPy's float64 results.
    pub f64_pairs: Vec<Pair>,
    /// Multi-channel layer cases in float64.
    pub f64_layers: Vec<LayerCase>,
    /// `np.convolve(np.pad(a, (L, R), rule), v, "valid")` for every rule, function and mode
    /// (causal included), `(L, R)` the zero padding of the mode.
    pub boundary_pairs: Vec<BoundaryPair>,
    /// Multi-channel layer cases with a boundary rule.
    pub boundary_layers: Vec<LayerCase>,
}

/// One (a, v) pair with the boundary section's results.
pub struct BoundaryPair {
    pub a: Vec<f64>,
    pub v: Vec<f64>,
    /// `(rule, operation, mode, expected)`.
    pub results: Vec<(Boundary, Operation, Mode, Vec<f64>)>,
}

fn boundary_pair(v: &Value) -> BoundaryPair {
    let mut results = Vec::new();
    for (rule, by_fn) in v["results"].as_object().unwrap() {
        for (name, op) in [
            ("convolve", Operation::Convolution),
            ("correlate", Operation::Correlation),
        ] {
            for mode in Mode::ALL {
                results.push((
                    rule.parse().unwrap(),
                    op,
                    mode,
                    vec1(&by_fn[name][mode.as_str()]),
                ));
            }
        }
    }
    BoundaryPair {
        a: vec1(&v["a"]),
        v: vec1(&v["v"]),
        results,
    }
}

pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(load)
}

fn load() -> Fixtures {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/numpy_cases.json"
    );
    let text = std::fs::read_to_string(path).expect("read the NumPy fixtures");
    let doc: Value = serde_json::from_str(&text).expect("parse the NumPy fixtures");
    let pairs = |key: &str| doc[key].as_array().expect(key).iter().map(pair).collect();
    Fixtures {
        numpy_version: doc["numpy_version"].as_str().unwrap().to_string(),
        errors: doc["errors"].clone(),
        small: pairs("small"),
        long: pairs("long"),
        layers: doc["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(layer)
            .collect(),
        f64_pairs: doc["f64"]["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(pair)
            .collect(),
        f64_layers: doc["f64"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(layer)
            .collect(),
        boundary_pairs: doc["boundaries"]["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(boundary_pair)
            .collect(),
        boundary_layers: doc["boundaries"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(layer)
            .collect(),
    }
}

fn vec1(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn vec2(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(vec1).collect()
}

fn vec3(v: &Value) -> Vec<Vec<Vec<f64>>> {
    v.as_array().unwrap().iter().map(vec2).collect()
}

fn pair(v: &Value) -> Pair {
    let mut results = Vec::new();
    for (name, op) in [
        ("convolve", Operation::Convolution),
        ("correlate", Operation::Correlation),
    ] {
        for mode in Mode::NUMPY {
            results.push((op, mode, vec1(&v["results"][name][mode.as_str()])));
        }
    }
    Pair {
        a: vec1(&v["a"]),
        v: vec1(&v["v"]),
        results,
    }
}

fn layer(v: &Value) -> LayerCase {
    LayerCase {
        mode: v["mode"].as_str().unwrap().parse().unwrap(),
        boundary: v["boundary"]
            .as_str()
            .map_or(Boundary::Zeros, |b| b.parse().unwrap()),
        groups: v["groups"].as_u64().unwrap() as usize,
        x: vec3(&v["x"]),
        weight: vec3(&v["weight"]),
        bias: (!v["bias"].is_null()).then(|| vec1(&v["bias"])),
        expected: vec3(&v["expected"]),
    }
}
