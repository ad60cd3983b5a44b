"""What the public demo server relies on, without Streamlit: compact digit links, the byte-bounded
comparison cache, run slots, uploads bounded in pixels before decoding, link values validated before
any widget sees them, which drawn or uploaded digit is in use, the environment's settings, and error
messages fit for a visitor."""

from __future__ import annotations

import base64
import fractions
import io
import pickle
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import fernn
import tiny
from uploads import blank_png, jpeg_claiming, png_bytes
from fernn.showcase import links, owndigit, serving, visitor_checkpoints
from fernn import showcase
from fernn.datasets.digits import prepare_user_digit
from fernn.showcase import DemoError

ROOT = Path(__file__).resolve().parent.parent





def stroke(height: int, width: int) -> np.ndarray:
    """A white "1" on black, ``uint8 (height, width)``."""
    image = np.zeros((height, width), dtype=np.uint8)
    image[height // 6 : 5 * height // 6, width // 2 - width // 20 : width // 2 + width // 20] = 255
    return image


# ----------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("data", [jpeg_claiming(4096), blank_png(4096)], ids=["jpeg-header", "blank-png"])
def test_a_header_over_the_pixel_budget_is_refused_before_any_decoding(data: bytes, monkeypatch):
    assert len(data) < 20_000  # tiny files: the byte limit alone lets them through
    loads = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or original(self))
    with pytest.raises(DemoError, match=r"4096x4096 pixels \(16\.8 MP\); the limit is 1\.0 MP, for example 1024x1024"):
        owndigit.digit_from_upload(data)
    assert loads == []
    owndigit.digit_from_upload(png_bytes(stroke(60, 60)))  # the control: a usable image is decoded
    assert loads


def test_the_pixel_budget_and_side_limit_are_checked_from_the_header():
    assert owndigit.check_upload(blank_png(1024)) == (1024, 1024)
    with pytest.raises(DemoError, match="1025x1024 pixels"):
        owndigit.check_upload(png_bytes(np.zeros((1024, 1025), np.uint8)))
    with pytest.raises(DemoError, match="at most 4096 pixels a side"):
        owndigit.check_upload(png_bytes(np.zeros((8, 5000), np.uint8)))
    with pytest.raises(DemoError, match="the limit is 2 MB"):
        owndigit.check_upload(b"\x89PNG" + bytes(3 * 1024 * 1024))
    with pytest.raises(DemoError, match="expected a PNG or JPEG image, got GIF"):
        buffer = io.BytesIO()
        Image.new("L", (8, 8)).save(buffer, format="GIF")
        owndigit.check_upload(buffer.getvalue())
    with pytest.raises(DemoError, match="not a readable PNG or JPEG"):
        owndigit.check_upload(b"\x89PNG\r\n\x1a\n not really a png")


def test_decoding_reduces_to_a_small_side_and_keeps_small_images_exact():
    big = owndigit.decode_upload(png_bytes(stroke(1024, 1000)))
    assert big.dtype == np.uint8 and big.shape == (owndigit.DECODE_SIDE, 500, 4)
    jpeg = io.BytesIO()
    Image.fromarray(stroke(1024, 1024)).convert("RGB").save(jpeg, format="JPEG")
    assert owndigit.decode_upload(jpeg.getvalue()).shape == (owndigit.DECODE_SIDE, owndigit.DECODE_SIDE, 4)
    deep = np.zeros((700, 600), np.uint16)
    deep[100:600, 280:320] = 60000
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    reduced = owndigit.decode_upload(buffer.getvalue())
    assert reduced.ndim == 2 and max(reduced.shape) == owndigit.DECODE_SIDE and reduced.max() > 255  # still 16-bit
    small = stroke(60, 60)
    np.testing.assert_array_equal(owndigit.decode_upload(png_bytes(small))[..., 0], small)


def test_an_upload_gives_the_digit_prepare_user_digit_gives_and_survives_the_reduction():
    small = stroke(200, 200)
    np.testing.assert_array_equal(owndigit.digit_from_upload(png_bytes(small)), prepare_user_digit(small))
    reduced = owndigit.digit_from_upload(png_bytes(stroke(1024, 1024)))  # reduced to 512 before preparing
    assert reduced.dtype == np.float32 and reduced.shape == (28, 28)
    full = prepare_user_digit(stroke(1024, 1024))
    # The same digit, up to a one-pixel tie in centring the symmetric bar's mass.
    assert min(np.abs(np.roll(reduced, (dy, dx), axis=(0, 1)) - full).max()
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)) < 0.1


def test_decoding_waits_for_a_run_slot_but_the_header_check_does_not():
    slots = serving.RunSlots(1)
    with slots.hold():  # a visitor's run holds the only slot
        with pytest.raises(DemoError, match="the server is busy"):
            owndigit.digit_from_upload(png_bytes(stroke(60, 60)), slots=slots, timeout=0.05)
        with pytest.raises(DemoError, match="16.8 MP"):  # refused at once, without waiting
            owndigit.digit_from_upload(blank_png(4096), slots=slots, timeout=30)
    assert owndigit.digit_from_upload(png_bytes(stroke(60, 60)), slots=slots).shape == (28, 28)


