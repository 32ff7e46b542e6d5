//! Picking a Burn device by the name of its backend, as the examples' `--device` flag does.

use burn::tensor::Device;

/// The Burn backends this crate is built and tested for, each behind the Cargo feature of the
/// same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (`Device::flex()`), the default CPU device.
    Flex,
    /// Burn's deprecated ndarray CPU backend (`Device::ndarray()`).
    NdArray,
    /// Burn's CubeCL backend over wgpu (`Device::wgpu(DeviceKind::DefaultDevice)`): a GPU when
    /// there is one, otherwise a software Vulkan driver such as Mesa's lavapipe.
    Wgpu,
}

/// Why a backend's device could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendKindError {
    /// A name that is not a backend.
    #[error("unknown backend {got:?}: use one of {}", names(BackendKind::ALL))]
    Unknown {
        /// The name that was given.
        got: String,
    },
    /// The backend's Cargo feature is off in this build.
    #[error("backend {name} is not enabled in this build: rebuild with `--features {name}`")]
    NotEnabled {
        /// The backend's name, also its feature's name.
        name: &'static str,
    },
    /// The backend is enabled but no device came up (e.g. no wgpu adapter).
    #[error("backend {name} has no usable device: {reason}")]
    Unavailable {
        /// The backend's name.
        name: &'static str,
        /// What the backend said.
        reason: String,
    },
}

fn names(backends: impl IntoIterator<Item = BackendKind>) -> String {
    backends
        .into_iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl BackendKind {
    /// Every backend, enabled or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::NdArray, BackendKind::Wgpu];

    /// The backend's name, which is also its Cargo feature: `flex`, `ndarray` or `wgpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::NdArray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Whether this build has the backend's feature.
    pub fn is_enabled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::NdArray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends this build has, in the order of [`BackendKind::ALL`].
    pub fn enabled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.is_enabled()).collect()
    }

    /// The backend's device.
    ///
    /// For wgpu the adapter is acquired once per process; the result, a device or the reason
    /// there is none, is kept.
    ///
    /// # Errors
    /// [`BackendKindError::NotEnabled`] if the feature is off, [`BackendKindError::Unavailable`] if
    /// wgpu finds no adapter.
    pub fn device(self) -> Result<Device, BackendKindError> {
        if !self.is_enabled() {
            return Err(BackendKindError::NotEnabled {
                name: self.as_str(),
            });
        }
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn-ndarray is deprecated upstream; our users asked for it.
            BackendKind::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => wgpu_device(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("disabled backends return above"),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, BackendKindError> {
    use std::sync::OnceLock;

    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            Device::wgpu_options()
                .init()
                .map_err(|e| format!("{e} (a machine without a GPU needs a software Vulkan driver, e.g. Debian's mesa-vulkan-drivers)"))
        })
        .clone()
        .map_err(|reason| BackendKindError::Unavailable {
            name: "wgpu",
            reason,
        })
}

crate::names::named_enum!(BackendKind, BackendKindError, |got| {
    BackendKindError::Unknown { got }
});
