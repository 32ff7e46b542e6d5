//! The op under autodiff: the forward pass recorded with a backward pass whose two gradients
//! are the op's own, on the routes the forward call's plan fixed.

use burn::backend::Backend;
use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::tensor::FloatTensor;

use super::NpConvOps;
use crate::plan::ConvPlan;

#[derive(Debug)]
struct NpConvBackward;

impl<B: Backend + NpConvOps> Backward<B, 2> for NpConvBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvPlan);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let gy = grads.consume::<B>(&ops.node);
        let (x, w, plan) = ops.state;
        if let Some(node) = node_x {
            let dx = B::npconv_input_grad(x.clone(), w.clone(), gy.clone(), plan);
            // A leaf (no parents) keeps its gradient in `Gradients` for the caller to read;
            // anything else passes it on to the backward pass of the op that made it.
            let dx = if node.parents.is_empty() {
                B::npconv_leaf_grad(dx)
            } else {
                dx
            };
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, B::npconv_weight_grad(x, w, gy, plan));
        }
    }
}

impl<B: Backend + NpConvOps, C: CheckpointStrategy> NpConvOps for Autodiff<B, C> {
    fn npconv(x: FloatTensor<Self>, w: FloatTensor<Self>, plan: ConvPlan) -> FloatTensor<Self> {
        record::<B, C>(x, w, plan, |x, w| B::npconv(x, w, plan))
    }

    #[cfg(feature = "wgpu")]
    fn npconv_tracked(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        y: FloatTensor<Self>,
        plan: ConvPlan,
    ) -> FloatTensor<Self> {
        let (y, _) = y.into_parts();
        record::<B, C>(x, w, plan, |_, _| y)
    }
}

/// The op's output, `y` of the inner tensors, recorded with the op's backward pass when
/// `x` or `w` is tracked.
fn record<B: Backend + NpConvOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    plan: ConvPlan,
    y: impl FnOnce(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let (x, x_node) = x.into_parts();
    let (w, w_node) = w.into_parts();
    match NpConvBackward
        .prepare::<C>([x_node, w_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = y(x.clone(), w.clone());
            prep.finish((x, w, plan), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y(x, w)),
    }
}
