import numpy as np
import pytest
import tensorflow as tf

from t2x.data.image import ImageEncoder, encode_png, read_idx, write_idx


def test_idx_round_trip_and_errors(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(str(tmp_path / "i.gz"), images)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "i.gz")), images)
    write_idx(str(tmp_path / "l"), np.array([3, 1, 4], np.uint8))
    assert read_idx(str(tmp_path / "l")).tolist() == [3, 1, 4]
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")
    with pytest.raises(ValueError, match="header says .* truncated or corrupt"):
        read_idx(str(tmp_path / "bad"))
    (tmp_path / "magic").write_bytes(b"\x00\x00\x00\x07" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic number 7"):
        read_idx(str(tmp_path / "magic"))


@pytest.mark.parametrize("shape", [(28, 28), (5, 7, 1), (4, 6, 3)])
def test_png_encoder_decodes_with_tensorflow(shape):
    image = np.random.RandomState(0).randint(0, 256, size=shape).astype(np.uint8)
    channels = 1 if len(shape) == 2 else shape[-1]
    decoded = tf.io.decode_png(encode_png(image), channels=channels).numpy()
    np.testing.assert_array_equal(decoded, image.reshape(decoded.shape))


@pytest.mark.parametrize("fmt", ["png", "raw"])
def test_image_encoder_round_trip(fmt):
    image = np.random.RandomState(1).randint(0, 256, size=(28, 28, 1)).astype(np.uint8)
    enc = ImageEncoder((28, 28, 1), fmt)
    np.testing.assert_array_equal(enc.decode(enc.encode(image)), image)
    assert enc.vocab_size == 256