def test_unusable_uploads_raise_one_demo_error():
    with pytest.raises(DemoError, match="blank"):
        owndigit.digit_from_upload(png_bytes(np.full((40, 40), 255, np.uint8)))
    noisy = np.random.default_rng(0).integers(0, 256, size=(200, 200), dtype=np.uint8)
    truncated = png_bytes(noisy)[:20_000]  # of about 40 KB
    with pytest.raises(DemoError, match="damaged or truncated"):
        owndigit.digit_from_upload(truncated)


MEASURE = textwrap.dedent("""
    import io, sys, threading
    import numpy as np
    from PIL import Image
    from fernn.showcase import owndigit, serving
    from fernn.showcase.errors import DemoError

    def status_mb(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kilobytes

    def start_measuring():
        # Reset the high-water mark to what is resident now (Linux: 5 > clear_refs), so neither the
        # warm-up's freed buffers nor its peak colour what follows.
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return status_mb("VmRSS")

    def peak_mb():
        return status_mb("VmHWM")

    def six_at_once(data):
        slots, errors = serving.RunSlots(2), []
        def one():
            try:
                owndigit.digit_from_upload(data, slots=slots)
            except DemoError as error:
                errors.append(str(error))
        threads = [threading.Thread(target=one) for _ in range(6)]
        before = start_measuring()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return peak_mb() - before, len(errors)

    # One measurement per process: ru_maxrss is a high-water mark, so an earlier peak would hide a later one.
    name, warm_up, path = sys.argv[1:4]
    owndigit.digit_from_upload(open(warm_up, "rb").read())  # lazy imports and first-call buffers
    if name == "control":
        before = start_measuring()
        control = np.ones(200 * 1024**2 // 8)  # 200 MB: the measurement must see it
        print("control", round(peak_mb() - before, 1), int(control[0]))
    else:
        grown, refused = six_at_once(open(path, "rb").read())
        print(name, round(grown, 1), refused)
""")


