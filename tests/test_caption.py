"""Image captioning: the generated shapes, caption files, the encoder, scores, and the app end to end."""

import json

import numpy as np
import pytest
import torch
from conftest import read_json
from PIL import Image

from rnnlab.apps.caption import CaptionConfig, caption_scores, pairs
from rnnlab.data.images import COLOURS, SHAPES, Captioned, WordVocab, load_captions, shape_images, tokenize
from rnnlab.errors import InputError
from rnnlab.models import ImageEncoder


def save_png(path, image):
    Image.fromarray((image.transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(path)


def test_shapes_are_deterministic_and_follow_the_grammar():
    a, b = shape_images(50, seed=2), shape_images(50, seed=2)
    words = {"a", "small", "large", "left", "right", "of", "above", "below", *COLOURS, *SHAPES}
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.captions == y.captions
        assert x.image.shape == (3, 32, 32) and x.image.min() >= 0 and x.image.max() <= 1
        for c in x.captions:
            assert set(tokenize(c)) <= words
    two = [x for x in a if len(x.captions) == 2]
    assert two and len(two) < len(a)
    for x in two:  # the second phrasing mirrors the first: "A left of B" / "B right of A"
        first, second = x.captions
        for rel, mirror in (("left of", "right of"), ("above", "below")):
            if f" {rel} " in first:
                head, tail = first.split(f" {rel} ")
                assert second == f"{tail} {mirror} {head}"


def test_one_shape_colour_is_in_the_image():
    for x in shape_images(30, seed=5):
        if len(x.captions) == 1:
            colour = next(c for c in COLOURS if c in x.captions[0])
            rgb = np.array(COLOURS[colour], dtype=np.float32)[:, None, None]
            assert (np.abs(x.image - rgb).max(0) < 1e-6).sum() > 5  # pixels painted that colour


def test_vocab():
    v = WordVocab.build(["a red circle", "a red square", "a blue circle"], min_count=2)
    assert v.itos[:4] == ["<pad>", "<s>", "</s>", "<unk>"] and set(v.itos[4:]) == {"a", "red", "circle"}
    assert v.decode(v.encode("a red circle")) == "a red circle"
    assert v.encode("a blue circle")[1] == 3  # unknown
    assert tokenize("A Dog, running!") == ["a", "dog", ",", "running", "!"]


def test_pairs_one_row_per_caption():
    items = [Captioned(np.zeros((3, 8, 8), np.float32), ["a b", "b"]), Captioned(np.ones((3, 8, 8), np.float32), ["a"])]
    v = WordVocab(["a", "b"])
    img, t_in, t_out = pairs(items, v)
    assert img.shape == (3, 3, 8, 8) and float(img[2].mean()) == 1.0
    assert t_in.tolist() == [[1, 4, 5], [1, 5, 0], [1, 4, 0]]
    assert t_out.tolist() == [[4, 5, 2], [5, 2, 0], [4, 2, 0]]


def test_scores():
    refs = [["a large red circle", "a red circle on the left"], ["a small blue square"]]
    perfect = caption_scores(["a red circle on the left", "a small blue square"], refs)
    assert perfect["exact"] == 1.0 and perfect["bleu"] == pytest.approx(100.0)
    wrong = caption_scores(["a large green triangle", "a small blue square"], refs)
    assert wrong["exact"] == 0.5 and wrong["bleu"] < 100


def test_image_encoder():
    enc = ImageEncoder([8, 16], vector_size=12, image_size=16)
    assert enc(torch.randn(2, 3, 16, 16)).shape == (2, 12)
    with pytest.raises(ValueError, match="images"):
        enc(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"images: expected \(B, 3, 16, 16\)"):
        enc(torch.randn(2, 3, 20, 20))  # flattening fixes the size
    avg = ImageEncoder([8, 16], vector_size=12, pooling="average")
    assert avg(torch.randn(2, 3, 20, 28)).shape == (2, 12)  # averaging takes any size
    with pytest.raises(ValueError, match="channels"):
        ImageEncoder([])
    with pytest.raises(ValueError, match="pooling"):
        ImageEncoder([8], pooling="max")


def test_flattened_encoder_tells_left_from_right():
    """The same shape on the left and on the right: average pooling cannot tell them
    apart (convolutions and pooling move with the shape), flattening can."""
    torch.manual_seed(0)
    left, right = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    left[..., 12:16, 8:12] = 1.0
    right[..., 12:16, 16:20] = 1.0  # moved by 8 pixels, a multiple of the two pools' stride
    flat = ImageEncoder([4, 4], vector_size=6, image_size=32).eval()
    avg = ImageEncoder([4, 4], vector_size=6, pooling="average").eval()
    with torch.no_grad():
        torch.testing.assert_close(avg(left), avg(right))
        assert (flat(left) - flat(right)).abs().max() > 1e-3


def test_config_checks():
    with pytest.raises(ValueError, match="image_size"):
        CaptionConfig(image_size=4, channels=[8, 8, 8])
    with pytest.raises(ValueError, match="cell"):
        CaptionConfig(cell="tcn")


def test_caption_directory(tmp_path):
    items = shape_images(3, seed=1)
    for i, it in enumerate(items):
        save_png(tmp_path / f"img{i}.png", it.image)
    (tmp_path / "captions.tsv").write_text("img0.png\ta red thing\nimg0.png\tsomething red\n\nimg1.png\ta thing\n"
                                           "img2.png\tanother\n")
    got, desc = load_captions(str(tmp_path), size=16)
    assert "3 images" in desc and [g.captions for g in got][0] == ["a red thing", "something red"]
    assert got[0].image.shape == (3, 16, 16)
    (tmp_path / "captions.tsv").write_text("img0.png a caption without a tab\n")
    with pytest.raises(InputError, match="captions.tsv, line 1: expected 'file<TAB>caption'"):
        load_captions(str(tmp_path))
    (tmp_path / "captions.tsv").write_text("img0.png\tok\nnope.png\tmissing\n")
    with pytest.raises(InputError, match="line 2: image 'nope.png' not found"):
        load_captions(str(tmp_path))
    (tmp_path / "bad.png").write_text("not an image")
    (tmp_path / "captions.tsv").write_text("bad.png\ta caption\n")
    with pytest.raises(InputError, match="bad.png: not an image"):
        load_captions(str(tmp_path))
    (tmp_path / "captions.tsv").unlink()
    with pytest.raises(InputError, match="no caption index"):
        load_captions(str(tmp_path))
    with pytest.raises(InputError, match="not a directory"):
        load_captions(str(tmp_path / "img0.png"))


def test_caption_index_layouts(tmp_path):
    """Flickr8k's token file (file.jpg#N), Kaggle's CSV (even named .txt), COCO's JSON, and
    an index file given directly: the same images with the same references."""
    items = shape_images(2, seed=1)
    for i, it in enumerate(items):
        save_png(tmp_path / f"img{i}.png", it.image)
    want = {"img0.png": ["a red thing", "a thing, red"], "img1.png": ["another"]}
    layouts = {
        "Flickr8k.token.txt": "img0.png#0\ta red thing\nimg0.png#1\ta thing, red\nimg1.png#0\tanother\n",
        "captions.csv": 'image,caption\nimg0.png,a red thing\nimg0.png,"a thing, red"\nimg1.png,another\n',
        "kaggle.txt": 'image,caption\nimg0.png,a red thing\nimg0.png,"a thing, red"\nimg1.png,another\n',
        "captions.json": json.dumps({"images": [{"id": 7, "file_name": "img0.png"}, {"id": 9, "file_name": "img1.png"}],
                                     "annotations": [{"image_id": 7, "caption": "a red thing"},
                                                     {"image_id": 9, "caption": "another"},
                                                     {"image_id": 7, "caption": "a thing, red"}]}),
    }
    for name, text in layouts.items():
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" * (name == "captions.csv") + text.encode())
        got, _ = load_captions(str(tmp_path / name), size=8)
        assert sorted(sorted(g.captions) for g in got) == sorted(sorted(c) for c in want.values()), name
        (tmp_path / name).unlink()
    orphan = {"images": [], "annotations": [{"image_id": 1, "caption": "x"}]}
    (tmp_path / "captions.json").write_text(json.dumps(orphan))
    with pytest.raises(InputError, match=r"annotations\[0\]: needs an image_id listed"):
        load_captions(str(tmp_path))
    (tmp_path / "captions.json").write_text("{}")
    with pytest.raises(InputError, match="COCO"):
        load_captions(str(tmp_path))
    (tmp_path / "captions.json").unlink()
    (tmp_path / "captions.csv").write_text("file,text\nimg0.png,x\n")
    with pytest.raises(InputError, match="line 1: expected a header"):
        load_captions(str(tmp_path))


def test_cli_end_to_end(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("caption", "train", "--quick", "--epochs", "10", "--out", str(run), "--set", "images=1500",
                         "--set", "hidden_size=64", "--set", "beam_size=2", "--set", "train.lr=0.003")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["test_bleu"] > m["baseline_most_frequent_bleu"] + 15
    assert m["test_images"] == 150
    assert (run / "examples.png").exists() and (run / "vocab.json").exists()
    code, out, err = cli("caption", "evaluate", str(run))
    assert code == 0, err
    assert read_json(run / "metrics.json")["test_bleu"] == pytest.approx(m["test_bleu"])
    imgs = []
    for i, it in enumerate(shape_images(2, seed=99)):
        imgs.append(tmp_path / f"x{i}.png")
        save_png(imgs[-1], it.image)
    code, out, err = cli("caption", "caption", str(run), *map(str, imgs), "--beam", "1")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{imgs[0]}\t") and lines[0].split("\t")[1].strip()
    code, out, err = cli("caption", "caption", str(run), str(tmp_path / "missing.png"))
    assert code == 2 and "missing.png" in err
    code, out, err = cli("caption", "caption", str(run), str(run / "config.json"))
    assert code == 2 and "not an image" in err


@pytest.mark.slow
def test_quick_default_beats_the_most_frequent_caption(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("caption", "train", "--quick", "--out", str(run))
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["test_bleu"] > m["baseline_most_frequent_bleu"] + 40
    assert m["test_exact"] > 0.3


def test_attending_captioner_reads_positions_with_their_coordinates():
    from rnnlab.apps.caption import Captioner

    cfg = CaptionConfig(image_size=16, channels=[4, 8], attention="additive", hidden_size=8, embed_size=4)
    model = Captioner(cfg, vocab_size=7).eval()
    images = torch.rand(2, 3, 16, 16)
    mem = model.memory(images)
    assert mem.shape == (2, 16, 8 + 2)  # a 4 × 4 map, 8 channels + (x, y)
    torch.testing.assert_close(mem[0, 0, -2:], torch.tensor([-1.0, -1.0]))  # top left
    torch.testing.assert_close(mem[0, 3, -2:], torch.tensor([1.0, -1.0]))  # top right
    assert model(images, torch.randint(0, 7, (2, 5))).shape == (2, 5, 7)
    out = model.generate(images, max_len=4, beam_size=2)
    assert out.extras.shape[0] == 2 and out.extras.shape[2] == 16


def test_cli_attention(tmp_path, cli):
    run = tmp_path / "run"
    code, out, err = cli("caption", "train", "--quick", "--epochs", "6", "--out", str(run), "--set", "images=1200",
                         "--set", "hidden_size=64", "--set", "attention=additive", "--set", "train.lr=0.004")
    assert code == 0, err
    m = read_json(run / "metrics.json")
    assert m["test_bleu"] > m["baseline_most_frequent_bleu"] + 15
    assert (run / "attention.png").exists()
    img = tmp_path / "x.png"
    save_png(img, shape_images(1, seed=7)[0].image)
    code, out, err = cli("caption", "caption", str(run), str(img))
    assert code == 0 and out.startswith(f"{img}\t"), err
