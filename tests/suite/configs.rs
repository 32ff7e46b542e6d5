//! Config files: every file in configs/ loads and builds on every backend; modes serialise as
//! NumPy's names; an unknown mode in a file is an error naming the valid modes; sizes and
//! initializers Burn would reject later are errors at `try_init`; random configs either build
//! a layer whose first use works or say why not.

use burn::config::Config;
use burn::tensor::Tensor;
use burn_npconv::{Mode, NpConvolve1dConfig};

fn config_files() -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn is_layer_config(path: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.get("channels_in").is_some()
}

on_every_backend! {
    fn layer_configs_in_configs_dir_load_and_build(device: &Device) {
        let layer_files: Vec<_> = config_files().into_iter().filter(|p| is_layer_config(p)).collect();
        assert!(layer_files.len() >= 2, "configs/ holds the quickstart's layer configs");
        for path in layer_files {
            let config = NpConvolve1dConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let layer = config.try_init(device).unwrap();
            assert_eq!(layer.kernel_size(), config.kernel_size);
            assert_eq!(layer.channels_in(), config.channels_in);
            assert_eq!(layer.channels_out(), config.channels_out);
            assert_eq!(layer.mode(), config.mode);
        }
    }
}

#[test]
fn defaults_are_numpys() {
    let config = NpConvolve1dConfig::new(2, 3, 5);
    assert_eq!(config.mode, Mode::Full);
    assert_eq!(config.groups, 1);
    assert!(!config.bias);
}

