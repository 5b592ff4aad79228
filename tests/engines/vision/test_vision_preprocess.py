"""Decoding every kind of image file and preprocessing exactly as the reference transforms do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engines.base import EngineError, ErrorKind
from engines.vision.decode import decode_image
from engines.vision.files import collect_images
from engines.vision.preprocess import PreprocessConfig, config_from_timm, preprocess

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "images"


@pytest.mark.parametrize(("interpolation", "crop_pct"), [("bilinear", 0.875), ("bicubic", 0.95)])
def test_preprocess_matches_torchvision_eval_transform(interpolation: str, crop_pct: float) -> None:
    from torchvision import transforms

    config = config_from_timm({"input_size": [3, 224, 224], "crop_pct": crop_pct, "interpolation": interpolation,
                               "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, "test")
    assert config.resize_size == int(224 / crop_pct)
    mode = {"bilinear": transforms.InterpolationMode.BILINEAR, "bicubic": transforms.InterpolationMode.BICUBIC}
    reference = transforms.Compose([
        transforms.Resize(config.resize_size, interpolation=mode[interpolation]),
        transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(config.mean, config.std)])
    for name in ("chelsea.jpg", "rocket.jpg", "astronaut.jpg"):
        image = Image.open(SAMPLES / name).convert("RGB")
        ours, ms = preprocess(image, config)
        theirs = reference(image).numpy()
        assert ours.shape == theirs.shape == (3, 224, 224)
        # Resampling only the kept region rounds a few pixels to the neighbouring grey level.
        grey_level = 1.0 / 255 / min(config.std)
        assert np.abs(ours - theirs).max() <= grey_level * 1.01
        assert np.abs(ours - theirs).mean() < grey_level * 1e-2
        assert ms > 0


def test_normalisation_is_bit_exact_with_torchvision() -> None:
    from torchvision import transforms

    from engines.vision.preprocess import to_array

    config = PreprocessConfig()
    crop = Image.open(SAMPLES / "coffee.jpg").convert("RGB").crop((0, 0, 224, 224))
    reference = transforms.Normalize(config.mean, config.std)(transforms.ToTensor()(crop)).numpy()
    assert np.array_equal(to_array(crop, config), reference)


def test_preprocess_squash_and_small_images() -> None:
    squash = PreprocessConfig(input_size=(32, 32), resize_size=32, crop_mode="squash")
    array, _ = preprocess(Image.new("RGB", (300, 100), (255, 0, 0)), squash)
    assert array.shape == (3, 32, 32)
    assert np.allclose(array[0], (1.0 - 0.485) / 0.229, atol=1e-5)
    # An image smaller than the crop is padded with zeros, as torchvision's CenterCrop does.
    tiny, _ = preprocess(Image.new("RGB", (10, 10), (255, 255, 255)),
                         PreprocessConfig(input_size=(16, 16), resize_size=10))
    assert tiny.shape == (3, 16, 16)


def test_bad_preprocess_settings_are_refused() -> None:
    with pytest.raises(EngineError) as info:
        PreprocessConfig(interpolation="magic")
    assert info.value.kind is ErrorKind.BAD_INPUT and "magic" in info.value.message
    with pytest.raises(EngineError):
        config_from_timm({"input_size": [1, 28, 28]}, "gray model")


def test_awkward_but_valid_images_decode_to_rgb(mixed_folder: Path) -> None:
    expectations = {"b_gray.png": ("L", "grayscale"), "c_cmyk.jpg": ("CMYK", "CMYK"),
                    "d_rgba.png": ("RGBA", "transparency"), "e_gray16.png": ("I;16", "16-bit")}
    for name, (mode, note) in expectations.items():
        decoded = decode_image(mixed_folder / name)
        assert decoded.image.mode == "RGB"
        assert decoded.mode == mode
        assert any(note in n for n in decoded.notes), (name, decoded.notes)
    gray16 = np.asarray(decode_image(mixed_folder / "e_gray16.png").image)
    gray8 = np.asarray(decode_image(mixed_folder / "b_gray.png").image)
    assert np.abs(gray16.astype(int) - gray8.astype(int)).max() <= 1  # 16-bit scaled back to the same 8-bit


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    decoded = decode_image(tmp_path / "rotated.jpg")
    assert decoded.image.size == (20, 40)
    assert any("EXIF" in n for n in decoded.notes)


@pytest.mark.parametrize(("name", "words"), [
    ("g_not_an_image.jpg", "not an image"),
    ("h_truncated.jpg", "truncated"),
    ("i_huge.png", "too large"),
    ("j_large.png", "12000x10000"),
    ("k_empty.png", "not an image"),
])
def test_bad_files_give_a_clear_message(mixed_folder: Path, name: str, words: str) -> None:
    with pytest.raises(EngineError) as info:
        decode_image(mixed_folder / name)
    assert info.value.kind is ErrorKind.BAD_INPUT
    assert name in info.value.message and words in info.value.message


def test_missing_file_and_folder_inputs(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        decode_image(tmp_path / "nope.jpg")
    assert info.value.kind is ErrorKind.NOT_FOUND
    empty = tmp_path / "empty"
    empty.mkdir()
    found = collect_images([empty, tmp_path / "missing"])
    assert found.images == []
    assert [kind for _, kind, _ in found.problems] == ["bad_input", "not_found"]
    assert "no images" in found.problems[0][2]


def test_folders_are_walked_recursively_in_order(mixed_folder: Path) -> None:
    found = collect_images([mixed_folder])
    names = [p.name for p in found.images]
    assert names == sorted(names, key=lambda n: str(next(p for p in found.images if p.name == n)))
    assert "f_palette.gif" in names  # from nested/deeper
    assert "notes.txt" not in names and found.skipped_files == 1


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_torch_and_pillow_resizing_agree_within_a_grey_level(interpolation: str) -> None:
    from engines.vision.preprocess import resize_and_crop, resize_and_crop_planes

    for crop_mode in ("center", "squash"):
        config = PreprocessConfig(interpolation=interpolation, crop_mode=crop_mode)
        for name in ("chelsea.jpg", "coffee.jpg"):
            image = Image.open(SAMPLES / name).convert("RGB")
            planes = resize_and_crop_planes(image, config)
            assert planes is not None and planes.dtype == np.uint8 and planes.shape == (3, 224, 224)
            pillow = np.asarray(resize_and_crop(image, config)).transpose(2, 0, 1).astype(int)
            difference = np.abs(planes.astype(int) - pillow)
            assert difference.max() <= 1 and (difference > 0).mean() < 0.02
    # Filters torch does not have, and crops larger than the image, stay with Pillow.
    assert resize_and_crop_planes(Image.new("RGB", (300, 300)), PreprocessConfig(interpolation="lanczos")) is None
    assert resize_and_crop_planes(Image.new("RGB", (10, 10)), PreprocessConfig(input_size=(32, 32),
                                                                                resize_size=8)) is None
