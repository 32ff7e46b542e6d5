//! The layer as a Burn module: saved and loaded with Burn's module file format, displayed,
//! and its parameters counted, on every backend.

use crate::common;

use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use burn_npconv::{Mode, NpConvolve1dConfig};
use common::values;

on_every_backend! {
    fn save_and_load_round_trip(device: &Device) {
        device.seed(3);
        let config = NpConvolve1dConfig::new(4, 6, 5).with_groups(2).with_bias(true).with_mode(Mode::Valid);
        let layer = config.init(device);
        let x = Tensor::<3>::random([2, 4, 12], Distribution::Normal(0.0, 1.0), device);
        let before = values(layer.forward(x.clone()));

        let dir = std::env::temp_dir().join(format!("npconv-module-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("layer");
        layer.clone().save_file(&path).unwrap();

        let fresh = config.init(device);
        assert_ne!(values(fresh.forward(x.clone())), before, "a fresh layer has other weights");
        let loaded = fresh.try_load_file(&path).unwrap();
        assert_eq!(values(loaded.forward(x)), before);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn display_and_parameter_count(device: &Device) {
        let layer = NpConvolve1dConfig::new(4, 6, 5).with_groups(2).with_bias(true).with_mode(Mode::Same).init(device);
        assert_eq!(layer.num_params(), 6 * 2 * 5 + 6);
        let text = layer.to_string();
        for part in ["ch_in: 4", "ch_out: 6", "kernel_size: 5", "groups: 2", "mode: same", "bias: true"] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
    }
}
