//! Streaming: the layer applied chunk by chunk, with carried-over state, giving exactly what
//! `forward` gives on the whole signal.

#[cfg(cpu_kernels)]
use burn::tensor::TensorData;
use burn::tensor::{DType, Device, Tensor};

use crate::boundary::Boundary;
#[cfg(cpu_kernels)]
use crate::cpu::stream::HostFir;
use crate::dtype::cast;
use crate::error::ConvolveError;
use crate::functional::{check_weight, run};
use crate::geometry::Geometry;
use crate::layer::NpConvolve1d;
use crate::method::Method;
use crate::mode::{Mode, Operation, window};
#[cfg(cpu_kernels)]
use crate::plan::StreamKernel;
use crate::plan::{StreamPlan, StreamRoute};

/// A stream through an [`NpConvolve1d`]: push chunks of the signal, get every output they
/// determine, then [`finish`](Self::finish) for the rest. Made by [`NpConvolve1d::stream`].
///
/// The concatenation of every [`push`](Self::push) output and of [`finish`](Self::finish)
/// equals [`NpConvolve1d::forward`] of the concatenated chunks (the same values the same way
/// computed up to the rounding of a sum taken in another order), in the layer's mode:
///
/// - [`Mode::Causal`]: a chunk of `n` samples gives `n` outputs at once, no latency;
///   `finish` gives none;
/// - [`Mode::Full`]: `n` outputs per chunk; `finish` gives the last `M - 1`;
/// - [`Mode::Same`], [`Mode::Valid`]: nothing until `M` samples have arrived (until then the
///   signal may end up shorter than the kernel, which moves NumPy's window), then every output
///   the samples determine; `finish` gives the rest.
///
/// Chunks may have any length, 1 and 0 included. Boundaries: [`Boundary::Zeros`] and
/// [`Boundary::Constant`] in every mode, [`Boundary::Edge`] in causal mode (the padding before
/// the signal repeats its first sample); the other combinations need samples a stream does not
/// have when it must answer, and [`NpConvolve1d::try_stream`] says so.
///
/// On flex and ndarray (f32 and f64) the stream runs a host engine: the direct kernel for short
/// kernels, else a uniformly partitioned FFT convolution (blocks of the first chunk's length,
/// rounded down to a power of two), which never recomputes the whole kernel per sample and
/// keeps NumPy's NaN, infinities and, under [`Method::Auto`], the direct sum's accuracy. On
/// other devices each chunk runs through [`convolve1d`](crate::convolve1d)'s paths with the
/// last `M - 1` samples before it. Streams compute values, not gradients: the outputs are not
/// tracked by autodiff.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_npconv::{Mode, NpConvolve1d};
///
/// let device = Device::flex();
/// let layer = NpConvolve1d::from_kernel(Tensor::from_floats([1.0, 0.5, 0.25], &device), Mode::Causal);
/// let mut stream = layer.stream();
/// let a = stream.push(Tensor::from_floats([[[1.0, 0.0]]], &device));
/// let b = stream.push(Tensor::from_floats([[[0.0, 2.0, 0.0]]], &device));
/// let rest = stream.finish();
/// assert_eq!(a.into_data().iter::<f32>().collect::<Vec<_>>(), [1.0, 0.5]);
/// assert_eq!(b.into_data().iter::<f32>().collect::<Vec<_>>(), [0.25, 2.0, 1.0]);
/// assert_eq!(rest.dims(), [1, 1, 0]);
/// ```
pub struct Convolve1dStream {
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    groups: usize,
    mode: Mode,
    method: Method,
    device: Device,
    /// The boundary's constant (0 for zeros).
    fill: f64,
    /// Causal mode with the edge rule: the padding before the signal is its first sample.
    edge: bool,
    batch: Option<usize>,
    /// The dtype of the first chunk: every chunk has it.
    dtype: Option<DType>,
    /// The stream's plan, made at the first chunk with samples.
    plan: Option<StreamPlan>,
    /// Samples pushed.
    seen: usize,
    /// Whether the window's start is known (and the pending outputs before it dropped).
    started: bool,
    /// Outputs at full positions `0 .. seen` kept until the start is known.
    pending: Option<Tensor<3>>,
    engine: Option<Engine>,
}