def test_six_hostile_uploads_at_once_stay_within_the_memory_budget(tmp_path: Path):
    """Peak RSS growth in a fresh process while six uploads arrive together: tiny files claiming
    4096x4096 cost nothing (refused from the header), and six of the largest accepted images
    (1 MP, decoded two at a time in run slots) stay far below the 300 MB budget."""
    ink = np.zeros((1024, 1024, 4), np.uint8)
    ink[200:800, 480:560] = 255
    files = {"warm-up": png_bytes(stroke(60, 60)), "jpeg-4096": jpeg_claiming(4096), "png-4096": blank_png(4096),
             "rgba-1024": png_bytes(ink), "jpeg-1024": jpeg_claiming(1024)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    grown = {}
    for name in ("control", *(name for name in files if name != "warm-up")):
        done = subprocess.run([sys.executable, "-c", MEASURE, name, str(tmp_path / "warm-up"), str(tmp_path / name)],
                              capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        line = done.stdout.split()
        grown[line[0]] = (float(line[1]), int(line[2]))
    assert grown["control"][0] >= 150  # the measurement sees a 200 MB allocation
    assert grown["jpeg-4096"] == (pytest.approx(0, abs=10), 6) and grown["png-4096"] == (pytest.approx(0, abs=10), 6)
    assert grown["rgba-1024"][0] < 100 and grown["jpeg-1024"][0] < 100  # budget: 300 MB for six
    assert grown["rgba-1024"][1] == 0


def test_prepare_user_digit_reads_float64_beyond_float32s_range():
    image = np.where(stroke(60, 60) > 0, 1e300, -1e300)
    digit = prepare_user_digit(image)
    assert digit.dtype == np.float32
    np.testing.assert_allclose(digit, prepare_user_digit(stroke(60, 60)), atol=1e-6)


# ----------------------------------------------------------------------------- link values

FIELDS = links.demo_link_fields(test_digits=500, checkpoints=["grnn.pt", "fernn.pt"],
                                  velocity_choices=("auto", "as trained", *map(str, range(9))),
                                  tabs=("Comparison", "Inside"), renamed_tabs={"Inside the models": "Inside"},
                                  max_digit_speed=4)
HUGE = "1" * 100_000


@pytest.mark.parametrize(
    ("params", "expected", "note"),
    [
        ({"vy1": ["9"]}, {"vy1": ["4"]}, "Link value `vy1=9` is outside -4..4; using 4."),
        ({"vx2": ["-12"]}, {"vx2": ["-4"]}, "`vx2=-12` is outside -4..4; using -4."),
        ({"vset": ["99"]}, {}, "`vset=99` is not one of the 11 choices; using the default."),
        ({"predict": ["500"]}, {"predict": ["70"]}, "outside 1..70; using 70"),
        ({"digit1": ["9999"]}, {"digit1": ["499"]}, "`digit1=9999` is outside 0..499; using 499."),
        ({"digit1": ["inf"]}, {}, "`digit1=inf` is not a whole number; using the default."),
        ({"digit1": ["-inf"]}, {}, "`digit1=-inf` is not a whole number"),
        ({"digit2": ["1e309"]}, {}, "`digit2=1e309` is not a whole number"),
        ({"digit1": ["nan"]}, {}, "`digit1=nan` is not a whole number"),
        ({"digit1": [HUGE]}, {"digit1": ["499"]}, "(100,000 characters)` is outside 0..499; using 499"),
        ({"digit2": ["-" + HUGE]}, {"digit2": ["0"]}, "is outside 0..499; using 0"),
        ({"seed": ["inf"]}, {}, "`seed=inf` is not a whole number"),
        ({"seed": [HUGE]}, {"seed": [str(2**31 - 1)]}, f"using {2**31 - 1}"),
        ({"context": ["3.5"]}, {}, "`context=3.5` is not a whole number"),
        ({"digit1": [""]}, {}, "Link value `digit1` is empty; using the default."),
        ({"vy1": ["2", "3"]}, {"vy1": ["3"]}, "`vy1` is given 2 times; using the last, `vy1=3`."),
        ({"stabilised": ["maybe"]}, {}, "`stabilised=maybe` is not true or false"),
        ({"model_b": ["../../etc/passwd"]}, {}, "is not one of (none), grnn.pt, fernn.pt; using the default"),
        ({"source": ["Camera"]}, {}, "`source=Camera` is not one of MNIST, Draw, Upload"),
        ({"channels": ["0", "inf", "0", "3"]}, {"channels": ["0", "3"]}, "keeping 0, 3"),
    ],
)
def test_a_bad_link_value_is_replaced_with_a_note(params: dict, expected: dict, note: str):
    found = links.check_link({**params, "view": ["copy"]}, FIELDS)
    assert found.changed
    assert found.params == {**expected, "view": ["copy"]}  # the good value next to it stays
    assert len(found.notes) == 1 and note in found.notes[0], found.notes
    assert len(found.notes[0]) < 200  # a 100,000-digit value is not echoed


def test_good_link_values_pass_unchanged_and_unknown_keys_are_left_alone():
    params = {"source": ["Draw"], "digits": ["2"], "digit1": ["12"], "digit2": ["0"], "vy1": ["-4"], "vx1": ["4"],
              "y1": ["-14"], "x2": ["13"], "model_a": ["grnn.pt"], "model_b": ["(none)"], "vset": ["as trained"],
              "context": ["20"], "predict": ["1"], "seed": [str(2**31 - 1)], "channels": ["0", "5"],
              "view": ["pooled"], "stabilised": ["false"], "tab": ["Inside"], "d1": ["z1.abc"], "embed": ["true"],
              "channels_empty": [""]}
    found = links.check_link(params, FIELDS)
    assert not found.changed and found.notes == () and found.params == params


def test_old_tab_names_are_read_silently_and_an_empty_selection_is_kept():
    found = links.check_link({"tab": ["Inside the models"], "channels": [""]}, FIELDS)
    assert found.params == {"tab": ["Inside"], "channels": [""]} and found.changed and found.notes == ()


def test_notes_quote_link_text_without_markdown():
    found = links.check_link({"vset": ["[click](http://x)`**"]}, FIELDS)
    quoted = found.notes[0].split("`")[1]  # the one code span of the note
    assert quoted == "vset=?click??http???x????"
    assert links.shown_value(["a" * 30]) == "a" * 20 + "… (30 characters)"


def test_link_fields_cover_every_url_bound_widget():
    assert set(FIELDS) == {"source", "digits", "digit1", "digit2", "vy1", "vx1", "vy2", "vx2", "y1", "x1", "y2", "x2",
                           "model_a", "model_b", "model_c", "vset", "context", "predict", "seed", "channels", "view",
                           "stabilised", "tab", "cvset", "flicker", "motion", "w1", "w2", "a1", "a2"}


# ----------------------------------------------------------------------------- which own digit is in use


def test_the_widgets_digit_wins_and_travels_in_the_link():
    digit = prepare_user_digit(stroke(60, 60))
    chosen = owndigit.choose_own_digit(digit, "", link="z1.old", made_before=False, empty="Draw.")
    assert chosen.link == owndigit.encode_digit(digit) and chosen.message == "" and not chosen.from_link
    np.testing.assert_array_equal(chosen.image, owndigit.decode_digit(chosen.link))  # what the link carries


def test_a_shared_links_digit_is_used_until_this_session_draws_or_uploads():
    code = owndigit.encode_digit(prepare_user_digit(stroke(60, 60)))
    shared = owndigit.choose_own_digit(None, "", link=code, made_before=False, empty="Draw.")
    assert shared.from_link and shared.link == code and shared.image is not None
    cleared = owndigit.choose_own_digit(None, "", link=code, made_before=True, empty="Draw a digit.")
    assert cleared.image is None and cleared.link is None and cleared.message == "Draw a digit."
    failed = owndigit.choose_own_digit(None, "Cannot use x.png: blank.", link=code, made_before=False, empty="Upload.")
    assert failed.image is None and failed.link is None and failed.message == "Cannot use x.png: blank."
    damaged = owndigit.choose_own_digit(None, "", link="z1.AAAA", made_before=False, empty="Draw.")
    assert damaged.image is None and "link's digit" in damaged.message


def test_use_own_digit_keeps_link_and_session_in_step():
    code = owndigit.encode_digit(prepare_user_digit(stroke(60, 60)))
    link, state = {"d1": code, "vy1": "2"}, {}
    assert owndigit.use_own_digit(None, "", empty="Draw.", link=link, state=state).from_link  # the shared view
    assert link["d1"] == code and not state["own_digit"]
    drawn = prepare_user_digit(stroke(80, 50))
    owndigit.use_own_digit(drawn, "", empty="Draw.", link=link, state=state)
    assert link["d1"] == owndigit.encode_digit(drawn) and state["own_digit"]
    emptied = owndigit.use_own_digit(None, "", empty="Draw.", link=link, state=state)  # reset or undo
    assert emptied.image is None and link == {"vy1": "2"}


def test_a_drawing_canvas_is_empty_until_it_has_ink():
    canvas = np.zeros((224, 224, 4), np.uint8)
    canvas[..., 3] = 255  # an opaque black background
    assert owndigit.digit_from_drawing(None) is None and owndigit.digit_from_drawing(canvas) is None
    canvas[40:180, 100:120, :3] = 255
    assert owndigit.digit_from_drawing(canvas).shape == (28, 28)


# ----------------------------------------------------------------------------- settings, messages


def test_settings_from_the_environment():
    assert serving.settings_from_environment({}) == serving.ServerSettings(2, 512, 1)
    read = serving.settings_from_environment({"FERNN_RUN_SLOTS": "4", "FERNN_CACHE_MB": "0",
                                              "FERNN_TORCH_THREADS": " 3 ", "OTHER": "x"})
    assert read == serving.ServerSettings(run_slots=4, cache_megabytes=0, torch_threads=3)
    assert serving.settings_from_environment({"FERNN_RUN_SLOTS": ""}).run_slots == 2  # empty means unset


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FERNN_RUN_SLOTS": "0"}, "FERNN_RUN_SLOTS=0 must be a whole number from 1 to 64"),
        ({"FERNN_RUN_SLOTS": "65"}, "FERNN_RUN_SLOTS=65 must be a whole number from 1 to 64"),
        ({"FERNN_CACHE_MB": "-1"}, "FERNN_CACHE_MB=-1 must be a whole number from 0 to 1,048,576"),
        ({"FERNN_CACHE_MB": "1e3"}, "FERNN_CACHE_MB=1e3 must be"),
        ({"FERNN_TORCH_THREADS": "two"}, "FERNN_TORCH_THREADS=two must be a whole number from 1 to 256"),
        ({"FERNN_TORCH_THREADS": "9" * 5000}, r"\(5,000 characters\) must be"),
        ({"FERNN_RUN_SLOTS": "0", "FERNN_CACHE_MB": "x"}, "FERNN_RUN_SLOTS=0 must .*; FERNN_CACHE_MB=x must"),
    ],
)
def test_bad_settings_are_named(environ: dict, message: str):
    with pytest.raises(ValueError, match=message):
        serving.settings_from_environment(environ)


