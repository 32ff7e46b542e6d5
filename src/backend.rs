//! Picking a Burn device by backend name, for examples, benches and tests.

use core::fmt;
use core::str::FromStr;

use burn::tensor::Device;

/// The Burn backends this crate is built and tested for, each behind the Cargo feature of the
/// same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
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
pub enum BackendError {
    /// A name that is not a backend.
    #[error("unknown backend {got:?}: use one of {}", names(Backend::ALL))]
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

fn names(backends: impl IntoIterator<Item = Backend>) -> String {
    backends
        .into_iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Backend {
    /// Every backend, enabled or not.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::NdArray, Backend::Wgpu];

    /// The backend's name, which is also its Cargo feature: `flex`, `ndarray` or `wgpu`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this build has the backend's feature.
    pub fn is_enabled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends this build has, in the order of [`Backend::ALL`].
    pub fn enabled() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_enabled()).collect()
    }

    /// The backend's device.
    ///
    /// For wgpu the adapter is acquired once per process; the result, a device or the reason
    /// there is none, is kept.
    ///
    /// # Errors
    /// [`BackendError::NotEnabled`] if the feature is off, [`BackendError::Unavailable`] if
    /// wgpu finds no adapter.
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.is_enabled() {
            return Err(BackendError::NotEnabled { name: self.name() });
        }
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn-ndarray is deprecated upstream; our users asked for it.
            Backend::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => wgpu_device(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("disabled backends return above"),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, BackendError> {
    use std::sync::OnceLock;

    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            Device::wgpu_options()
                .init()
                .map_err(|e| format!("{e} (a machine without a GPU needs a software Vulkan driver, e.g. Debian's mesa-vulkan-drivers)"))
        })
        .clone()
        .map_err(|reason| BackendError::Unavailable {
            name: "wgpu",
            reason,
        })
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| BackendError::Unknown { got: s.to_string() })
    }
}
