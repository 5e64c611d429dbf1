"""The engine choice of [transcript] engine, as a pure function of what the box has."""

from recorder.core.transcript.choice import MIN_MEMORY_MIB, choose_engine

MODEL = "/models/tiny.en"
PI4_1GB = 906  # MemTotal of a 1 GB Pi 4 in MiB: the firmware keeps some
ZERO_2W = 427  # MemTotal of a 512 MB Zero 2 W


def test_auto_takes_whisper_with_a_sound_model_and_enough_memory():
    for memory in (PI4_1GB, 7800, None):
        choice = choose_engine("auto", MODEL, None, memory)
        assert (choice.engine, choice.model_dir, choice.error) == ("whisper", MODEL, None)
    assert "906 MiB" in choose_engine("auto", MODEL, None, PI4_1GB).reason
    assert "memory unknown" in choose_engine("auto", MODEL, None, None).reason


def test_auto_falls_back_to_pocketsphinx_on_a_small_box_and_says_so():
    choice = choose_engine("auto", MODEL, None, ZERO_2W)
    assert (choice.engine, choice.model_dir, choice.error) == ("pocketsphinx", None, None)
    assert f"{ZERO_2W} MiB" in choice.reason and f"{MIN_MEMORY_MIB} MiB" in choice.reason
    assert choose_engine("auto", MODEL, None, MIN_MEMORY_MIB).engine == "whisper"
    assert choose_engine("auto", MODEL, None, MIN_MEMORY_MIB - 1).engine == "pocketsphinx"


def test_auto_falls_back_to_pocketsphinx_with_the_model_problem_as_reason():
    problem = "/models/tiny.en/model.bin is damaged (its sha256 is not the pinned one)"
    choice = choose_engine("auto", MODEL, problem, 7800)
    assert (choice.engine, choice.error) == ("pocketsphinx", None)
    assert problem in choice.reason
    choice = choose_engine("auto", None, None, 7800)
    assert choice.engine == "pocketsphinx" and "no whisper model" in choice.reason


def test_an_engine_named_in_the_config_is_taken_whatever_the_memory():
    choice = choose_engine("pocketsphinx", MODEL, None, 7800)
    assert (choice.engine, choice.model_dir, choice.error) == ("pocketsphinx", None, None)
    choice = choose_engine("whisper", MODEL, None, ZERO_2W)
    assert (choice.engine, choice.model_dir, choice.error) == ("whisper", MODEL, None)


def test_whisper_by_name_with_a_broken_model_is_an_error_not_a_fallback():
    problem = "[transcript] model_dir: /x/model.bin is missing"
    choice = choose_engine("whisper", "/x", problem, 7800)
    assert choice.engine == "whisper" and choice.error == problem
    assert choose_engine("whisper", None, None, 7800).error == "no whisper model on the box"