class Payload:
    def __reduce__(self):
        return (print, ("this would have run",))


@pytest.fixture
def unsafe_checkpoints(tmp_path: Path) -> dict[str, Path]:
    """Files weights_only loading refuses, each with its own torch message."""
    folder = tmp_path / "server" / "private" / "checkpoints"
    folder.mkdir(parents=True)
    files = {name: folder / f"{name}.pt" for name in ("legacy", "blocked", "ansi", "damaged")}
    files["legacy"].write_bytes(pickle.dumps(Payload()))  # "Unsupported operand"
    torch.save({"x": Payload()}, files["blocked"])  # "GLOBAL builtins.print ... is blocked"?
    import fractions

    torch.save({"x": fractions.Fraction(1, 3)}, files["ansi"])  # advice set in bold with ANSI codes
    files["damaged"].write_bytes(b"this is not a checkpoint" * 10)
    return files


def test_checkpoint_messages_for_visitors_carry_no_paths_advice_or_colour(unsafe_checkpoints: dict[str, Path]):
    seen = []
    for name, path in unsafe_checkpoints.items():
        with pytest.raises(fernn.CheckpointError) as caught:
            fernn.load_checkpoint(path)
        message = serving.visitor_message(caught.value)
        seen.append(message)
        assert message.startswith(f"{name}.pt is not a readable checkpoint"), message
        assert "weights_only" not in message and "\x1b" not in message and "private" not in message
        assert "\n" not in message
    assert "such as fractions.Fraction, which fernn never loads" in seen[2]
    assert "pop from empty list" in seen[3] or "Error" in seen[3]  # the unpickler's own one-line reason


