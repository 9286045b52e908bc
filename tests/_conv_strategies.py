"""Hypothesis strategies shared by the convolution and pooling tests: NCHW geometries whose kernel fits."""

from hypothesis import strategies as st


@st.composite
def conv_geometries(draw, max_batch=3, max_channels=3, max_side=7, max_kernel=4, max_stride=3, max_padding=2):
    """(batch, channels, height, width, kernel_size, stride, padding) with the kernel no larger than the
    padded input; sometimes the kernel is exactly as large as the padded input."""
    batch = draw(st.integers(1, max_batch))
    channels = draw(st.integers(1, max_channels))
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    padding = (draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    if draw(st.booleans()):
        kernel = (min(padded[0], max_kernel + 2), min(padded[1], max_kernel + 2))
    else:
        kernel = (draw(st.integers(1, min(padded[0], max_kernel))), draw(st.integers(1, min(padded[1], max_kernel))))
    return batch, channels, height, width, kernel, stride, padding


@st.composite
def pool_geometries(draw, max_batch=3, max_channels=3, max_side=7, max_kernel=4, max_stride=3):
    """As conv_geometries, with padding at most half the kernel (PyTorch's rule for pooling)."""
    batch = draw(st.integers(1, max_batch))
    channels = draw(st.integers(1, max_channels))
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    kernel = (draw(st.integers(1, min(height, max_kernel))), draw(st.integers(1, min(width, max_kernel))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    return batch, channels, height, width, kernel, stride, padding
