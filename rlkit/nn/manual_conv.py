"""The MinAtar CNN's forward and backward passes by hand, as `rlkit.nn.manual_mlp` does for MLPs.

On MinAtar's 10x10 grids the network is tiny (one 3x3 conv of 16 channels, 128 units) and a
training step on a CPU is mostly per-operation overhead: autograd's graph, module hooks, and
oneDNN's setup of a convolution over a handful of pixels. `ManualMinAtarCNN` runs the
convolution as one matrix product over the input's 3x3 patches (im2col) and the dense layer as
another, keeps what backward needs, and writes the gradients straight into the parameters'
`.grad` views, replacing what was there: the same products as autograd, up to float rounding
(checked against autograd in tests/test_flatmlp.py), in about half the time.
"""

from __future__ import annotations

import torch
from torch import nn

from rlkit.nn.manual_mlp import Activations, ManualMLP, linear_grads
from rlkit.nn.networks import MinAtarCNN


class ManualMinAtarCNN:
    """A `MinAtarCNN` (conv 3x3 stride 1, ReLU, flatten, Linear, ReLU) run without autograd.

    The tape: the input's patches (one row per output pixel, in (kh, kw, channel) order), the
    conv's output rows (ReLU applied), that output flattened as torch's Flatten orders it
    (channel, h, w), and the trunk's output."""

    def __init__(self, trunk: MinAtarCNN) -> None:
        if not self.supports(trunk):
            raise ValueError("ManualMinAtarCNN needs a MinAtarCNN")
        conv, fc = trunk.conv[0], trunk.fc[0]
        assert isinstance(conv, nn.Conv2d)
        assert isinstance(fc, nn.Linear)
        assert conv.bias is not None
        self.conv, self.fc, self.conv_bias = conv, fc, conv.bias
        self.layers: list[nn.Module] = [conv, fc]

    @staticmethod
    def supports(trunk: nn.Module) -> bool:
        """True for rlkit's MinAtarCNN (a 3x3, stride 1, unpadded conv under a dense layer)."""
        if not isinstance(trunk, MinAtarCNN):
            return False
        conv = trunk.conv[0]
        return (
            isinstance(conv, nn.Conv2d)
            and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1)
            and conv.padding == (0, 0)
            and conv.dilation == (1, 1)
            and conv.groups == 1
            and conv.bias is not None
        )

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> Activations:
        """The tape (see the class); its last entry is the trunk's output."""
        grids = obs.float()  # (B, H, W, C), channel last
        batch, height, width = grids.shape[0], grids.shape[1] - 2, grids.shape[2] - 2
        patches = grids.unfold(1, 3, 1).unfold(2, 3, 1)  # (B, h, w, C, 3, 3)
        patches = patches.permute(0, 1, 2, 4, 5, 3).reshape(batch * height * width, -1)
        # the kernel as (out, 3 * 3 * in) rows in the patches' order: a view of channels-last
        # memory (rlkit's flat buffers), a copy otherwise
        kernel = self.conv.weight.permute(0, 2, 3, 1).reshape(self.conv.out_channels, -1)
        pixels = torch.addmm(self.conv_bias, patches, kernel.t()).relu_()
        channels = self.conv.out_channels
        flat = pixels.view(batch, height, width, channels).permute(0, 3, 1, 2).reshape(batch, -1)
        out = torch.addmm(self.fc.bias, flat, self.fc.weight.t()).relu_()
        return [patches, pixels, flat, out]

    @torch.no_grad()
    def backward(self, grad_out: torch.Tensor, activations: Activations) -> None:
        """Write the conv's and the dense layer's dLoss/dparameter, given dLoss/d(output)."""
        patches, pixels, flat, out = activations
        grad_z = torch.ops.aten.threshold_backward(grad_out, out, 0.0)
        linear_grads(self.fc, grad_z, flat)
        batch, channels = grad_out.shape[0], self.conv.out_channels
        height_width = pixels.shape[0] // batch
        grad_flat = grad_z.mm(self.fc.weight).view(batch, channels, height_width)
        grad_pixels = grad_flat.transpose(1, 2).reshape(-1, channels)
        grad_pixels = torch.ops.aten.threshold_backward(grad_pixels, pixels, 0.0)
        weight_grad, bias_grad = self.conv.weight.grad, self.conv_bias.grad
        assert weight_grad is not None
        assert bias_grad is not None
        kernel_grad = weight_grad.permute(0, 2, 3, 1)  # (out, 3, 3, in): writes reach .grad
        kernel_grad.copy_(grad_pixels.t().mm(patches).view(kernel_grad.shape))
        torch.sum(grad_pixels, dim=0, out=bias_grad)


def manual_trunk(trunk: nn.Module) -> ManualMLP | ManualMinAtarCNN | None:
    """The hand-written pass of an MLP or MinAtar-CNN trunk; None for any other trunk."""
    if ManualMLP.supports(trunk):
        return ManualMLP(trunk)  # type: ignore[arg-type]
    if ManualMinAtarCNN.supports(trunk):
        return ManualMinAtarCNN(trunk)  # type: ignore[arg-type]
    return None