def test_visitor_message_drops_directories_but_not_urls_or_fractions(tmp_path: Path):
    try:
        (tmp_path / "missing" / "x.pt").stat()
    except OSError as error:
        assert serving.visitor_message(error) == "No such file or directory: x.pt"
    spaced = FileNotFoundError(f"no checkpoint file at {tmp_path}/a b/c.pt")
    assert serving.visitor_message(spaced, folders=[tmp_path / "a b"]) == "no checkpoint file at c.pt"
    text = "see https://pytorch.org/docs/x.html, 1/2 of C:\\Users\\me\\x.pt and /srv/app/y.pt\nsecond line"
    assert serving.visitor_message(text) == "see https://pytorch.org/docs/x.html, 1/2 of x.pt and y.pt"


def test_open_checkpoints_names_models_and_says_why_one_cannot_be_used(tmp_path: Path):
    small = {"hidden_channels": 4, "decoder_layers": 2}
    paths = [fernn.save_checkpoint(tmp_path / "a.pt", fernn.build_model("fernn", max_speed=1, **small),
                                   {"evaluation": {}}),
             fernn.save_checkpoint(tmp_path / "b.pt", fernn.build_model("fernn", max_speed=1, **small)),
             tmp_path / "gone.pt"]
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    paths.append(tmp_path / "bad.pt")
    opened = visitor_checkpoints.open_checkpoints(paths, lambda path, modified, size: fernn.load_checkpoint(path))
    assert [item.name for item in opened] == ["FERNN", "FERNN (b)", "", ""]
    assert [item.evaluated for item in opened[:2]] == [True, False]
    assert opened[0].version[:2] == ("FERNN", str(paths[0]))
    assert opened[2].problem == "No such file or directory: gone.pt"
    assert opened[3].problem.startswith("bad.pt is not a readable checkpoint")
    assert str(tmp_path) not in opened[3].problem
    assert visitor_checkpoints.checkpoint_files(tmp_path) == ["a.pt", "b.pt", "bad.pt"]
    assert visitor_checkpoints.checkpoint_files(tmp_path / "nowhere") == []
    for sub in ("rotation", "classify", ".hidden", "rotation/deeper"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.pt").write_bytes(b"")
    assert visitor_checkpoints.checkpoint_files(tmp_path, skip=("classify",)) == ["a.pt", "b.pt", "bad.pt", "rotation/x.pt"]
    # Model folders, at the top and one level down, and one-file models; a folder that is no model is no choice.
    model = fernn.build_model("grnn", **small)
    for where in ("fernn", "rotation/fernn", "classify/fernn", "rotation/deeper/fernn", "one.safetensors"):
        fernn.save_checkpoint(tmp_path / where, model)
    (tmp_path / "notes").mkdir()
    assert visitor_checkpoints.checkpoint_files(tmp_path, skip=("classify",)) == [
        "a.pt", "b.pt", "bad.pt", "fernn", "one.safetensors", "rotation/fernn", "rotation/x.pt"]
    opened = visitor_checkpoints.open_checkpoints([tmp_path / "fernn"], lambda path, modified, size: fernn.load_checkpoint(path))
    assert opened[0].name == "G-RNN" and not opened[0].problem
    before = opened[0].version
    fernn.save_checkpoint(tmp_path / "fernn", model, {"evaluation": {"test_mse": 0.5}})  # a new evaluation: a new version
    assert visitor_checkpoints.open_checkpoints([tmp_path / "fernn"], lambda *a: model)[0].version != before


# --- a visitor's own checkpoint -------------------------------------------------------------


def checkpoint_bytes(model: torch.nn.Module | None = None, *, edit=None, **payload) -> bytes:
    """A checkpoint as ``fernn.save_checkpoint`` writes it, held in memory; ``edit(payload)`` changes it first."""
    buffer = io.BytesIO()
    if model is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = fernn.save_checkpoint(Path(folder) / "m.pt", model, {"train": {"step": 3}})
            payload = torch.load(path, weights_only=True)
    if edit is not None:
        edit(payload)
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_an_uploaded_checkpoint_is_read_in_memory_and_named_by_its_file(tmp_path: Path):
    model = fernn.build_model("fernn", max_speed=1, hidden_channels=3, decoder_layers=2)
    data = checkpoint_bytes(model)
    upload = visitor_checkpoints.checkpoint_from_upload(data, file_name="../../etc/mine.pt", session="token-a")
    assert upload.file_name == "mine.pt" and upload.model.metrics == {"train": {"step": 3}}
    assert all(torch.equal(a, b) for a, b in zip(upload.model.state_dict().values(), model.state_dict().values()))
    again = visitor_checkpoints.checkpoint_from_upload(data, file_name="mine.pt", session="token-b")
    assert upload.digest == again.digest and upload.version != again.version  # no session can hit another's key
    shipped = fernn.save_checkpoint(tmp_path / "fernn.pt", model)
    opened = visitor_checkpoints.open_checkpoints([shipped, upload, again], lambda path, modified, size: fernn.load_checkpoint(path))
    assert [item.name for item in opened] == ["FERNN", "FERNN (mine)", "FERNN (mine, 2)"]
    assert opened[1].version == ("FERNN (mine)", "upload", "token-a", upload.digest)
    assert opened[1].model is upload.model and not opened[1].evaluated


def _grow(payload: dict) -> None:
    payload["config"]["hidden_channels"] = 4096


def _foreign(payload: dict) -> None:
    payload["model"] = "classifier"


def _three_channels(payload: dict) -> None:
    model = tiny.forecaster("grnn", in_channels=3)
    payload.update(config=model.config.to_dict(), state_dict=model.state_dict())


def _nan(payload: dict) -> None:
    payload["state_dict"]["encoder.cell.recurrent_conv.weight"][0, 0, 0, 0] = float("nan")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: b"PK\x03\x04 not really" * 4, "this file is not a checkpoint written by torch.save"),
    (lambda: pickle.dumps({"format": "fernn-checkpoint"}), "this file is neither a safetensors model file"),
    (lambda: checkpoint_bytes(x=fractions.Fraction(1, 3)),
     ("it is not a readable checkpoint (it holds Python objects other than tensors and plain values, such as "
      "fractions.Fraction, which fernn never loads)")),
    (lambda: checkpoint_bytes(x=1), "it is not a fernn checkpoint"),
    (lambda: checkpoint_bytes(tiny.forecaster("grnn"), edit=_grow),
     "weights do not match its config: it describes"),
    (lambda: checkpoint_bytes(tiny.forecaster("grnn"), edit=_foreign),
     "it holds a classifier; the comparison runs forecasters"),
    (lambda: checkpoint_bytes(tiny.forecaster("grnn"), edit=_three_channels),
     "the model reads 3 channels; the demo's digits have 1"),
    (lambda: checkpoint_bytes(tiny.forecaster("grnn"), edit=_nan),
     "its weights hold NaN or infinite values"),
])
def test_an_unusable_upload_gets_one_line_without_paths_or_torch_advice(make, message):
    with pytest.raises(DemoError) as caught:
        visitor_checkpoints.checkpoint_from_upload(make(), file_name="mine.pt", session="s")
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text and "weights_only" not in text and "/" not in text.replace("torch.save", "")