#[test]
fn modes_serialise_as_numpy_names_and_round_trip() {
    let dir = std::env::temp_dir().join(format!("npconv-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for mode in Mode::ALL {
        let config = NpConvolve1dConfig::new(2, 4, 7)
            .with_mode(mode)
            .with_groups(2)
            .with_bias(true);
        let json = burn::config::config_to_json(&config);
        assert!(json.contains(&format!("\"mode\": \"{mode}\"")), "{json}");
        let path = dir.join(format!("{mode}.json"));
        config.save(&path).unwrap();
        let loaded = NpConvolve1dConfig::load(&path).unwrap();
        assert_eq!(loaded.mode, mode);
        assert_eq!(
            (
                loaded.channels_in,
                loaded.channels_out,
                loaded.kernel_size,
                loaded.groups,
                loaded.bias
            ),
            (2, 4, 7, 2, true)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_mode_in_a_config_file_names_the_valid_modes() {
    let dir = std::env::temp_dir().join(format!("npconv-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for bad in ["f", "FULL", "Same", "circular"] {
        let json = burn::config::config_to_json(&NpConvolve1dConfig::new(1, 1, 3))
            .replace("\"full\"", &format!("\"{bad}\""));
        let path = dir.join("bad.json");
        std::fs::write(&path, json).unwrap();
        let err = NpConvolve1dConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "unknown mode \\\"{bad}\\\": use one of \\\"valid\\\", \\\"same\\\", \\\"full\\\" or \\\"causal\\\""
            )) || err.contains(&format!(
                "unknown mode \"{bad}\": use one of \"valid\", \"same\", \"full\" or \"causal\""
            )),
            "{err}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn methods_parse_and_serialise_by_name() {
    use burn_npconv::Method;
    for method in Method::ALL {
        assert_eq!(method.to_string().parse::<Method>().unwrap(), method);
        let config = NpConvolve1dConfig::new(1, 1, 3).with_method(method);
        let json = burn::config::config_to_json(&config);
        assert!(
            json.contains(&format!("\"method\": \"{method}\"")),
            "{json}"
        );
    }
    assert_eq!(NpConvolve1dConfig::new(1, 1, 3).method, Method::Auto);
    let err = "FFT".parse::<Method>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown method \"FFT\": use one of \"auto\", \"direct\" or \"fft\""
    );

    let dir = std::env::temp_dir().join(format!("npconv-bad-method-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = burn::config::config_to_json(&NpConvolve1dConfig::new(1, 1, 3))
        .replace("\"auto\"", "\"overlap-add\"");
    let path = dir.join("bad.json");
    std::fs::write(&path, json).unwrap();
    let err = NpConvolve1dConfig::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("unknown method") && err.contains("overlap-add"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Loads `json` as a layer config through Burn's `Config::load`, from a file.
fn load_json(json: &str, name: &str) -> Result<NpConvolve1dConfig, String> {
    let dir = std::env::temp_dir().join(format!("npconv-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    let result = NpConvolve1dConfig::load(&path).map_err(|e| e.to_string());
    std::fs::remove_dir_all(dir).unwrap();
    result
}

#[test]
fn files_may_leave_out_every_field_with_a_default() {
    let config = load_json(
        r#"{ "channels_in": 2, "channels_out": 4, "kernel_size": 7 }"#,
        "minimal",
    )
    .unwrap();
    let defaults = NpConvolve1dConfig::new(2, 4, 7);
    assert_eq!(
        burn::config::config_to_json(&config),
        burn::config::config_to_json(&defaults)
    );
    // Any subset of the defaulted fields.
    let config = load_json(
        r#"{ "channels_in": 2, "channels_out": 4, "kernel_size": 7, "groups": 2, "method": "fft" }"#,
        "partial",
    )
    .unwrap();
    assert_eq!(config.groups, 2);
    assert_eq!(config.method, burn_npconv::Method::Fft);
    assert_eq!(config.mode, Mode::Full);
    assert!(!config.bias);
}

#[test]
fn misspelled_and_missing_fields_are_errors_naming_them() {
    let err = load_json(
        r#"{ "channels_in": 1, "channels_out": 1, "kernal_size": 5 }"#,
        "typo",
    )
    .unwrap_err();
    assert!(err.contains("unknown field `kernal_size`"), "{err}");
    let err = load_json(r#"{ "channels_in": 1, "channels_out": 1 }"#, "missing").unwrap_err();
    assert!(err.contains("missing field `kernel_size`"), "{err}");
}

#[test]
fn a_config_nested_in_another_loads_with_its_defaults() {
    #[derive(burn::config::Config, Debug)]
    struct ModelConfig {
        layer: NpConvolve1dConfig,
        #[config(default = 3)]
        depth: usize,
    }
    let dir = std::env::temp_dir().join(format!("npconv-nested-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    std::fs::write(
        &path,
        r#"{ "layer": { "channels_in": 3, "channels_out": 3, "kernel_size": 9, "mode": "valid" }, "depth": 2 }"#,
    )
    .unwrap();
    let model = ModelConfig::load(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    assert_eq!(
        (model.layer.mode, model.layer.groups, model.depth),
        (Mode::Valid, 1, 2)
    );
}

#[test]
fn boundaries_serialise_as_numpy_pad_names_and_round_trip() {
    use burn_npconv::Boundary;
    for boundary in [
        Boundary::Zeros,
        Boundary::Constant(0.0),
        Boundary::Constant(-1.25),
        Boundary::Reflect,
        Boundary::Symmetric,
        Boundary::Edge,
        Boundary::Wrap,
    ] {
        let config = NpConvolve1dConfig::new(1, 1, 4)
            .with_mode(Mode::Causal)
            .with_boundary(boundary);
        let json = burn::config::config_to_json(&config);
        assert!(
            json.contains(&format!("\"boundary\": \"{boundary}\"")),
            "{json}"
        );
        let back = NpConvolve1dConfig::load_binary(json.as_bytes()).unwrap();
        assert_eq!((back.boundary, back.mode), (boundary, Mode::Causal));
    }
    // Left out, the boundary is NumPy's zeros; an unknown one is an error naming the valid ones.
    let plain = r#"{ "channels_in": 1, "channels_out": 1, "kernel_size": 3 }"#;
    let config = NpConvolve1dConfig::load_binary(plain.as_bytes()).unwrap();
    assert_eq!(config.boundary, Boundary::Zeros);
    let bad = r#"{ "channels_in": 1, "channels_out": 1, "kernel_size": 3, "boundary": "mirror" }"#;
    let err = NpConvolve1dConfig::load_binary(bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown boundary") && err.contains("mirror") && err.contains("symmetric"),
        "{err}"
    );
}

/// A config file's text, with `initializer` and `bias` as given.
fn with_initializer(initializer: &str, bias: bool) -> NpConvolve1dConfig {
    let json = format!(
        r#"{{ "channels_in": 2, "channels_out": 2, "kernel_size": 3, "bias": {bias}, "initializer": {initializer} }}"#
    );
    NpConvolve1dConfig::load_binary(json.as_bytes()).unwrap()
}

on_every_backend! {
    fn configs_burn_would_reject_are_errors_at_init(device: &Device) {
        use burn_npconv::ConvolveError;
        let cases = [
            (r#"{"Uniform": {"min": 1, "max": 0}}"#, false, "a uniform draw needs finite bounds min < max, got min = 1, max = 0"),
            (r#"{"Normal": {"mean": 0, "std": -1}}"#, false, "a normal draw needs a finite standard deviation std >= 0, got std = -1"),
            (r#"{"Orthogonal": {"gain": 1}}"#, true, "an orthogonal matrix needs a tensor of rank 2 or more"),
            (r#"{"XavierNormal": {"gain": 1}}"#, true, "it needs the tensor's fan-out"),
            (r#"{"KaimingUniform": {"gain": 0, "fan_out_only": false}}"#, false, "with gain = 0"),
        ];
        for (initializer, bias, needle) in cases {
            let err = with_initializer(initializer, bias).try_init(device).expect_err(initializer);
            assert!(matches!(err, ConvolveError::Initializer { .. }), "{err:?}");
            assert!(err.to_string().contains(needle), "{initializer}: {err}");
        }
        // Orthogonal without a bias is fine, and draws.
        let layer = with_initializer(r#"{"Orthogonal": {"gain": 1}}"#, false).try_init(device).unwrap();
        assert_eq!(layer.weight.val().dims(), [2, 2, 3]);

        let err = NpConvolve1dConfig::new(1, 1, 1 << 40).try_init(device).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel_size = 1099511627776 exceeds the limit of 2147483648 weight elements (a weight of 2147483648 f32 elements takes 8 GiB)"
        );
        let err = NpConvolve1dConfig::new(1 << 32, 1, 1 << 32).try_init(device).unwrap_err();
        assert!(matches!(err, ConvolveError::ConfigTooLarge { field: "channels_in", .. }), "{err}");
        let err = NpConvolve1dConfig::new(1 << 16, 1 << 16, 1 << 16).try_init(device).unwrap_err();
        assert!(
            err.to_string().starts_with("channels_out × channels_in / groups × kernel_size = 281474976710656 exceeds"),
            "{err}"
        );
    }

    fn random_configs_build_and_run_or_say_why(device: &Device) {
        use proptest::prelude::*;
        use proptest::test_runner::{Config as Runner, TestRunner};
        let init = prop_oneof![
            (-2.0f64..2.0, -2.0f64..2.0).prop_map(|(min, max)| format!(r#"{{"Uniform": {{"min": {min}, "max": {max}}}}}"#)),
            (-1.0f64..1.0, -1.0f64..1.0).prop_map(|(mean, std)| format!(r#"{{"Normal": {{"mean": {mean}, "std": {std}}}}}"#)),
            (-1.0f64..1.0, any::<bool>()).prop_map(|(gain, f)| format!(r#"{{"KaimingUniform": {{"gain": {gain}, "fan_out_only": {f}}}}}"#)),
            (-1.0f64..1.0).prop_map(|gain| format!(r#"{{"XavierUniform": {{"gain": {gain}}}}}"#)),
            (-1.0f64..1.0).prop_map(|gain| format!(r#"{{"Orthogonal": {{"gain": {gain}}}}}"#)),
            Just(r#"{"Constant": {"value": 0.5}}"#.to_string()),
        ];
        let sizes = (0usize..4, 0usize..4, 0usize..5, 0usize..3, any::<bool>());
        let mut runner = TestRunner::new(Runner { cases: 24, ..Runner::default() });
        runner.run(&(init, sizes), |(init, (cin, cout, k, groups, bias))| {
            let json = format!(
                r#"{{ "channels_in": {cin}, "channels_out": {cout}, "kernel_size": {k}, "groups": {groups}, "bias": {bias}, "initializer": {init} }}"#
            );
            let config = NpConvolve1dConfig::load_binary(json.as_bytes()).unwrap();
            // Either an error naming the problem, or a layer whose first use works.
            if let Ok(layer) = config.try_init(device) {
                let y = layer.try_forward(Tensor::<3>::ones([1, cin, 6], device)).unwrap();
                prop_assert_eq!(y.dims()[1], cout);
                prop_assert!(y.into_data().iter::<f32>().all(f32::is_finite), "{}", json);
            }
            Ok(())
        }).unwrap();
    }
}
