//! Config files: every file in configs/ loads and builds on every backend; modes serialise as
//! NumPy's names; an unknown mode in a file is an error naming the valid modes.

use burn::config::Config;
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