def safetensors_upload(model: torch.nn.Module | None = None, metrics: dict | None = None) -> bytes:
    """A one-file model as ``python -m fernn.convert ... --output NAME.safetensors`` writes it, held in memory."""
    with tempfile.TemporaryDirectory() as folder:
        return fernn.save_pretrained(Path(folder) / "m.safetensors", model, metrics).read_bytes()


def test_an_uploaded_safetensors_model_is_read_in_memory_without_unpickling(monkeypatch):
    model = fernn.build_model("fernn", max_speed=1, hidden_channels=3, decoder_layers=2)
    data = safetensors_upload(model, {"train": {"step": 3}})
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a safetensors upload must not be unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("a safetensors upload must not be unpickled"))
    upload = visitor_checkpoints.checkpoint_from_upload(data, file_name="mine.safetensors", session="token-a")
    assert upload.file_name == "mine.safetensors" and upload.model.metrics == {"train": {"step": 3}}
    assert all(torch.equal(a, b) for a, b in zip(upload.model.state_dict().values(), model.state_dict().values()))


def _header(entries: dict, *, metadata: dict | None = None) -> bytes:
    import json
    import struct
    text = json.dumps({"__metadata__": metadata, **entries} if metadata is not None else entries).encode()
    return struct.pack("<Q", len(text)) + text