enum Engine {
    /// Any device: the last `M - 1` samples (fewer at the start of a zero boundary, whose
    /// zeros are padding: absent from NumPy's sums), as a tensor.
    Tensors(Tensor<3>),
    #[cfg(cpu_kernels)]
    Host32(HostFir<f32>),
    #[cfg(cpu_kernels)]
    Host64(HostFir<f64>),
}

#[cfg(cpu_kernels)]
impl From<HostFir<f32>> for Engine {
    fn from(fir: HostFir<f32>) -> Engine {
        Engine::Host32(fir)
    }
}

#[cfg(cpu_kernels)]
impl From<HostFir<f64>> for Engine {
    fn from(fir: HostFir<f64>) -> Engine {
        Engine::Host64(fir)
    }
}

impl NpConvolve1d {
    /// A [`Convolve1dStream`] through this layer (a copy of its weights: training the layer
    /// afterwards does not change the stream).
    ///
    /// # Panics
    /// With the message of the [`ConvolveError::StreamBoundary`] that
    /// [`try_stream`](Self::try_stream) returns for a boundary rule that copies samples.
    pub fn stream(&self) -> Convolve1dStream {
        self.try_stream().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`stream`](Self::stream) that returns an error for a boundary it cannot stream.
    ///
    /// # Errors
    /// [`ConvolveError::StreamBoundary`] for [`Boundary::Reflect`], [`Boundary::Symmetric`],
    /// [`Boundary::Edge`] and [`Boundary::Wrap`]; for a weight or bias that
    /// [`try_forward`](Self::try_forward) would reject (a weight replaced by one with no taps,
    /// say), the same error.
    pub fn try_stream(&self) -> Result<Convolve1dStream, ConvolveError> {
        let why = match self.boundary {
            Boundary::Zeros | Boundary::Constant(_) => None,
            Boundary::Wrap => {
                Some("the padding before the signal copies its end, which comes last")
            }
            Boundary::Reflect | Boundary::Symmetric => Some(
                "the padding mirrors samples at both ends: the end is not known until finish and the start would add latency",
            ),
            Boundary::Edge => {
                Some("the padding after the signal repeats its last sample, which comes last")
            }
        };
        let weight = self.weight.val();
        let bias = self.bias.as_ref().map(|b| b.val());
        check_weight(&weight, bias.as_ref(), self.groups, Operation::Convolution)?;
        if let Some(why) = why
            && !(self.boundary == Boundary::Edge && self.mode == Mode::Causal)
        {
            return Err(ConvolveError::StreamBoundary {
                boundary: self.boundary.to_string(),
                mode: self.mode.to_string(),
                why,
            });
        }
        let weight = weight.detach();
        Ok(Convolve1dStream {
            device: weight.device(),
            weight,
            bias: bias.map(|b| b.detach()),
            groups: self.groups,
            mode: self.mode,
            method: self.method,
            fill: self.boundary.constant().unwrap_or(f64::NAN),
            edge: self.boundary == Boundary::Edge,
            batch: None,
            dtype: None,
            plan: None,
            seen: 0,
            started: matches!(self.mode, Mode::Full | Mode::Causal),
            pending: None,
            engine: None,
        })
    }
}

