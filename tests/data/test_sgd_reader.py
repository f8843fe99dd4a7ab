"""read_dialogues: JSONL dialogues; act granularities; malformed lines name file and line."""
import json

import pytest

from seqlayers.data import act_label, act_type, read_dialogues


def turn(user, acts):
    return {"user": user, "user_acts": [], "system": "ok", "system_acts": acts}


def write(tmp_path, lines):
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_reads_dialogues_and_turns_with_limit(tmp_path):
    lines = [json.dumps({"dialogue_id": f"d{i}", "turns": [turn("hi", ["REQUEST(city)"]), turn("bye", ["GOODBYE"])]})
             for i in range(3)]
    ds = read_dialogues(write(tmp_path, lines), limit=2)
    assert [d.dialogue_id for d in ds] == ["d0", "d1"]
    assert [t.user for t in ds[0].turns] == ["hi", "bye"]
    assert ds[0].turns[0].system_acts == ["REQUEST(city)"]


def test_act_granularities():
    assert act_type("OFFER(city)") == "OFFER" and act_type("REQ_MORE") == "REQ_MORE"
    assert act_label("OFFER(city)", "type") == "OFFER"
    assert act_label("OFFER(city)", "act_slot") == "OFFER(city)"
    with pytest.raises(ValueError, match="granularity must be 'type' or 'act_slot', got 'slot'"):
        act_label("OFFER(city)", "slot")


def test_invalid_json_names_file_and_line(tmp_path):
    p = write(tmp_path, [json.dumps({"turns": [turn("a", [])]}), '{"turns": [', ""])
    with pytest.raises(ValueError, match=r"d\.jsonl:2: not valid JSON"):
        read_dialogues(p)


def test_missing_system_acts_names_file_and_line(tmp_path):
    p = write(tmp_path, [json.dumps({"turns": [turn("a", [])]}), json.dumps({"turns": [{"user": "x"}]})])
    with pytest.raises(ValueError, match=r"d\.jsonl:2: turn 0 needs 'system_acts'"):
        read_dialogues(p)


def test_malformed_act_names_file_and_line(tmp_path):
    p = write(tmp_path, [json.dumps({"turns": [turn("a", ["offer city"])]})])
    with pytest.raises(ValueError, match=r"d\.jsonl:1: turn 0: dialogue act 'offer city' is not TYPE or TYPE\(slot\)"):
        read_dialogues(p)


def test_line_without_turns_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"d\.jsonl:1: expected an object with a 'turns' list"):
        read_dialogues(write(tmp_path, ['{"id": 1}']))
