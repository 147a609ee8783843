import numpy as np

from sdhd_studio.media.quality import luma, psnr, psnr_y, ssim_y


def test_psnr_follows_the_mean_squared_error():
    a = np.full((32, 48, 3), 100, np.uint8)
    assert psnr(a, a) == float("inf")
    b = a + 5  # MSE 25: 10 log10(255^2 / 25) = 34.15 dB
    assert abs(psnr(a, b) - 34.151) < 1e-3
    assert psnr_y(a, b) > psnr(a, b)  # the studio-range luma moves by only 5 * 219/255 levels


def test_luma_is_studio_range():
    black, white = np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)
    assert abs(luma(black)[0, 0] - 16) < 1e-9 and abs(luma(white)[0, 0] - 235) < 1e-9


def test_ssim_is_one_for_the_same_picture_and_drops_with_noise():
    rng = np.random.default_rng(0)
    ramp = np.linspace(40, 200, 64)
    image = np.dstack([np.add.outer(ramp, ramp) / 2] * 3).astype(np.uint8)
    assert abs(ssim_y(image, image) - 1) < 1e-9
    noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim_y(image, noisy) < 0.9