impl Convolve1dStream {
    /// Pushes a chunk and returns every output that the samples seen so far determine and
    /// that was not returned before.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels_in, n]`, `n >= 0`; the batch is fixed by the first chunk.
    /// - returns: `[batch, channels_out, k]`: `k = n` in causal and full mode, see
    ///   [`Convolve1dStream`] for the others.
    ///
    /// # Panics
    /// With the message of the [`ConvolveError`] that [`try_push`](Self::try_push) returns.
    pub fn push(&mut self, x: Tensor<3>) -> Tensor<3> {
        self.try_push(x).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`push`](Self::push) that returns an error instead of panicking; the stream is left
    /// as it was.
    ///
    /// # Shapes
    /// As [`push`](Self::push).
    ///
    /// # Errors
    /// [`ConvolveError::StreamChunk`] (wrong batch or channel count),
    /// [`ConvolveError::StreamDType`] (a dtype other than the first chunk's),
    /// [`ConvolveError::DeviceMismatch`], [`ConvolveError::UnsupportedDType`], and a device's
    /// failure ([`ConvolveError::DeviceFailure`], [`ConvolveError::RemoteDevice`]): after any
    /// of them the stream is as it was before the call, and pushing the chunk again gives
    /// what one successful push would have.
    pub fn try_push(&mut self, x: Tensor<3>) -> Result<Tensor<3>, ConvolveError> {
        let [batch, channels, n] = x.dims();
        let cin = self.weight.dims()[1] * self.groups;
        if channels != cin || self.batch.is_some_and(|b| b != batch) || batch == 0 {
            return Err(ConvolveError::StreamChunk {
                got: x.dims().to_vec(),
                batch: self.batch.unwrap_or(batch.max(1)),
                channels_in: cin,
                fixed_by: if self.batch.is_some() {
                    "the first chunk"
                } else {
                    "the layer"
                },
            });
        }
        if x.device() != self.device {
            return Err(ConvolveError::DeviceMismatch {
                what: "stream chunk and layer",
                first: format!("{:?}", x.device()),
                second: format!("{:?}", self.device),
            });
        }
        let plan = match self.plan {
            Some(plan) => plan,
            None => StreamPlan::new(
                &self.device,
                (x.dtype(), self.weight.dtype()),
                self.method,
                self.weight.dims()[2],
                n,
            )?,
        };
        if let Some(first) = self.dtype
            && x.dtype() != first
        {
            return Err(ConvolveError::StreamDType {
                first: format!("{first:?}"),
                got: format!("{:?}", x.dtype()),
            });
        }
        let (compute, out_dtype) = (plan.compute, plan.dtype);
        if n == 0 {
            self.batch = Some(batch);
            self.dtype = Some(x.dtype());
            return Ok(self.empty(batch, out_dtype));
        }
        // Nothing is changed until the chunk went through: a failed push leaves the stream as
        // it was, and a retry gives what one successful push would have.
        let dtype = x.dtype();
        let x = cast(x, compute);
        let fresh = self.engine.is_none();
        if fresh {
            // The first chunk with samples fixes the plan: its length sizes the FFT's blocks.
            self.plan = Some(plan);
            self.engine = Some(self.start(&x, plan));
        }
        let y = match self.core(x) {
            Ok(y) => y,
            Err(e) => {
                if fresh {
                    (self.plan, self.engine) = (None, None);
                }
                return Err(e);
            }
        };
        self.batch = Some(batch);
        self.dtype = Some(dtype);
        self.seen += n;
        let y = if self.started {
            y
        } else {
            let pending = match self.pending.take() {
                Some(p) => Tensor::cat(vec![p, y], 2),
                None => y,
            };
            let m = self.weight.dims()[2];
            if self.seen >= m {
                // Whatever the final length, NumPy's window now starts here.
                let (start, _) = window(self.seen, m, self.mode, Operation::Convolution);
                self.started = true;
                pending.slice([0..batch, 0..self.cout(), start..self.seen])
            } else {
                self.pending = Some(pending);
                return Ok(self.empty(batch, out_dtype));
            }
        };
        Ok(self.finishing_touches(y, out_dtype))
    }

    /// Ends the stream: the outputs after the last sample (the boundary's padding), and, in
    /// same and valid mode on a signal shorter than the kernel, every output.
    ///
    /// # Shapes
    /// - returns: `[batch, channels_out, k]`.
    ///
    /// # Panics
    /// With the message of the [`ConvolveError`] that [`try_finish`](Self::try_finish) returns.
    pub fn finish(self) -> Tensor<3> {
        self.try_finish().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`finish`](Self::finish) that returns an error instead of panicking.
    ///
    /// # Shapes
    /// As [`finish`](Self::finish).
    ///
    /// # Errors
    /// [`ConvolveError::EmptySignal`] when no sample was pushed (NumPy's `a cannot be empty`).
    pub fn try_finish(mut self) -> Result<Tensor<3>, ConvolveError> {
        let (batch, out_dtype) = match (self.batch, self.plan, self.seen) {
            (Some(b), Some(plan), seen) if seen > 0 => (b, plan.dtype),
            _ => {
                return Err(ConvolveError::EmptySignal {
                    op: Operation::Convolution,
                    shape: vec![
                        self.batch.unwrap_or(0),
                        self.weight.dims()[1] * self.groups,
                        0,
                    ],
                });
            }
        };
        let m = self.weight.dims()[2];
        let (start, len) = window(self.seen, m, self.mode, Operation::Convolution);
        let end = start + len;
        let extra = end - self.seen;
        let y = if extra > 0 {
            // The boundary after the signal: zeros (padding) or the constant (causal mode has
            // none).
            self.core_end(extra)?
        } else {
            self.empty(batch, self.compute())
        };
        let y = if self.started {
            y
        } else {
            let pending = match self.pending.take() {
                Some(p) => Tensor::cat(vec![p, y], 2),
                None => y,
            };
            pending.slice([0..batch, 0..self.cout(), start..end])
        };
        Ok(self.finishing_touches(y, out_dtype))
    }

