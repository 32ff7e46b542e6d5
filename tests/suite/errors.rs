//! Every error: the variant, the values it carries and the message, on every backend; nothing
//! reaches Burn (no panic deep inside it).

use crate::common;

use burn::tensor::{Device, Tensor};
use burn_npconv::{
    BackendKind, BackendKindError, Convolve1dOptions, ConvolveError, Mode, NpConvolve1d,
    NpConvolve1dConfig, Operation, convolve, convolve1d, correlate,
};
use common::{fixtures, t1};

fn numpy_text(key: &str) -> String {
    fixtures::get().errors[key].as_str().unwrap().to_string()
}

fn empty1(device: &Device) -> Tensor<1> {
    Tensor::<1>::zeros([0], device)
}

on_every_backend! {
    fn empty_inputs_give_numpys_messages(device: &Device) {
        let one = || t1(&[1.0], device);
        let cases = [
            (convolve(empty1(device), one(), Mode::Full), "convolve_empty_a"),
            (convolve(one(), empty1(device), Mode::Same), "convolve_empty_v"),
            (correlate(empty1(device), one(), Mode::Valid), "correlate_empty_a"),
            (correlate(one(), empty1(device), Mode::Full), "correlate_empty_v"),
        ];
        for (result, key) in cases {
            let err = result.unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with(&numpy_text(key)), "{key}: {message}");
            assert!(message.ends_with("(got shape [0])"), "{message}");
        }
        // NumPy checks `a` first when both are empty.
        assert_eq!(
            convolve(empty1(device), empty1(device), Mode::Full).unwrap_err(),
            ConvolveError::EmptySignal { op: Operation::Convolution, shape: vec![0] }
        );
        assert_eq!(numpy_text("convolve_empty_a"), "a cannot be empty");
    }

    fn layer_rejects_wrong_channels(device: &Device) {
        let layer = NpConvolve1dConfig::new(4, 6, 3).with_groups(2).init(device);
        let x = Tensor::<3>::zeros([2, 3, 10], device);
        let err = layer.try_forward(x).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input has 3 channels but the weight expects 4 (input shape [2, 3, 10], weight shape [6, 2, 3], groups = 2)"
        );
    }

    fn layer_forward_panics_with_the_same_message(device: &Device) {
        let layer = NpConvolve1dConfig::new(2, 2, 3).init(device);
        let x = Tensor::<3>::zeros([1, 5, 10], device);
        let expected = layer.try_forward(x.clone()).unwrap_err().to_string();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| layer.forward(x))).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>().unwrap(), &expected);
    }

    fn layer_rejects_empty_input(device: &Device) {
        let layer = NpConvolve1dConfig::new(1, 1, 3).init(device);
        let err = layer.try_forward(Tensor::<3>::zeros([1, 1, 0], device)).unwrap_err();
        assert_eq!(err.to_string(), "a cannot be empty (got shape [1, 1, 0])");
        let err = layer.try_forward(Tensor::<3>::zeros([0, 1, 8], device)).unwrap_err();
        assert_eq!(err.to_string(), "input batch is empty: input shape [0, 1, 8] has batch size 0");
    }

    fn config_errors_name_the_values(device: &Device) {
        let err = NpConvolve1dConfig::new(1, 1, 0).try_init(device).unwrap_err();
        assert_eq!(err, ConvolveError::ZeroKernelSize);
        assert_eq!(err.to_string(), "kernel_size must be at least 1, got 0");

        let err = NpConvolve1dConfig::new(4, 6, 3).with_groups(4).try_init(device).unwrap_err();
        assert_eq!(
            err.to_string(),
            "groups = 4 must be at least 1 and divide both channels_in = 4 and channels_out = 6"
        );
        let err = NpConvolve1dConfig::new(4, 6, 3).with_groups(0).try_init(device).unwrap_err();
        assert!(matches!(err, ConvolveError::Groups { groups: 0, .. }));

        let err = NpConvolve1dConfig::new(0, 6, 3).try_init(device).unwrap_err();
        assert_eq!(err.to_string(), "channels must be at least 1, got channels_in = 0, channels_out = 6");

        let panic = std::panic::catch_unwind(|| NpConvolve1dConfig::new(1, 1, 0).init(device)).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>().unwrap(), "kernel_size must be at least 1, got 0");
    }

    fn from_kernel_rejects_an_empty_kernel(device: &Device) {
        let err = NpConvolve1d::try_from_kernel(empty1(device), Mode::Same).unwrap_err();
        assert_eq!(err.to_string(), "v cannot be empty (got shape [0])");
        let device = device.clone();
        let panic = std::panic::catch_unwind(move || NpConvolve1d::from_kernel(empty1(&device), Mode::Same)).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>().unwrap(), "v cannot be empty (got shape [0])");
    }

    fn batched_form_checks_weight_and_bias(device: &Device) {
        let x = Tensor::<3>::zeros([2, 4, 10], device);
        let w = Tensor::<3>::zeros([6, 2, 3], device);
        let bad_bias = Tensor::<1>::zeros([5], device);
        let options = Convolve1dOptions::new(Mode::Same).with_groups(2);
        let err = convolve1d(x.clone(), w.clone(), Some(bad_bias), options).unwrap_err();
        assert_eq!(err.to_string(), "bias has shape [5] but the weight has 6 output channels");

        let err = convolve1d(x.clone(), w.clone(), None, options.with_groups(4)).unwrap_err();
        assert_eq!(
            err,
            ConvolveError::Groups { groups: 4, channels_in: 8, channels_out: 6 }
        );

        let err = convolve1d(x.clone(), Tensor::<3>::zeros([6, 2, 0], device), None, options.with_operation(Operation::Correlation)).unwrap_err();
        assert_eq!(err.to_string(), "second array argument cannot be empty (got shape [6, 2, 0])");

        let err = convolve1d(x, Tensor::<3>::zeros([0, 2, 3], device), None, Convolve1dOptions::new(Mode::Full)).unwrap_err();
        assert_eq!(err.to_string(), "channels must be at least 1, got channels_in = 2, channels_out = 0");
    }
}

