"""read_snips_split / read_snips: aligned seq.in, seq.out, label; mismatches name file and line."""
import pytest

from seqlayers.data import read_snips, read_snips_split


def make_split(folder, seq_in, seq_out, labels):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seq.in").write_text("\n".join(seq_in) + "\n")
    (folder / "seq.out").write_text("\n".join(seq_out) + "\n")
    (folder / "label").write_text("\n".join(labels) + "\n")
    return folder


def test_reads_tokens_tags_and_intent_ignoring_trailing_spaces(tmp_path):
    d = make_split(tmp_path / "train", ["play abba on spotify ", "rate it"], ["O B-artist O B-service ", "O O"],
                   ["PlayMusic", "RateBook"])
    ex = read_snips_split(d)
    assert ex[0].tokens == ["play", "abba", "on", "spotify"]
    assert ex[0].tags == ["O", "B-artist", "O", "B-service"]
    assert [e.intent for e in ex] == ["PlayMusic", "RateBook"]


def test_read_snips_reads_the_three_splits(tmp_path):
    for split in ("train", "valid", "test"):
        make_split(tmp_path / split, ["a b"], ["O O"], ["X"])
    assert {k: len(v) for k, v in read_snips(tmp_path).items()} == {"train": 1, "valid": 1, "test": 1}


def test_tag_count_mismatch_names_file_and_line(tmp_path):
    d = make_split(tmp_path, ["a b", "c d e"], ["O O", "O O"], ["X", "Y"])
    with pytest.raises(ValueError, match=r"seq\.out:2: 2 tags for the 3 tokens of seq\.in line 2"):
        read_snips_split(d)


def test_non_bio_tag_names_file_and_line(tmp_path):
    d = make_split(tmp_path, ["a b"], ["O artist"], ["X"])
    with pytest.raises(ValueError, match=r"seq\.out:1: slot tag 'artist' is not BIO"):
        read_snips_split(d)


def test_line_count_mismatch_is_reported(tmp_path):
    d = make_split(tmp_path, ["a", "b"], ["O", "O"], ["X"])
    with pytest.raises(ValueError, match=r"seq\.in 2, seq\.out 2, label 1 lines"):
        read_snips_split(d)


def test_missing_file_is_named(tmp_path):
    d = make_split(tmp_path, ["a"], ["O"], ["X"])
    (d / "label").unlink()
    with pytest.raises(FileNotFoundError, match="missing label"):
        read_snips_split(d)