def _hostile(kind: str) -> bytes:
    """Small safetensors files whose headers lie: each must be refused before a tensor is made."""
    good = safetensors_upload(tiny.forecaster("grnn"))
    if kind == "huge":  # 64 bytes on the wire, 16 GB declared
        return _header({"w": {"dtype": "F32", "shape": [65536, 65536], "data_offsets": [0, 4 * 65536**2]}}) + bytes(64)
    if kind == "overlapping":
        return _header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}) + bytes(24)
    if kind == "out of range":
        return _header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}) + bytes(16)
    if kind == "bad dtype":
        return _header({"a": {"dtype": "OBJECT", "shape": [1], "data_offsets": [0, 8]}}) + bytes(8)
    if kind == "truncated":
        return good[:len(good) // 2]
    if kind == "oversized header":
        return (2**40).to_bytes(8, "little") + b"{" + bytes(100)
    raise ValueError(kind)


@pytest.mark.parametrize(("kind", "message"), [
    ("huge", "it is not a readable model file (tensor 'w' lies outside the file"),
    ("overlapping", "it is not a readable model file (two of its tensors share bytes"),
    ("out of range", "it is not a readable model file (tensor 'a' lies outside the file"),
    ("bad dtype", "it is not a readable model file (tensor 'a' has dtype 'OBJECT'"),
    ("truncated", "it is not a readable model file"),
    ("oversized header", "it is not a readable model file (its header claims 1,099,511,627,776 bytes"),
])
def test_a_hostile_safetensors_upload_is_refused_before_any_tensor_is_made(kind, message, monkeypatch):
    import safetensors.torch
    monkeypatch.setattr(safetensors.torch, "load", lambda *a: pytest.fail("tensors were made"))
    with pytest.raises(DemoError) as caught:
        visitor_checkpoints.checkpoint_from_upload(_hostile(kind), file_name="mine.safetensors", session="s")
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text and "/" not in text


def test_a_safetensors_upload_declaring_more_than_the_cap_is_refused_from_its_header(monkeypatch):
    data = safetensors_upload(fernn.build_model("grnn", hidden_channels=16, decoder_layers=2))
    monkeypatch.setattr(visitor_checkpoints, "MAX_CHECKPOINT_BYTES", 4096)  # the file is about 40 kB
    with pytest.raises(DemoError, match="the file is 0.0 MB; the limit is 0 MB|its tensors declare"):
        visitor_checkpoints.checkpoint_from_upload(data, file_name="big.safetensors", session="s")
    monkeypatch.setattr(visitor_checkpoints, "check_checkpoint_upload", lambda size: None)  # past the byte cap: the header's
    with pytest.raises(DemoError, match=r"its tensors declare 0\.0 MB; the limit is 0 MB"):
        visitor_checkpoints.checkpoint_from_upload(data, file_name="big.safetensors", session="s")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: safetensors_upload(fernn.build_classifier("grnn", **tiny.APP_CLASSIFIER)),
     "it holds a classifier; the comparison runs forecasters"),
    (lambda: _header({}, metadata={"format": "pt"}), "it is not a fernn model file"),
])
def test_an_unusable_safetensors_upload_gets_one_line(make, message):
    with pytest.raises(DemoError) as caught:
        visitor_checkpoints.checkpoint_from_upload(make(), file_name="mine.safetensors", session="s")
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_checkpoint_cap_is_the_servers_upload_cap():
    """The server refuses larger request bodies while they stream in; a smaller app cap would hide it."""
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024**2 == visitor_checkpoints.MAX_CHECKPOINT_BYTES


def test_an_upload_over_the_size_cap_is_refused_before_it_is_read(monkeypatch):
    with pytest.raises(DemoError, match="the file is 2.5 MB; the limit is 2 MB"):
        visitor_checkpoints.check_checkpoint_upload(int(2.5 * 1024**2))
    visitor_checkpoints.check_checkpoint_upload(visitor_checkpoints.MAX_CHECKPOINT_BYTES)  # at the cap: allowed
    # An archive whose entries declare more than the cap once unpacked is refused from its directory.
    monkeypatch.setattr(visitor_checkpoints, "MAX_CHECKPOINT_BYTES", 4096)
    padded = checkpoint_bytes(x=torch.zeros(2048))
    monkeypatch.setattr(visitor_checkpoints, "read_checkpoint_bytes", lambda *a: pytest.fail("the unpickler must not run"))
    with pytest.raises(DemoError, match="the file (is|unpacks to)"):
        visitor_checkpoints.checkpoint_from_upload(padded, file_name="big.pt", session="s")


# --- digit links, the comparison cache, run slots -------------------------------------------


def small_comparison(predict_frames: int = 2) -> showcase.Comparison:
    """A real comparison of a 2-channel G-RNN on one still diagonal stroke."""
    model = tiny.forecaster("grnn")
    return showcase.compare({"G-RNN": model}, [showcase.Digit(np.eye(28))], context_frames=3,
                            predict_frames=predict_frames)


@pytest.mark.parametrize("image", [np.zeros((28, 28)), np.eye(28), np.random.default_rng(0).random((28, 28))])
def test_digit_links_round_trip_compactly(image):
    text = owndigit.encode_digit(image)
    assert len(text) <= 1400 and text.isascii() and "&" not in text and "=" not in text
    np.testing.assert_allclose(owndigit.decode_digit(text), np.round(image * 255) / 255, atol=1e-7)


@pytest.mark.parametrize("text", ["", "z1.", "z1.!!!", "x9.AAAA", "z1." + "A" * 5000,
                                  "z1." + base64.urlsafe_b64encode(zlib.compress(b"\0" * 10_000_000)).decode()])
def test_damaged_digit_links_raise_a_demo_error(text):
    with pytest.raises(showcase.DemoError):
        owndigit.decode_digit(text)


