import numpy as np

from sdhd_studio.media.quality import luma, psnr, psnr_y, speckles, ssim_y


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


def test_speckles_count_isolated_wrong_pixels_not_a_smooth_error():
    rng = np.random.default_rng(3)
    truth = rng.integers(60, 190, (64, 64, 3), dtype=np.uint8)
    brighter = truth + np.uint8(50)  # wrong everywhere alike: no speckle
    assert speckles(brighter, truth) == 0
    spotted = truth.copy()
    spotted[10, 10] = 0  # one pixel far off (by 51 levels or more), and 40 more
    spotted[20:60:5, 20:60:8] = 0
    assert speckles(spotted, truth) == 41 / 64**2
