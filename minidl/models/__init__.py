"""Ready-made networks: the CIFAR ResNet family and its plain twins, and gradient-flow instrumentation."""

from minidl.models.gradient_flow import gradient_flow, gradient_norms
from minidl.models.resnet import BasicBlock, CifarResNet, cifar_resnet

__all__ = ["BasicBlock", "CifarResNet", "cifar_resnet", "gradient_flow", "gradient_norms"]
