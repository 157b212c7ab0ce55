"""minicnn.images: loading with documented conversions, clear errors, atomic lossless saving."""

import numpy as np
import pytest
from PIL import Image

from minicnn.images import ImageError, conversion_note, load_image, save_image, to_uint8


def _write(tmp_path, name, img):
    path = tmp_path / name
    img.save(path)
    return path


def test_rgb_roundtrip_is_lossless(tmp_path, rng):
    arr = rng.integers(0, 256, (3, 20, 30)).astype(np.uint8)
    path = save_image(arr, tmp_path / "a.png")
    back = load_image(path)
    assert back.shape == (3, 20, 30) and back.dtype == np.float32
    np.testing.assert_array_equal(to_uint8(back), arr)
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed, not left behind


def test_save_accepts_hw_and_batch_of_one(tmp_path, rng):
    gray = rng.random((17, 19))
    save_image(gray, tmp_path / "g.png")
    np.testing.assert_array_equal(to_uint8(load_image(tmp_path / "g.png", mode="L")[0]), to_uint8(gray))
    save_image(rng.random((1, 3, 16, 16)), tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").shape == (3, 16, 16)
    with pytest.raises(ValueError, match="shape"):
        save_image(rng.random((5, 16, 16)), tmp_path / "c.png")
    with pytest.raises(ValueError, match="suffix"):
        save_image(gray, tmp_path / "c.xyz")


def test_grayscale_is_replicated_to_rgb(tmp_path):
    path = _write(tmp_path, "g.png", Image.fromarray(np.full((20, 20), 128, np.uint8), mode="L"))
    rgb = load_image(path)
    assert rgb.shape == (3, 20, 20)
    np.testing.assert_allclose(rgb, 128 / 255)
    assert "grayscale" in conversion_note(path)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255            # red ...
    rgba[:, :8, 3] = 255          # ... opaque on the left half
    rgba[:, 8:, 3] = 0            # ... fully transparent on the right half
    path = _write(tmp_path, "a.png", Image.fromarray(rgba, mode="RGBA"))
    img = load_image(path)
    np.testing.assert_allclose(img[:, :, :8], np.array([1, 0, 0])[:, None, None] * np.ones((3, 16, 8)))
    np.testing.assert_allclose(img[:, :, 8:], 1.0)  # white
    assert "alpha" in conversion_note(path)


def test_palette_and_cmyk_and_16bit(tmp_path, rng):
    rgb = Image.fromarray(rng.integers(0, 256, (20, 24, 3)).astype(np.uint8))
    p = _write(tmp_path, "p.png", rgb.convert("P"))
    assert load_image(p).shape == (3, 20, 24)
    assert "palette" in conversion_note(p)
    c = _write(tmp_path, "c.jpg", rgb.convert("CMYK"))
    assert load_image(c).shape == (3, 20, 24)
    deep = Image.fromarray(np.full((18, 18), 65535, np.uint16))
    d = _write(tmp_path, "d.png", deep)
    np.testing.assert_allclose(load_image(d, mode="L"), 1.0)


def test_mode_l_uses_luma_weights(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 1] = 255  # pure green
    path = _write(tmp_path, "g.png", Image.fromarray(rgb))
    np.testing.assert_allclose(load_image(path, mode="L"), 0.587, atol=1e-6)


def test_resize_options(tmp_path, rng):
    path = _write(tmp_path, "r.png", Image.fromarray(rng.integers(0, 256, (60, 120, 3)).astype(np.uint8)))
    assert load_image(path, size=40).shape == (3, 20, 40)  # longer side 40, aspect kept
    assert load_image(path, size=(32, 16)).shape == (3, 32, 16)
    with pytest.raises(TypeError, match="size"):
        load_image(path, size="big")
    with pytest.raises(ValueError, match="size"):
        load_image(path, size=8)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="junk.png"):
        load_image(junk)
    tiny = _write(tmp_path, "tiny.png", Image.new("RGB", (8, 40)))
    with pytest.raises(ImageError, match="at least 16"):
        load_image(tiny)
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(ValueError, match="mode"):
        load_image(tiny, mode="CMYK")


def test_truncated_file(tmp_path, rng):
    path = save_image(rng.random((3, 64, 64)), tmp_path / "t.png")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="t.png"):
        load_image(path)


def test_huge_image_needs_size(tmp_path):
    path = _write(tmp_path, "big.png", Image.new("RGB", (400, 300), (10, 20, 30)))
    with pytest.raises(ImageError, match="max_pixels"):
        load_image(path, max_pixels=100_000)
    img = load_image(path, size=100, max_pixels=100_000)
    assert img.shape == (3, 75, 100)


def test_to_uint8_clips_and_rejects_nan():
    np.testing.assert_array_equal(to_uint8(np.array([-1.0, 0.0, 0.5, 1.0, 2.0])), [0, 0, 128, 255, 255])
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.array([np.nan]))