def test_comparison_cache_is_bounded_by_bytes():
    result = small_comparison()
    cache = serving.ComparisonCache(max_bytes=int(2.5 * result.nbytes))
    for key in range(5):
        cache.put(key, result)
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.get(4) is result and cache.get(0) is None
    tiny = serving.ComparisonCache(max_bytes=10)
    tiny.put("big", result)
    assert len(tiny) == 0


def test_an_oversized_comparison_does_not_empty_the_cache():
    result = small_comparison()
    cache = serving.ComparisonCache(max_bytes=int(1.5 * result.nbytes))
    cache.put("kept", result)
    big = small_comparison(predict_frames=20)
    cache.put("big", big)
    assert cache.get("kept") is result and cache.get("big") is None


def test_run_cached_computes_once_per_key_in_a_slot():
    result, calls = small_comparison(), []
    cache, slots = serving.ComparisonCache(max_bytes=10 * result.nbytes), serving.RunSlots(1)

    def compute():
        with pytest.raises(showcase.DemoError, match="busy"), slots.hold(timeout=0.01):
            pass  # the one slot is held while computing
        calls.append(result)
        return result

    assert serving.run_cached(cache, slots, "a", compute) is result
    assert serving.run_cached(cache, slots, "a", compute) is result and len(calls) == 1  # the second: from the cache
    with pytest.raises(showcase.DemoError, match="boom"):
        serving.run_cached(cache, slots, "b", lambda: (_ for _ in ()).throw(showcase.DemoError("boom")))
    assert cache.get("b") is None  # a failed run keeps nothing and frees its slot:
    assert serving.run_cached(cache, slots, "b", compute) is result and len(calls) == 2


def test_share_url_carries_every_value_of_the_view():
    url = links.share_url("http://host/app?old=1", {"tab": ["Classify"], "channels": ["0", "3"], "d1": ["z1.a-b_c"]})
    assert url == "http://host/app?tab=Classify&channels=0&channels=3&d1=z1.a-b_c"
    assert links.share_url("http://host/app", {}) == "http://host/app"


def test_run_slots_queue_the_rest():
    slots = serving.RunSlots(1)
    waited, release = [], threading.Event()

    def hold_first() -> None:
        with slots.hold():
            release.wait(5)

    first = threading.Thread(target=hold_first)
    first.start()
    while slots._semaphore._value:  # noqa: SLF001 - wait until the first run holds its slot
        pass
    threading.Timer(0.1, release.set).start()
    with slots.hold(on_wait=lambda: waited.append(True)):
        pass
    first.join()
    assert waited == [True]
    with pytest.raises(showcase.DemoError, match="busy"):
        with slots.hold():
            with slots.hold(timeout=0.05):
                pass


def test_a_link_carries_its_own_motion_and_never_a_visitors_own_checkpoint():
    params = {"motion": ["Translate"], "vy1": ["2"], "vx1": ["1"], "w1": ["90"], "a1": ["30"], "path": ["chase"],
              "model_a": ["grnn"], "model_b": ["fernn"], "model_c": ["⬆ tiny-fernn.pt"], "tab": ["Inside"]}
    kept, notes = links.shareable(params, motion="Translate", own_marker="⬆ ")
    assert kept == {"motion": ["Translate"], "vy1": ["2"], "vx1": ["1"], "model_a": ["grnn"], "model_b": ["fernn"],
                    "tab": ["Inside"]}
    assert len(notes) == 1 and "tiny-fernn.pt is your own checkpoint" in notes[0] and "leaves it out" in notes[0]
    rotated, none = links.shareable(params, motion="Rotate", own_marker="⬆ ")
    assert rotated["w1"] == ["90"] and "vy1" not in rotated and "path" not in rotated and len(none) == 1
    assert set(links.MOTION_KEYS) == {"Translate", "Rotate", "World"}


def test_each_shipped_model_has_one_name_that_means_it():
    """With the Table 1 trio beside the demo pair, "FERNN" is the demo's FERNN and no other."""
    from fernn.checkpoints import load_checkpoint

    pretrained = Path(__file__).resolve().parent.parent / "pretrained"
    paths = [pretrained / "fernn", pretrained / "table1" / "grnn", pretrained / "table1" / "fernn-v1",
             pretrained / "table1" / "fernn-v2", pretrained / "hidden16" / "fernn"]
    opened = visitor_checkpoints.open_checkpoints(paths, lambda path, modified, size: load_checkpoint(path))
    assert [item.name for item in opened] == ["FERNN", "G-RNN (Table 1)", "FERNN-V1 (Table 1)", "FERNN-V2 (Table 1)",
                                              "FERNN (hidden 16)"]
    alone = visitor_checkpoints.open_checkpoints([pretrained / "table1" / "fernn-v1"],
                                                 lambda path, modified, size: load_checkpoint(path))
    assert alone[0].name == "FERNN-V1 (Table 1)"  # the same name whatever else is open