#[cfg(all(feature = "flex", feature = "ndarray"))]
#[test]
fn tensors_on_different_devices_are_refused() {
    let flex = BackendKind::Flex.device().unwrap();
    let ndarray = BackendKind::NdArray.device().unwrap();
    let err = convolve(t1(&[1.0, 2.0], &flex), t1(&[1.0], &ndarray), Mode::Full).unwrap_err();
    assert!(
        matches!(
            err,
            ConvolveError::DeviceMismatch {
                what: "signal and kernel",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("signal and kernel are on different devices: "),
        "{err}"
    );
}

#[test]
fn unknown_mode_names_and_integers() {
    for bad in ["f", "FULL", "Full", "", "same "] {
        let err = bad.parse::<Mode>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("unknown mode {bad:?}: use one of \"valid\", \"same\", \"full\" or \"causal\"")
        );
    }
    assert_eq!(
        Mode::try_from(3).unwrap_err().to_string(),
        "integer convolve/correlate mode must be 0 (valid), 1 (same) or 2 (full), got 3"
    );
    assert!(Mode::try_from(-1).is_err());
}

#[test]
fn unknown_backend_names_are_listed() {
    let err = "cuda".parse::<BackendKind>().unwrap_err();
    assert_eq!(err, BackendKindError::Unknown { got: "cuda".into() });
    assert_eq!(
        err.to_string(),
        "unknown backend \"cuda\": use one of flex, ndarray, wgpu"
    );
}

on_every_backend! {
    fn mixed_dtypes_follow_numpys_promotion(device: &Device) {
        use burn::tensor::{DType, TensorData};
        if !device.supports_dtype(DType::F64) {
            // No f64 on this adapter (e.g. wgpu through OpenGL): nothing to promote to.
            eprintln!("{device:?} has no f64: promotion to f64 not applicable");
            return;
        }
        let a = [1.0f64, 2.0, 3.0, 4.0, 5.0];
        let v = [0.5f64, -1.0, 2.0];
        let a64 = Tensor::<3>::from_data(TensorData::new(a.to_vec(), [1, 1, 5]), (device, DType::F64));
        let v64 = Tensor::<3>::from_data(TensorData::new(v.to_vec(), [1, 1, 3]), (device, DType::F64));
        let a32 = a64.clone().cast(DType::F32);
        let v32 = v64.clone().cast(DType::F32);
        let options = Convolve1dOptions::new(Mode::Full);
        let want = convolve1d(a64.clone(), v64.clone(), None, options).unwrap();
        assert_eq!(want.dtype(), DType::F64);
        for (x, w) in [(a64.clone(), v32.clone()), (a32.clone(), v64.clone())] {
            let got = convolve1d(x, w, None, options).unwrap();
            assert_eq!(got.dtype(), DType::F64, "np.result_type(f32, f64) is f64");
            assert_eq!(
                got.into_data().try_to_vec::<f64>().unwrap(),
                want.clone().into_data().try_to_vec::<f64>().unwrap()
            );
        }
        let same = convolve1d(a32, v32, None, options).unwrap();
        assert_eq!(same.dtype(), DType::F32);
    }
}
