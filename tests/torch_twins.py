"""PyTorch twins of minidl's models, built layer for layer with the same names, for comparison tests
and benchmarks. Imported only where torch is installed; minidl itself never imports torch."""

import torch
from torch import nn


class TorchBasicBlock(nn.Module):
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
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return torch.relu(out)


class TorchCifarResNet(nn.Module):
    def __init__(self, depth, widths=(16, 32, 64), residual=True, batch_norm=True, in_channels=3, num_classes=10):
        super().__init__()
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
        channels = widths[0]
        for stage, width in enumerate(widths):
            blocks = []
            for index in range(blocks_per_stage):
                blocks.append(
                    TorchBasicBlock(channels, width, 2 if stage > 0 and index == 0 else 1, residual, batch_norm)
                )
                channels = width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(self.avgpool(out), 1))


def load_minidl_state(torch_model, minidl_model):
    """Copy minidl's weights and buffers into the torch twin, by name."""
    state = {name: torch.from_numpy(value.copy()) for name, value in minidl_model.state_dict().items()}
    torch_model.load_state_dict(state, strict=True)
    return torch_model
