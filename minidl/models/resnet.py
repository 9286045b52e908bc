"""Residual networks for CIFAR-sized images (He et al. 2016, section 4.2) and their plain twins.

``cifar_resnet(depth)`` builds the family of depth 6n + 2: a 3x3 convolution, three stages of n
``BasicBlock``s (the second and third start with stride 2 and double the width), global average
pooling and a linear classifier. With ``residual=False`` every block loses its ``+ shortcut(x)``
and nothing else, so a plain and a residual network of one depth match layer for layer: any
difference in how they train comes from the skip connections alone.
"""

from minidl import nn
from minidl.nn import functional as F


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, then ``+ shortcut(x)`` when residual, then ReLU.

    The shortcut is the identity when input and output shapes match; where the block changes the
    width or the resolution it is a 1x1 convolution with the block's stride (then BN, when
    batch_norm): the "projection shortcut", option B of He et al. Without batch norm the
    convolutions get a bias, as there is no BN shift to play its part.
    """

    def __init__(self, in_channels, out_channels, stride=1, residual=True, batch_norm=True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        if not residual:
            return
        if stride != 1 or in_channels != out_channels:
            projection = [nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not batch_norm)]
            if batch_norm:
                projection.append(nn.BatchNorm2d(out_channels))
            self.shortcut = nn.Sequential(*projection)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)

    def zero_init_branch(self):
        """Make the residual branch output zero at the start, so the block begins as the identity.

        With batch norm, its last scale (``bn2.weight``) is set to 0; without, the last convolution.
        """
        last = self.bn2 if isinstance(self.bn2, nn.BatchNorm2d) else self.conv2
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)


class CifarResNet(nn.Module):
    """conv3x3 - stage 1 - stage 2 - stage 3 - global average pool - linear; see ``cifar_resnet``."""

    def __init__(
        self, blocks_per_stage, widths=(16, 32, 64), residual=True, batch_norm=True, in_channels=3, num_classes=10
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
        channels = widths[0]
        for stage, width in enumerate(widths):
            blocks = []
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, residual, batch_norm))
                channels = width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.stages = len(widths)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for stage in range(self.stages):
            out = getattr(self, f"layer{stage + 1}")(out)
        return self.fc(self.avgpool(out).flatten(1))


def cifar_resnet(
    depth, widths=(16, 32, 64), residual=True, batch_norm=True, in_channels=3, num_classes=10, zero_init_residual=False
):
    """The CIFAR ResNet of ``depth`` = 6n + 2 layers (8, 14, 20, 32, 44, 56, 110), or its plain twin.

    Convolutions get Kaiming-normal initialisation (fan_in, for ReLU), as in He et al.
    ``zero_init_residual=True`` starts every residual branch at zero (``BasicBlock.zero_init_branch``):
    a deep residual network without batch norm needs it, since otherwise each block adds its
    branch's variance to the signal and activations grow with depth until the loss is NaN.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet: depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth}")
    if len(widths) != 3:
        raise ValueError(f"cifar_resnet: widths must give three stage widths, got {widths!r}")
    if zero_init_residual and not residual:
        raise ValueError("cifar_resnet: zero_init_residual needs residual=True (a plain block has no branch to zero)")
    model = CifarResNet((depth - 2) // 6, tuple(widths), residual, batch_norm, in_channels, num_classes)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock):
                module.zero_init_branch()
    return model