    /// The dtype the stream computes in (fixed by the first chunk).
    fn compute(&self) -> DType {
        self.plan.expect("planned by the first chunk").compute
    }

    fn cout(&self) -> usize {
        self.weight.dims()[0]
    }

    fn empty(&self, batch: usize, dtype: DType) -> Tensor<3> {
        Tensor::zeros([batch, self.cout(), 0], (&self.device, dtype))
    }

    /// The bias and the output dtype.
    fn finishing_touches(&self, y: Tensor<3>, dtype: DType) -> Tensor<3> {
        let y = match &self.bias {
            Some(bias) => {
                let bias = cast(bias.clone(), y.dtype()).reshape([1, self.cout(), 1]);
                y + bias
            }
            None => y,
        };
        cast(y, dtype)
    }

    /// Whether the boundary is zeros: padding, absent from NumPy's sums (which matters where a
    /// kernel tap is NaN or infinite).
    fn zero_padding(&self) -> bool {
        !self.edge && self.fill == 0.0
    }

    /// The boundary before the signal: the constant, or (causal, edge) the first sample of `x`
    /// repeated, `[batch, cin, len]`.
    /// `len` samples of it (`M - 1` for the tensor engine).
    fn before(&self, x: &Tensor<3>, compute: DType, len: usize) -> Tensor<3> {
        let [batch, cin, _] = x.dims();
        if self.edge {
            x.clone().slice([0..batch, 0..cin, 0..1]).repeat_dim(2, len)
        } else {
            Tensor::full([batch, cin, len], self.fill, (&self.device, compute))
        }
    }

    /// The engine of the stream's plan, holding the boundary before the signal.
    fn start(&self, x: &Tensor<3>, plan: StreamPlan) -> Engine {
        let compute = plan.compute;
        match plan.route {
            #[cfg(cpu_kernels)]
            StreamRoute::Host(kernel) => self.start_host(x, compute, kernel),
            #[cfg(not(cpu_kernels))]
            StreamRoute::Host(_) => unreachable!("no host engine in this build"),
            StreamRoute::Tensors => {
                let m = self.weight.dims()[2];
                let len = if self.zero_padding() { 0 } else { m - 1 };
                Engine::Tensors(self.before(x, compute, len))
            }
        }
    }

    /// The host engine running `kernel`, holding the boundary before the signal.
    #[cfg(cpu_kernels)]
    fn start_host(&self, x: &Tensor<3>, compute: DType, kernel: StreamKernel) -> Engine {
        let [batch, cin, _] = x.dims();
        let [cout, cpg, m] = self.weight.dims();
        // The boundary before the signal, `M - 1` samples or more: rounded up to whole
        // blocks, so that chunks of the block size complete whole blocks.
        let block = match kernel {
            StreamKernel::Partitioned { block, .. } => block,
            StreamKernel::Direct => 1,
        };
        let pre = (m - 1).next_multiple_of(block);
        let before = self.before(x, compute, pre);
        // The zero fill before the signal adds no FFT error: neutral for the guard.
        let neutral = if self.zero_padding() { pre } else { 0 };
        let w = cast(self.weight.clone(), compute).into_data();
        let b = before.into_data();
        crate::dtype::with_real!(compute, T => {
            let h: Vec<T> = w.iter::<T>().collect();
            let mut fir = HostFir::new(batch, cin, self.groups, h, [cout, cpg, m], kernel, neutral);
            let before: Vec<T> = b.iter::<T>().collect();
            fir.ingest(&before, pre);
            Engine::from(fir)
        })
    }

