"""read_conllu: words and tags of the syntactic words; multi-word tokens and empty nodes skipped;
malformed files fail with file:line and what is wrong."""
import pytest

from seqlayers.data import read_conllu, read_tokenized

ROW = "{id}\t{form}\t{lemma}\t{upos}\t{xpos}\t_\t0\troot\t_\t_"


def row(id, form, upos, xpos="X"):
    return ROW.format(id=id, form=form, lemma=form.lower(), upos=upos, xpos=xpos)


def write(tmp_path, text, name="s.conllu"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_words_and_upos_skipping_ranges_and_empty_nodes(tmp_path):
    text = "\n".join([
        "# sent_id = 1", "# text = I don't go",
        row(1, "I", "PRON", "PRP"),
        "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_",
        row(2, "do", "AUX", "VBP"), row(3, "n't", "PART", "RB"),
        "3.1\tgo\tgo\t_\t_\t_\t_\t_\t3:dep\t_",
        row(4, "go", "VERB", "VB"), "",
        row(1, "Hi", "INTJ", "UH"), "", "",
    ])
    sents = read_conllu(write(tmp_path, text))
    assert [s.words for s in sents] == [["I", "do", "n't", "go"], ["Hi"]]
    assert [s.tags for s in sents] == [["PRON", "AUX", "PART", "VERB"], ["INTJ"]]
    xpos = read_conllu(write(tmp_path, text), column="xpos")
    assert xpos[0].tags == ["PRP", "VBP", "RB", "VB"]


def test_last_sentence_without_trailing_blank_line_is_kept(tmp_path):
    sents = read_conllu(write(tmp_path, row(1, "a", "DET") + "\n\n" + row(1, "b", "X")))
    assert [s.words for s in sents] == [["a"], ["b"]]


def test_too_few_columns_names_file_and_line(tmp_path):
    p = write(tmp_path, "\n".join([row(1, "a", "DET"), "", "# c", row(1, "b", "X"), "2\tc\tc\tNOUN", ""]))
    with pytest.raises(ValueError, match=r"s\.conllu:5: expected 10 tab-separated CoNLL-U columns, got 4"):
        read_conllu(p)


def test_bad_id_names_file_and_line(tmp_path):
    p = write(tmp_path, "\n".join([row(1, "a", "DET"), row("x", "b", "X"), ""]))
    with pytest.raises(ValueError, match=r"s\.conllu:2: the ID column must be an integer.*got 'x'"):
        read_conllu(p)


def test_missing_tag_names_file_and_line(tmp_path):
    p = write(tmp_path, "\n".join([row(1, "a", "DET"), row(2, "b", "_"), ""]))
    with pytest.raises(ValueError, match=r"s\.conllu:2: word 'b' has no UPOS tag"):
        read_conllu(p)


def test_unknown_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="column must be one of upos, xpos, deprel, got 'lemma'"):
        read_conllu(write(tmp_path, row(1, "a", "DET")), column="lemma")


def test_read_tokenized_splits_on_whitespace_and_keeps_blank_lines(tmp_path):
    p = write(tmp_path, "The cat  sat .\n\nHi\n", "in.txt")
    assert read_tokenized(p) == [["The", "cat", "sat", "."], [], ["Hi"]]