    /// The `extra` outputs after the last sample, through the boundary after the signal.
    fn core_end(&mut self, extra: usize) -> Result<Tensor<3>, ConvolveError> {
        let (batch, compute) = (self.batch.expect("set"), self.compute());
        let cin = self.weight.dims()[1] * self.groups;
        let zero_padding = self.zero_padding();
        match self.engine.as_mut().expect("started by the first chunk") {
            Engine::Tensors(buf) if zero_padding => {
                let m = self.weight.dims()[2];
                let tail = buf.clone();
                let pad = (m - 1 - tail.dims()[2], extra);
                let g = Geometry::padded(tail.dims(), self.weight.dims(), self.groups, pad, true);
                let w = cast(self.weight.clone(), compute);
                return run(tail, w, None, g, self.method, Boundary::Zeros);
            }
            // The host engines take the zeros as samples marked absent from NumPy's sums.
            #[cfg(cpu_kernels)]
            Engine::Host32(fir) if zero_padding => fir.mark_end(),
            #[cfg(cpu_kernels)]
            Engine::Host64(fir) if zero_padding => fir.mark_end(),
            _ => {}
        }
        let pad = Tensor::full([batch, cin, extra], self.fill, (&self.device, compute));
        self.core(pad)
    }

    /// Pushes `x` through the engine: the full-mode outputs at its positions, `[batch, cout, n]`.
    fn core(&mut self, x: Tensor<3>) -> Result<Tensor<3>, ConvolveError> {
        let [batch, _, _] = x.dims();
        let compute = self.compute();
        #[cfg(cpu_kernels)]
        let cout = self.cout();
        match self.engine.as_mut().expect("started by the first chunk") {
            Engine::Tensors(buf) => {
                let m = self.weight.dims()[2];
                // Fewer than `M - 1` samples before `x` only at the start of a zero boundary.
                let left = m - 1 - buf.dims()[2];
                let seg = Tensor::cat(vec![buf.clone(), x], 2);
                let len = seg.dims()[2];
                let [_, cin, _] = seg.dims();
                let tail = seg
                    .clone()
                    .slice([0..batch, 0..cin, len - (m - 1).min(len)..len]);
                let g =
                    Geometry::padded(seg.dims(), self.weight.dims(), self.groups, (left, 0), true);
                let w = cast(self.weight.clone(), compute);
                let y = run(seg, w, None, g, self.method, Boundary::Zeros)?;
                #[cfg(test)]
                faults::fail_if_injected(&self.device)?;
                // Only now: a failed chunk leaves the samples before it as they were.
                *buf = tail;
                Ok(y)
            }
            #[cfg(cpu_kernels)]
            Engine::Host32(fir) => {
                #[cfg(test)]
                faults::fail_if_injected(&self.device)?;
                Ok(host_chunk(fir, x, cout, compute))
            }
            #[cfg(cpu_kernels)]
            Engine::Host64(fir) => {
                #[cfg(test)]
                faults::fail_if_injected(&self.device)?;
                Ok(host_chunk(fir, x, cout, compute))
            }
        }
    }
}

/// `x` `[batch, cin, n]` through a host engine: `[batch, cout, n]`, in `compute` on `x`'s
/// device.
#[cfg(cpu_kernels)]
fn host_chunk<T: crate::cpu::Real>(
    fir: &mut HostFir<T>,
    x: Tensor<3>,
    cout: usize,
    compute: DType,
) -> Tensor<3> {
    let [batch, _, n] = x.dims();
    let device = x.device();
    let data = x.into_data();
    let y = fir.ingest(
        data.as_slice::<T>().expect("a chunk in the stream's dtype"),
        n,
    );
    Tensor::from_data(TensorData::new(y, [batch, cout, n]), (&device, compute))
}

/// Failures injected into a stream's next chunk, for the tests of its rollback: the tensor
/// engine fails after computing the chunk (as a device that fails to run it), the host engine
/// before reading it.
#[cfg(test)]
pub(crate) mod faults {
    use std::cell::Cell;

    use burn::tensor::Device;

    use crate::error::ConvolveError;

    thread_local! {
        static FAIL_NEXT: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes the next chunk pushed on this thread fail.
    #[cfg(feature = "flex")]
    pub(crate) fn inject() {
        FAIL_NEXT.with(|f| f.set(true));
    }

    pub(super) fn fail_if_injected(device: &Device) -> Result<(), ConvolveError> {
        if FAIL_NEXT.with(|f| f.replace(false)) {
            Err(ConvolveError::DeviceFailure {
                device: format!("{device:?}"),
                reason: "a failure injected by a test".into(),
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests;
